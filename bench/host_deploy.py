"""host_deploy to many hosts (issue "Deployment groups and host_deploy", performance): one
package.tgz deployed with a checksum-verifying script to HOSTS local sshd hosts must take at most
a third of a serial `scp` + `ssh` loop, and at most 1.2x a shell starting every host's `scp` +
`ssh` at once.

    python bench/host_deploy.py [--hosts 20] [--size-mb 20] [--repeat 3]

Starts HOSTS real sshd processes on 127.0.0.1 (tests/support/sshd.py: root, Debian's
openssh-server), each its own system user, and builds package.tgz: SIZE-MB of random bytes
(`payload.bin`), its SHA256SUMS and a `deploy.sh` that checks them (`sha256sum -c`) before it
marks the release deployed. Each round measures, on hosts emptied before each way:

- (a) serial: for each host in turn, `scp` the package into its release directory, then
  `ssh HOST 'sha256sum -c (the package) && tar xzf package.tgz && ./deploy.sh'`;
- (b) all at once: the same per host, every host's pair started at once by one shell, then
  `wait`;
- (c) flowplan: a pipeline with one `host_deploy` step (`batches = 1`: every host at once) to a
  deployment group of the same hosts, applied with the engine (which pins the host keys), and
  driven in this process through the run service as `flowplan run` drives it: a new run with the
  package as its `package` artifact, from its start to its end. host_deploy uploads (SFTP,
  SHA-256 checked on the host), unpacks, runs `./deploy.sh` in the release directory and points
  `current` at it.

The baselines get their release directories made beforehand (scp cannot make them); flowplan
makes its own. The best round of each is reported, with the ratios the issue sets, and for (c)
the step's own duration and its slowest host (from the run's records). The machine's cores are
shared by every sshd, scp, ssh and flowplan alike, as they would be on a deploy server: the CPU
seconds the whole machine spent during each way (and how many cores that kept busy) say whether
a way waited or computed, and how much of (c)'s was flowplan's own process.
"""

from __future__ import annotations

import argparse
import hashlib
import os
import shutil
import statistics
import subprocess
import sys
import tarfile
import tempfile
import textwrap
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests" / "support"))
sys.path.insert(1, str(Path(__file__).resolve().parents[1]))   # tests.support.ports

from sshd import CLIENT_OPTIONS, SshdFleet, sshd_problem  # noqa: E402

PLAIN_DIR = "bench/plain"             # the baselines' release directory, in each user's home
FLOWPLAN_DIR = "bench/flowplan"       # host_deploy's download_path
DEPLOY_SH = """\
#!/bin/sh
# Checks what it was shipped with, then marks the release deployed.
set -e
sha256sum -c --quiet SHA256SUMS
date +%s.%N > deployed
"""


def make_package(work: Path, size_mb: float) -> tuple[Path, str]:
    """package.tgz (random payload, SHA256SUMS, deploy.sh) and its SHA-256."""
    content = work / "package"
    content.mkdir()
    payload = os.urandom(int(size_mb * 1024 * 1024))
    (content / "payload.bin").write_bytes(payload)
    (content / "SHA256SUMS").write_text(f"{hashlib.sha256(payload).hexdigest()}  payload.bin\n")
    (content / "deploy.sh").write_text(DEPLOY_SH)
    (content / "deploy.sh").chmod(0o755)
    package = work / "package.tgz"
    with tarfile.open(package, "w:gz", compresslevel=1) as archive:
        for name in ("payload.bin", "SHA256SUMS", "deploy.sh"):
            archive.add(content / name, arcname=name)
    return package, hashlib.sha256(package.read_bytes()).hexdigest()


def empty_homes(hosts) -> None:
    """Remove what earlier deploys left (this machine's root reaches every host's home)."""
    for host in hosts:
        shutil.rmtree(host.home / "bench", ignore_errors=True)


def make_plain_dirs(hosts) -> None:
    for host in hosts:
        subprocess.run(["install", "-d", "-o", host.user, "-g", host.user,
                        str(host.home / "bench"), str(host.home / PLAIN_DIR)], check=True)


def host_commands(host, key: Path, package: Path, digest: str) -> str:
    """One host's `scp` then `ssh`, as a shell command line."""
    options = " ".join(CLIENT_OPTIONS)
    remote = (f"cd {PLAIN_DIR} && echo '{digest}  package.tgz' | sha256sum -c --quiet && "
              "tar xzf package.tgz && ./deploy.sh")
    return (f"scp {options} -i {key} -P {host.port} {package} "
            f"{host.user}@127.0.0.1:{PLAIN_DIR}/package.tgz && "
            f"ssh {options} -i {key} -p {host.port} {host.user}@127.0.0.1 \"{remote}\"")


