"""What the java-ecs walkthrough's tests share: a copy of examples/java-ecs, the machines its
deploy reaches (two sshd hosts of the session's fleet, an ECS emulator with its two instances),
the variables that point the config at them, the greeter's jar built without Maven, and stopping
every greeter a test started.

    example = copy_example(tmp_path)
    make_greeter_repository(example)
    hosts = ssh_fleet.start(2)
    with ecs_emulator(tmp_path / "ecs") as ecs:
        env = walkthrough_env(free_ports(4), **machine_variables(example, hosts, ecs))
        ...
    stop_greeters(hosts, ecs_root)

and the helpers their checks share: `flowplan(example, env, *args)` (the command in a
subprocess, failing on a traceback), `get(port, path)` and `port_is_closed(port)`.
"""

from __future__ import annotations

import os
import pwd
import re
import shutil
import signal
import socket
import subprocess
import urllib.request
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

from cli_workspace import REPO, flowplan_command

EXAMPLE = REPO / "examples" / "java-ecs"
ACCESS_KEY, SECRET_KEY = "LTAI-walkthrough-test", "walkthrough-test-secret"
INSTANCES = ("i-greeter1", "i-greeter2")
DOWNLOAD_PATH = "greeter"             # the deploy steps' download_path, in each host's home


def copy_example(tmp_path: Path, artifact_port: int | None = None) -> Path:
    """examples/java-ecs without what a run there left (.flowplan/, target/, sshd.auto.fpvars);
    `artifact_port` moves its artifact_url to that port."""
    example = tmp_path / "java-ecs"
    shutil.copytree(EXAMPLE, example, ignore=shutil.ignore_patterns(".flowplan", "target",
                                                                    "*.auto.fpvars"))
    if artifact_port is not None:
        config = example / "flowplan.hcl"
        text, count = re.subn(r'artifact_url = "http://127\.0\.0\.1:\d+"',
                              f'artifact_url = "http://127.0.0.1:{artifact_port}"',
                              config.read_text())
        assert count == 1, "examples/java-ecs/flowplan.hcl has no artifact_url to move"
        config.write_text(text)
    return example


def make_greeter_repository(example: Path) -> None:
    """What run.sh does first: app/ committed on master in .flowplan/greeter.git."""
    work = example / ".flowplan" / "greeter-work"
    shutil.copytree(example / "app", work)
    identity = ["-c", "user.name=e2e", "-c", "user.email=e2e@example.invalid"]
    for args in (["init", "-q", "-b", "master"], ["add", "."],
                 [*identity, "commit", "-q", "-m", "The greeter service"]):
        subprocess.run(["git", "-C", str(work), *args], check=True, capture_output=True)
    subprocess.run(["git", "clone", "-q", "--bare", str(work),
                    str(example / ".flowplan" / "greeter.git")], check=True, capture_output=True)
    shutil.rmtree(work)


def build_jar(example: Path, into: Path) -> Path:
    """greeter-1.0.jar from app/src/main/java with javac and jar, as `mvn package` makes it
    (Main-Class in the manifest), in seconds rather than Maven's tens of seconds."""
    classes = into / "classes"
    sources = sorted(str(p) for p in (example / "app" / "src" / "main" / "java").rglob("*.java"))
    subprocess.run(["javac", "--release", "17", "-d", str(classes), *sources], check=True,
                   capture_output=True)
    jar = into / "greeter-1.0.jar"
    subprocess.run(["jar", "--create", "--file", str(jar), "--main-class",
                    "com.example.greeter.Main", "-C", str(classes), "."], check=True,
                   capture_output=True)
    return jar


def without_maven(example: Path, jar: Path) -> None:
    """Swap the config's test and build stages for one that packages a jar built already (the
    same package.tgz: target/greeter-1.0.jar and deploy.sh); the deploy stages stay as they
    are."""
    config = example / "flowplan.hcl"
    text = config.read_text()
    start, end = text.find('  stage "test" {'), text.find('  stage "deploy" {')
    assert 0 < start < end, "examples/java-ecs/flowplan.hcl: no stage test before stage deploy"
    build = f'''  stage "build" {{
    task "package" {{
      step "jar" {{
        type = "command"
        run  = "mkdir -p target && cp {jar} target/"
      }}
      step "archive" {{
        type  = "archive"
        name  = "package"
        paths = ["target/*.jar", "deploy.sh"]
      }}
    }}
  }}

'''
    config.write_text(text[:start] + build + text[end:])


