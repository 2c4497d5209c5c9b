"""Helpers and fixtures for the host_deploy tests, imported by name into the test modules (this
directory has no conftest.py, for the reason tests/unit/steps/steps_support.py gives).

A test writes a config (`deploy_config`) with a `deployment_group "web"` of real sshd hosts (the
session's shared `ssh_hosts`, or a `fresh_host` of its own) and `connection = "local"` hosts
(system users of the session, `local_users`), and a pipeline `app` whose `build` stage archives
a small `package` and whose `deploy` stage runs `host_deploy`; `applied` applies it in-process
(pinning the host keys) and returns the run service `flowplan run` would use, with short poll
times. Each test deploys under a `download_path` of its own (`deploy_dir`), so the shared hosts
never see another test's releases.
"""

from __future__ import annotations

import dataclasses
import os
import pwd
import secrets
import textwrap
from pathlib import Path

import pytest

from flowplan import engine
from flowplan.executor.status import Status
from inline import apply_all, close_providers, inline_config


_LOCAL_USERS: dict[str, list[str]] = {}


@pytest.fixture(scope="session")
def local_users(ssh_fleet):
    """Two system users for `connection = "local"` hosts (made and removed by the fleet). Each
    module importing this fixture has its own copy of it, so the users are made once per fleet
    here."""
    if ssh_fleet.token not in _LOCAL_USERS:
        _LOCAL_USERS[ssh_fleet.token] = [
            ssh_fleet.add_user(f"fplocal{ssh_fleet.token}{n}", authorized=False)
            for n in range(2)]
    return _LOCAL_USERS[ssh_fleet.token]


@pytest.fixture
def deploy_dir():
    """A download_path of this test's own, relative to each host user's home."""
    return f"deploys/{secrets.token_hex(4)}"


@pytest.fixture(autouse=True)
def _close_providers():
    yield
    close_providers()


def home_of(user: str) -> Path:
    return Path(pwd.getpwnam(user).pw_dir)


def ssh_host(host, name: str | None = None, **extra) -> str:
    lines = [f'  host "{name or host.name}" {{', '    address  = "127.0.0.1"',
             f"    port     = {host.port}", f'    user     = "{host.user}"',
             f'    key_file = "{host.client_key}"']
    lines += [f"    {key} = {value}" for key, value in extra.items()]
    return "\n".join(lines + ["  }"])


def local_host(name: str, user: str, **extra) -> str:
    lines = [f'  host "{name}" {{', '    connection = "local"', f'    user       = "{user}"']
    lines += [f"    {key} = {value}" for key, value in extra.items()]
    return "\n".join(lines + ["  }"])


SCRIPT = """\
echo "deploying $FLOWPLAN_RELEASE_DIR on $FLOWPLAN_HOST, batch $FLOWPLAN_BATCH"
cat dist/version
"""


def deploy_config(hosts: list[str], *, download_path: str, script: str = SCRIPT,
                  settings: str = "", extra: str = "", files: str = 'echo "v${run.number}"',
                  artifact: str = "package", variables: dict | None = None,
                  **step: object) -> str:
    """HCL: a flowplan block, group `web` with `hosts`, pipeline `app` (build: a `version` file
    archived as `package`; deploy: host_deploy with `step`'s attributes)."""
    attributes = "\n".join(f"      {key} = {_hcl(value)}" for key, value in step.items())
    group = "\n".join(hosts)
    return textwrap.dedent(f"""\
flowplan {{
{settings}
}}

deployment_group "web" {{
  environment = "test"
{group}
}}
{extra}
pipeline "app" {{
  variables = {_hcl(variables or {})}
  stage "build" {{
    task "package" {{
      step "files" {{
        type = "command"
        run  = <<-EOT
          mkdir -p dist
          {files} > dist/version
        EOT
      }}
      step "archive" {{
        type  = "archive"
        name  = "package"
        paths = ["dist"]
      }}
    }}
  }}
  stage "deploy" {{
    task "hosts" {{
      step "deploy" {{
        type             = "host_deploy"
        artifact         = "{artifact}"
        deployment_group = deployment_group.web
        download_path    = "{download_path}"
        script           = <<-EOT
{textwrap.indent(script, "          ")}
        EOT
{attributes}
      }}
    }}
  }}
}}
""")


def _hcl(value: object) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, dict):
        return "{ " + ", ".join(f"{k} = {_hcl(v)}" for k, v in value.items()) + " }" \
            if value else "{}"
    if isinstance(value, str) and value.startswith(("var.", "deployment_group.")):
        return value
    return '"' + str(value).replace("\\", "\\\\").replace('"', '\\"') + '"'


def applied(directory: Path, hcl: str, variables: dict | None = None):
    """Apply `hcl` in-process; the run service `flowplan run` would get (short poll times)."""
    workspace = inline_config(directory, hcl, variables=variables)
    apply_all(workspace)
    service = engine.open_run_service(directory, workspace.config)
    service.settings = dataclasses.replace(service.settings, kill_grace=0.5,
                                           poll_interval=0.05, log_flush_interval=0.05)
    return service


def start(service, variables: dict | None = None):
    definition = service.store.get_pipeline("app").definition
    return service.start("app", definition, user="ci", variables=variables,
                         sensitive=set(variables or ()))


def hosts_of(service, ref: str) -> dict[str, object]:
    """The newest deploy record of each host in the run."""
    run = service.get(ref)
    found = {}
    for record in service.store.deploy_hosts(run.id):
        found[record.host] = record
    return found


def host_rows(service, ref: str) -> list[tuple[str, int, str]]:
    """(host, batch, status) of the newest step run's records."""
    run = service.get(ref)
    records = service.store.deploy_hosts(run.id)
    newest = max(r.step_run_id for r in records)
    return [(r.host, r.batch, r.status) for r in records if r.step_run_id == newest]


def deploy_log(service, ref: str) -> list[str]:
    return [line.text for line in service.logs(ref, task="hosts", step="deploy")]


def deploy_step(service, ref: str):
    run = service.get(ref)
    return next(s for s in service.store.step_runs(run.id, latest=True) if s.step == "deploy")


def current_of(home: Path, download_path: str) -> Path | None:
    link = home / download_path / "current"
    return Path(os.readlink(link)) if link.is_symlink() else None


def releases_of(home: Path, download_path: str) -> list[str]:
    releases = home / download_path / "releases"
    return sorted(p.name for p in releases.iterdir()) if releases.is_dir() else []


__all__ = ["Status", "applied", "current_of", "deploy_config", "deploy_dir", "deploy_log",
           "deploy_step", "home_of", "host_rows", "hosts_of", "local_host", "local_users",
           "releases_of", "ssh_host", "start"]
