"""SSH deploy throughput (issue "Deployment groups and host_deploy", performance): one artifact
deployed to many local sshd hosts at once must take at most 1.2x a shell starting every host's
`scp` + `ssh` at once.

    python bench/ssh_upload.py [--hosts 20] [--size-mb 20] [--repeat 3]

Starts HOSTS real sshd processes on 127.0.0.1 (tests/support/sshd.py: root, Debian's
openssh-server), each with its own system user, and measures, best of REPEAT, from nothing
connected to every host done:

- `scp`: a shell starting one `scp` per host at once, then `wait` (and the same with
  AES-GCM, the cipher the transport asks for first, where OpenSSH picks chacha20-poly1305);
- `upload`: SshTransport (one event loop for all hosts), a thread per host calling
  `connect` + `upload`, which writes over SFTP and checks the file with `sha256sum` on the host;
- `scp + ssh`: each host's `scp`, then `ssh HOST sha256sum FILE` (the same check), all at once;
- `upload + run`: `upload`, then `run` of `sha256sum FILE` on the host.

The ratio the issue sets is `upload + run` against `scp + ssh`. The machine's cores are shared
by every sshd, scp and the transport alike, as they would be on a deploy server.
"""

from __future__ import annotations

import argparse
import hashlib
import os
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests" / "support"))
sys.path.insert(1, str(Path(__file__).resolve().parents[1]))   # tests.support.ports

from sshd import CLIENT_OPTIONS, SshdFleet, sshd_problem  # noqa: E402


def shell_loop(hosts, key: Path, artifact: Path, remote: str, check: bool,
               cipher: str | None = None) -> float:
    lines = []
    chosen = f"-c {cipher} " if cipher else ""
    for host in hosts:
        copy = (f"scp {' '.join(CLIENT_OPTIONS)} {chosen}-i {key} -P {host.port} {artifact} "
                f"{host.user}@127.0.0.1:{remote}")
        if check:
            copy += (f" && ssh {' '.join(CLIENT_OPTIONS)} -i {key} -p {host.port} "
                     f"{host.user}@127.0.0.1 sha256sum {remote} >/dev/null")
        lines.append(f"( {copy} ) &")
    script = "\n".join(lines) + "\nwait\n"
    started = time.perf_counter()
    subprocess.run(["bash", "-c", script], check=True)
    return time.perf_counter() - started


def with_transport(hosts, artifact: Path, digest: str, remote: str, check: bool) -> float:
    from flowplan_providers.ssh import SshTransport

    failures: list[BaseException] = []
    transport = SshTransport()

    def deploy(host) -> None:
        try:
            session = transport.connect(host.target())
            session.upload(artifact, remote, digest)
            if check:
                code = session.run(f"sha256sum {remote}", env={}, on_output=lambda *_: None,
                                   timeout=120, cancel=threading.Event())
                assert code == 0
            session.close()
        except BaseException as error:     # noqa: BLE001 - reported after the round
            failures.append(error)

    threads = [threading.Thread(target=deploy, args=(host,)) for host in hosts]
    started = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    elapsed = time.perf_counter() - started
    transport.close()
    if failures:
        raise failures[0]
    return elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--hosts", type=int, default=20)
    parser.add_argument("--size-mb", type=float, default=20)
    parser.add_argument("--repeat", type=int, default=3)
    options = parser.parse_args()
    problem = sshd_problem()
    if problem:
        sys.exit(f"cannot start sshd hosts: {problem}")
    work = Path(tempfile.mkdtemp(prefix="flowplan-ssh-bench-"))
    fleet = SshdFleet(work / "fleet")
    try:
        hosts = fleet.start(options.hosts)
        artifact = work / "package.tgz"
        artifact.write_bytes(os.urandom(int(options.size_mb * 1024 * 1024)))
        digest = hashlib.sha256(artifact.read_bytes()).hexdigest()
        best: dict[str, float] = {}
        for round_number in range(options.repeat):
            remote = f"bench/package-{round_number}.tgz"
            for host in hosts:       # the directory exists for scp, as the transport makes it
                subprocess.run(["install", "-d", "-o", host.user, "-g", host.user,
                                str(host.home / "bench")], check=True)
            figures = {
                "scp": shell_loop(hosts, fleet.client_key, artifact, remote + ".scp", False),
                "scp aes": shell_loop(hosts, fleet.client_key, artifact, remote + ".scpa", False,
                                      "aes128-gcm@openssh.com"),
                "upload": with_transport(hosts, artifact, digest, remote + ".up", False),
                "scp + ssh": shell_loop(hosts, fleet.client_key, artifact, remote + ".scps",
                                        True),
                "upload + run": with_transport(hosts, artifact, digest, remote + ".upr", True),
            }
            for name, seconds in figures.items():
                best[name] = min(best.get(name, seconds), seconds)
        print(f"{options.hosts} hosts, {options.size_mb:g} MB each, all at once "
              f"(best of {options.repeat}):")
        print(f"  scp                         {best['scp']:6.2f} s")
        print(f"  scp -c aes128-gcm           {best['scp aes']:6.2f} s (the transport's first "
              "cipher)")
        print(f"  upload (sha256 checked)     {best['upload']:6.2f} s = "
              f"{best['upload'] / best['scp']:.2f}x scp")
        print(f"  scp + ssh sha256sum         {best['scp + ssh']:6.2f} s")
        print(f"  upload + run sha256sum      {best['upload + run']:6.2f} s = "
              f"{best['upload + run'] / best['scp + ssh']:.2f}x scp + ssh (target <= 1.2x)")
    finally:
        fleet.close()
        subprocess.run(["rm", "-rf", str(work)], check=False)


if __name__ == "__main__":
    main()