def free_ports(count: int) -> int:
    """The first of `count` consecutive ports that are free now."""
    for _attempt in range(50):
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            first = probe.getsockname()[1]
        if first + count > 65535:
            continue
        if all(port_is_free(first + n) for n in range(count)):
            return first
    raise RuntimeError(f"no {count} consecutive free ports")


def port_is_free(port: int) -> bool:
    with socket.socket() as probe:
        try:
            probe.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


@contextmanager
def ecs_emulator(root: Path) -> Iterator[object]:
    """The ECS emulator with the walkthrough's two instances, their homes under `root`."""
    from tests.emulators.aliyun import EcsEmulator, Instance

    instances = [Instance(i, "cn-hangzhou", "127.0.0.1", {"app": "greeter"}) for i in INSTANCES]
    with EcsEmulator({ACCESS_KEY: SECRET_KEY}, instances, root=root) as emulator:
        yield emulator


def machine_variables(example: Path, hosts, ecs=None) -> dict[str, str]:
    """Writes the example's sshd.auto.fpvars for `hosts` (as `python -m tests.support.sshd
    start` does); returns the FP_VAR_ environment for the ECS emulator."""
    from sshd import fpvars_text

    listed = [{"label": f"web{n}", "port": h.port, "user": h.user}
              for n, h in enumerate(hosts, start=1)]
    (example / "sshd.auto.fpvars").write_text(fpvars_text(listed, hosts[0].client_key))
    found = {"FP_VAR_alicloud_access_key": ACCESS_KEY,
             "FP_VAR_alicloud_secret_key": SECRET_KEY}
    if ecs is not None:
        found["FP_VAR_ecs_port"] = str(ecs.port)
    return found


def walkthrough_env(port: int, **extra: str) -> dict[str, str]:
    """This environment without flowplan settings, with the `flowplan` in use first on PATH and
    the services' first port set."""
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("FP_VAR_", "FLOWPLAN_", "GREETER_"))}
    flowplan = shutil.which("flowplan")
    assert flowplan, "the walkthrough needs the flowplan command on PATH (pip install -e .)"
    env["PATH"] = os.pathsep.join([str(Path(flowplan).parent), env.get("PATH", "")])
    env["NO_COLOR"] = "1"
    env["FP_VAR_port"] = str(port)
    env.update(extra)
    return env


def stop_greeters(hosts=(), ecs_root: Path | None = None) -> None:
    """SIGKILL the greeters deployed on `hosts` (sshd fleet hosts) and on the emulated
    instances under `ecs_root`, by their pid files; whatever else the hosts' users run too."""
    from sshd import kill_processes_of

    apps = [host.home / DOWNLOAD_PATH for host in hosts]
    if ecs_root is not None:
        apps += [ecs_root / instance / DOWNLOAD_PATH for instance in INSTANCES]
    for app in apps:
        pid_file = app / "greeter.pid"
        pid = int(pid_file.read_text().strip() or 0) if pid_file.exists() else 0
        try:
            if pid and b"greeter" in Path(f"/proc/{pid}/cmdline").read_bytes():
                os.kill(pid, signal.SIGKILL)
        except (OSError, ProcessLookupError):
            pass
    for host in hosts:
        kill_processes_of(pwd.getpwnam(host.user).pw_uid)


def flowplan(example: Path, env: dict[str, str], *args: str,
             timeout: float = 120) -> subprocess.CompletedProcess[str]:
    """`flowplan -C EXAMPLE ARGS`; fails on a Python traceback."""
    completed = subprocess.run([*flowplan_command(), "-C", str(example), *args], env=env,
                               capture_output=True, text=True, timeout=timeout,
                               stdin=subprocess.DEVNULL)
    assert "Traceback" not in completed.stderr, completed.stderr
    return completed


def get(port: int, path: str) -> tuple[int, str]:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=10) as response:
        return response.status, response.read().decode()


def port_is_closed(port: int) -> bool:
    with socket.socket() as probe:
        probe.settimeout(2)
        return probe.connect_ex(("127.0.0.1", port)) != 0