def shell_deploy(hosts, key: Path, package: Path, digest: str, at_once: bool) -> float:
    """(a) with at_once=False, (b) with at_once=True; seconds."""
    empty_homes(hosts)
    make_plain_dirs(hosts)
    lines = [host_commands(host, key, package, digest) for host in hosts]
    if at_once:
        script = "\n".join(f"( {line} ) &" for line in lines) + "\nfor job in $(jobs -p); " \
                 "do wait $job || exit 1; done\n"
    else:
        script = "set -e\n" + "\n".join(lines) + "\n"
    started = time.perf_counter()
    subprocess.run(["bash", "-c", script], check=True)
    elapsed = time.perf_counter() - started
    check_deployed(hosts, PLAIN_DIR)
    return elapsed


def check_deployed(hosts, directory: str) -> None:
    missing = [h.name for h in hosts if not (h.home / directory / "deployed").is_file()]
    if missing:
        raise SystemExit(f"not deployed on {', '.join(missing)}")


def flowplan_config(hosts, key: Path) -> str:
    blocks = "".join(textwrap.dedent(f"""\
          host "{host.name}" {{
            address  = "127.0.0.1"
            port     = {host.port}
            user     = "{host.user}"
            key_file = "{key}"
          }}
        """) for host in hosts)
    return textwrap.dedent("""\
        flowplan {
          state { path = ".flowplan/state.json" }
          store = "sqlite:///.flowplan/flowplan.db"
        }

        deployment_group "bench" {
          environment = "bench"
        %s}

        pipeline "deploy" {
          stage "deploy" {
            task "hosts" {
              timeout = "30m"
              step "deploy" {
                type             = "host_deploy"
                artifact         = "package"
                deployment_group = deployment_group.bench
                download_path    = "%s"
                batches          = 1
                script           = "./deploy.sh"
              }
            }
          }
        }
        """) % (textwrap.indent(blocks, "  "), FLOWPLAN_DIR)


class FlowplanDeploy:
    """(c): the config applied once (group registered, host keys pinned), then one run per
    round through the run service."""

    def __init__(self, work: Path, hosts, key: Path, package: Path, digest: str):
        from flowplan import engine

        self.hosts, self.package, self.digest = hosts, package, digest
        directory = work / "flowplan"
        directory.mkdir()
        (directory / "main.hcl").write_text(flowplan_config(hosts, key))
        _plan, result = engine.apply(engine.load(directory))
        if result is None or not result.ok:
            raise SystemExit(f"flowplan apply failed: {result}")
        self.prepared = engine.prepare_run(directory, "deploy")

    def deploy(self) -> tuple[float, float, float]:
        """Seconds of the whole run, of the step, and of its slowest host."""
        empty_homes(self.hosts)
        service, prepared = self.prepared.service, self.prepared
        started = time.perf_counter()
        run = service.create("deploy", prepared.definition, variables=prepared.variables,
                             sensitive=prepared.sensitive, origin=prepared.origin)
        service.store.put_artifact(run.id, "package", path=str(self.package),
                                   size=self.package.stat().st_size, sha256=self.digest)
        outcome = service.drive(run.ref, variables=prepared.variables,
                                sensitive=prepared.sensitive)
        elapsed = time.perf_counter() - started
        if outcome.status.value != "succeeded":
            raise SystemExit(f"{outcome.ref} {outcome.status.value}: {outcome.error}\n"
                             + "\n".join(line.text for line in service.logs(outcome.ref)))
        check_deployed(self.hosts, f"{FLOWPLAN_DIR}/current")
        (step,) = service.store.step_runs(run.id)
        hosts = service.store.deploy_hosts(run.id)
        return (elapsed, (step.finished_at - step.started_at).total_seconds(),
                max(h.seconds for h in hosts))


@contextmanager
def cpu_seconds() -> Iterator[dict[str, float]]:
    """CPU seconds spent while the block runs: by the whole machine (/proc/stat: every core's
    time not idle, whoever used it) and by this process."""
    def machine() -> float:
        with open("/proc/stat") as stat:
            times = [int(t) for t in stat.readline().split()[1:]]
        return (sum(times) - times[3] - times[4]) / os.sysconf("SC_CLK_TCK")

    used: dict[str, float] = {}
    before, mine = machine(), os.times()
    yield used
    after = os.times()
    used["machine"] = machine() - before
    used["this process"] = after.user + after.system - mine.user - mine.system


def host_deploy_installed() -> bool:
    from importlib.metadata import entry_points

    return any(e.name == "host_deploy" for e in entry_points(group="flowplan.step_types"))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--hosts", type=int, default=20)
    parser.add_argument("--size-mb", type=float, default=20)
    parser.add_argument("--repeat", type=int, default=3)
    options = parser.parse_args()
    problem = sshd_problem()
    if problem:
        sys.exit(f"cannot start sshd hosts: {problem}")
    work = Path(tempfile.mkdtemp(prefix="flowplan-deploy-bench-"))
    work.chmod(0o755)
    fleet = SshdFleet(work / "fleet", first_number=1)
    try:
        hosts = fleet.start(options.hosts)
        package, digest = make_package(work, options.size_mb)
        flowplan = FlowplanDeploy(work, hosts, fleet.client_key, package, digest) \
            if host_deploy_installed() else None
        rounds: dict[str, list[float]] = {name: [] for name in (
            "serial", "at once", "flowplan", "step", "slowest host", "serial cpu",
            "at once cpu", "flowplan cpu", "flowplan own cpu")}
        for _ in range(options.repeat):
            for name, at_once in (("serial", False), ("at once", True)):
                with cpu_seconds() as used:
                    rounds[name].append(shell_deploy(hosts, fleet.client_key, package, digest,
                                                     at_once=at_once))
                rounds[f"{name} cpu"].append(used["machine"])
            if flowplan is not None:
                with cpu_seconds() as used:
                    whole, step, slowest = flowplan.deploy()
                rounds["flowplan"].append(whole)
                rounds["step"].append(step)
                rounds["slowest host"].append(slowest)
                rounds["flowplan cpu"].append(used["machine"])
                rounds["flowplan own cpu"].append(used["this process"])
        report(options, package, rounds)
    finally:
        fleet.close()
        shutil.rmtree(work, ignore_errors=True)


def report(options, package: Path, rounds: dict[str, list[float]]) -> None:
    best = {name: min(values) for name, values in rounds.items() if values}

    def seconds(name: str) -> str:
        listed = ", ".join(f"{v:.2f}" for v in rounds[name])
        median = statistics.median(rounds[name])
        return f"{best[name]:6.2f} s (rounds: {listed}; median {median:.2f})"

    print(f"{options.hosts} hosts, package.tgz {package.stat().st_size / 1e6:.1f} MB, "
          f"checked and unpacked by deploy.sh (best of {options.repeat}; nproc {os.cpu_count()}, "
          f"load {os.getloadavg()[0]:.1f}):")
    print(f"  (a) serial scp + ssh           {seconds('serial')}")
    print(f"  (b) scp + ssh all at once      {seconds('at once')}")
    cpu = {name: statistics.median(rounds[f"{name} cpu"]) for name in ("serial", "at once")}
    if "flowplan" not in best:
        print("  (c) flowplan host_deploy       not measured: the host_deploy step type is not "
              "installed")
        print_cpu(rounds, cpu)
        return
    print(f"  (c) flowplan host_deploy       {seconds('flowplan')}")
    print(f"      of which the step          {best['step']:6.2f} s; slowest host "
          f"{best['slowest host']:.2f} s")
    print(f"  (a) / (c) = {best['serial'] / best['flowplan']:.2f}x faster than serial "
          f"(target >= 3x)")
    print(f"  (c) / (b) = {best['flowplan'] / best['at once']:.2f}x all at once "
          f"(target <= 1.2x)")
    cpu["flowplan"] = statistics.median(rounds["flowplan cpu"])
    print_cpu(rounds, cpu)
    print(f"      of which flowplan's own process "
          f"{statistics.median(rounds['flowplan own cpu']):.1f} cpu-s")


def print_cpu(rounds: dict[str, list[float]], cpu: dict[str, float]) -> None:
    """Median CPU seconds the machine spent per way, and how many cores that kept busy."""
    print("  CPU, whole machine (median):  " + "; ".join(
        f"{name} {used:.1f} cpu-s = {used / statistics.median(rounds[name]):.2f} cores"
        for name, used in cpu.items()))


if __name__ == "__main__":
    main()
