"""`image_build` in runs: real buildah (an image store of the session's own, a busybox base image
built locally) pushing to real docker-registry servers on 127.0.0.1, the image read back with
skopeo; then the faults, each checked where a person sees it: the step's error, its stored log,
the run's outputs. A registry per module (open, and one with basic auth) keeps the set fast."""

from __future__ import annotations

import gzip
import io
import json
import os
import tarfile
import textwrap
import time
from pathlib import Path

import pytest
from images import base_image, buildah_problem, image_store  # noqa: F401
from registry import (Registry, free_port, launch, registry_problem, skopeo_copy_to_dir,
                      skopeo_inspect, skopeo_problem)
from steps_support import config_dir, load_pipeline, log_text, make_service, steps_of  # noqa: F401

from flowplan.config.loader import load_config
from flowplan.executor.status import Status
from flowplan.executor.targets import run_targets

pytestmark = pytest.mark.skipif(
    bool(buildah_problem() or registry_problem() or skopeo_problem()),
    reason=buildah_problem() or registry_problem() or skopeo_problem() or "")

KEY = "an-operator-key-long-enough-for-tests"
USER, PASSWORD = "ci-pusher", "Pa55-word-never-shown"

DOCKERFILE = """\
ARG BASE
FROM $BASE
COPY app.txt /app/app.txt
RUN echo "built in a RUN" > /app/built.txt
"""


@pytest.fixture(scope="module")
def open_registry(tmp_path_factory):
    registry = launch(tmp_path_factory.mktemp("open-registry"))
    yield registry
    registry.stop()


@pytest.fixture(scope="module")
def auth_registry(tmp_path_factory):
    registry = launch(tmp_path_factory.mktemp("auth-registry"), users={USER: PASSWORD})
    yield registry
    registry.stop()


@pytest.fixture
def project(tmp_path) -> Path:
    directory = tmp_path / "project"
    directory.mkdir()
    (directory / "Dockerfile").write_text(DOCKERFILE)
    (directory / "app.txt").write_text("the application\n")
    return directory


def pipeline(project: Path, image_step: str, after: str = "") -> str:
    """Pipeline `app`: copy `project` into the workspace, then step `image` (HCL attributes)."""
    return (f'pipeline "app" {{\n  stage "main" {{\n    task "t" {{\n'
            f'      step "prepare" {{\n        type = "command"\n'
            f'        run  = "cp -R {project}/. ."\n      }}\n'
            f'      step "image" {{\n        type = "image_build"\n'
            f"{textwrap.indent(textwrap.dedent(image_step), '        ')}\n      }}\n"
            f"{after}    }}\n  }}\n}}\n")


def run(config_dir: Path, hcl: str, *, environ: dict[str, str] | None = None,
        variables: dict[str, str] | None = None, state: dict | None = None, **start):
    """Start pipeline `app` of `hcl` with store secrets `login` (USER:PASSWORD) and `wrong`,
    the config's provider blocks and the applied `state` (attributes by address); the
    service."""
    made = make_service(config_dir, environ={**os.environ, "FLOWPLAN_SECRET_KEY": KEY,
                                              **(environ or {})})
    made.set_secret("login", f"{USER}:{PASSWORD}", {"FLOWPLAN_SECRET_KEY": KEY})
    made.set_secret("wrong", f"{USER}:not-the-password", {"FLOWPLAN_SECRET_KEY": KEY})
    definition, values, sensitive = load_pipeline(config_dir, hcl, "app", variables)
    config = load_config(config_dir, variables or {}, environ={})
    made.targets = run_targets(state or {}, config)
    made.resources = state or {}
    made.start("app", definition, variables=values, sensitive=sensitive, **start)
    return made


def image_step(made, ref: str = "app#1"):
    return steps_of(made, ref)[("t", "image")]


def stored_log(made, ref: str = "app#1") -> str:
    return "\n".join(log_text(made, ref))


def layer_member(directory: Path, name: str) -> bytes | None:
    """The file `name` in the image skopeo copied to `directory` (the last layer that has it)."""
    manifest = json.loads((directory / "manifest.json").read_text())
    found = None
    for layer in manifest["layers"]:
        blob = (directory / layer["digest"].split(":", 1)[1]).read_bytes()
        if blob[:2] == b"\x1f\x8b":
            blob = gzip.decompress(blob)
        with tarfile.open(fileobj=io.BytesIO(blob)) as archive:
            for member in archive.getmembers():
                if member.name.lstrip("./") == name.lstrip("/") and member.isfile():
                    found = archive.extractfile(member).read()
    return found


# -- pushes --------------------------------------------------------------------------------------

def test_image_is_built_and_pushed_under_every_tag_and_read_back(
        config_dir, project, image_store, base_image, open_registry, tmp_path):
    repository = f"{open_registry.host}/team/app"
    made = run(config_dir, pipeline(project, f'''
        repository = "{repository}"
        tags       = ["build-${{run.number}}", "latest"]
        build_args = {{ BASE = "{base_image}" }}
        insecure   = true
    ''', after='''      step "use" {
        type = "command"
        run  = "echo deploying ${steps.t.image.image}"
      }
'''), commit="0123456789abcdef0123456789abcdef01234567")
    step = image_step(made)
    assert step.status == Status.SUCCEEDED, step.error
    digest = step.outputs["digest"]
    assert digest.startswith("sha256:") and len(digest) == 71
    assert step.outputs["image"] == f"{repository}@{digest}"
    assert step.outputs["tags"] == "build-1 latest"
    assert step.summary["title"].startswith(f"pushed {repository} (2 tags) sha256:")
    assert open_registry.tags("team/app") == ["build-1", "latest"]

    manifest = skopeo_inspect(f"{repository}@{digest}", raw=True)
    assert manifest["schemaVersion"] == 2 and manifest["layers"]
    config = skopeo_inspect(f"{repository}:build-1", config=True)
    labels = config["config"]["Labels"]
    assert labels["io.flowplan.run"] == "app#1"
    assert labels["org.opencontainers.image.revision"] == \
        "0123456789abcdef0123456789abcdef01234567"
    assert skopeo_inspect(f"{repository}:latest")["Digest"] == digest
    copied = skopeo_copy_to_dir(f"{repository}:build-1", tmp_path / "copied")
    assert layer_member(copied, "app/app.txt") == b"the application\n"
    assert layer_member(copied, "app/built.txt") == b"built in a RUN\n"

    log = stored_log(made)
    assert "pushing to " + repository + " (credentials: none; plain HTTP allowed)" in log
    assert "STEP 1/4: FROM" in log or "STEP 1/" in log        # buildah's own output
    assert f"deploying {repository}@{digest}" in log           # a later step reads the output


def test_push_with_credentials_from_a_store_secret_keeps_them_out_of_the_log(
        config_dir, project, image_store, base_image, auth_registry):
    repository = f"{auth_registry.host}/team/private"
    made = run(config_dir, pipeline(project, f'''
        repository  = "{repository}"
        tags        = ["v1"]
        build_args  = {{ BASE = "{base_image}" }}
        insecure    = true
        credentials = "login"
    '''))
    step = image_step(made)
    assert step.status == Status.SUCCEEDED, step.error
    assert auth_registry.tags("team/private") == ["v1"]
    log = stored_log(made)
    assert "credentials: secret login" in log
    assert PASSWORD not in log and PASSWORD not in json.dumps(step.summary)


def test_wrong_credentials_fail_with_a_clear_message_and_no_secret_in_the_log(
        config_dir, project, image_store, base_image, auth_registry):
    made = run(config_dir, pipeline(project, f'''
        repository  = "{auth_registry.host}/team/private"
        tags        = ["wrong-1"]
        build_args  = {{ BASE = "{base_image}" }}
        insecure    = true
        credentials = "wrong"
    '''))
    step = image_step(made)
    assert step.status == Status.FAILED
    assert step.error.startswith(f"cannot push to {auth_registry.host}/team/private: ")
    assert "refused the credentials of 'ci-pusher'" in step.error
    assert "STEP 1" not in stored_log(made)                  # refused before building
    everything = stored_log(made) + step.error + json.dumps(steps_of(made, "app#1")[
        ("t", "image")].summary or {})
    assert "not-the-password" not in everything and PASSWORD not in everything
    assert "wrong-1" not in auth_registry.tags("team/private")


def test_anonymous_push_to_a_registry_asking_for_credentials_fails_clearly(
        config_dir, project, image_store, base_image, auth_registry):
    made = run(config_dir, pipeline(project, f'''
        repository  = "{auth_registry.host}/team/anon"
        tags        = ["x"]
        build_args  = {{ BASE = "{base_image}" }}
        insecure    = true
    '''))
    step = image_step(made)
    assert step.status == Status.FAILED
    assert step.error.startswith(f"cannot push to {auth_registry.host}/team/anon: ")
    assert 'give `credentials = "SECRET"` or a provider "registry" block' in step.error


def test_registry_down_fails_with_a_message_naming_it(
        config_dir, project, image_store, base_image):
    host = f"127.0.0.1:{free_port()}"
    started = time.monotonic()
    made = run(config_dir, pipeline(project, f'''
        repository  = "{host}/team/app"
        tags        = ["x"]
        build_args  = {{ BASE = "{base_image}" }}
        insecure    = true
        credentials = "login"
    '''))
    step = image_step(made)
    assert step.status == Status.FAILED
    assert step.error.startswith(f"cannot push to {host}/team/app: Cannot reach registry")
    assert PASSWORD not in stored_log(made) + step.error
    assert time.monotonic() - started < 60


@pytest.fixture
def read_only_registry(tmp_path):
    """A docker-registry in read-only maintenance mode: it answers /v2/, refuses pushes."""
    import subprocess
    import urllib.request

    directory = tmp_path / "read-only-registry"
    directory.mkdir()
    port = free_port()
    (directory / "config.yml").write_text(
        "version: 0.1\nlog:\n  level: warn\nstorage:\n  filesystem:\n"
        f"    rootdirectory: {directory / 'storage'}\n  maintenance:\n    readonly:\n"
        f"      enabled: true\nhttp:\n  addr: 127.0.0.1:{port}\n")
    process = subprocess.Popen(["docker-registry", "serve", str(directory / "config.yml")],
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                               start_new_session=True)
    registry = Registry(f"127.0.0.1:{port}", directory, process)
    deadline = time.monotonic() + 20
    while True:
        try:
            urllib.request.urlopen(f"{registry.url}/v2/", timeout=2).close()
            break
        except OSError:
            assert time.monotonic() < deadline and process.poll() is None, "no registry"
            time.sleep(0.05)
    yield registry
    registry.stop()


def test_a_push_the_registry_refuses_fails_with_buildahs_answer_in_the_log(
        config_dir, project, image_store, base_image, read_only_registry):
    made = run(config_dir, pipeline(project, f'''
        repository  = "{read_only_registry.host}/team/app"
        tags        = ["ro"]
        build_args  = {{ BASE = "{base_image}" }}
        insecure    = true
        credentials = "login"
    '''))
    step = image_step(made)
    assert step.status == Status.FAILED
    assert step.error.startswith(f"pushing {read_only_registry.host}/team/app:ro failed (exit "
                                 "code ")
    assert f"check that {read_only_registry.host} is up and takes the credentials (from secret " \
        "login)" in step.error
    log = stored_log(made)
    assert "Error: pushing image" in log                        # buildah's own words
    assert PASSWORD not in log + step.error


# -- faults before buildah -----------------------------------------------------------------------

def test_missing_dockerfile_fails_before_buildah_runs(config_dir, project, image_store,
                                                      open_registry):
    made = run(config_dir, pipeline(project, f'''
        repository = "{open_registry.host}/team/app"
        dockerfile = "docker/Dockerfile.release"
        tags       = ["x"]
        insecure   = true
    '''))
    step = image_step(made)
    assert step.status == Status.FAILED
    assert step.error.startswith("dockerfile 'docker/Dockerfile.release' does not exist in "
                                 "the workspace")
    assert "STEP 1" not in stored_log(made)


def test_dockerfile_outside_the_workspace_is_refused(config_dir, project, open_registry):
    made = run(config_dir, pipeline(project, f'''
        repository = "{open_registry.host}/team/app"
        dockerfile = "../../../../../etc/passwd"
        tags       = ["x"]
    '''))
    step = image_step(made)
    assert step.status == Status.FAILED
    assert "escapes" in step.error


def test_missing_buildah_names_the_debian_package(config_dir, project, tmp_path,
                                                  open_registry):
    empty = tmp_path / "no-buildah"
    empty.mkdir()
    for program in ("cp", "bash"):
        (empty / program).symlink_to(f"/bin/{program}")
    made = run(config_dir, pipeline(project, f'''
        repository = "{open_registry.host}/team/app"
        tags       = ["x"]
    '''), environ={"PATH": str(empty)})
    step = image_step(made)
    assert step.status == Status.FAILED
    assert "buildah is not on the step's PATH" in step.error
    assert "install the Debian package buildah" in step.error


def test_tag_invalid_after_templating_fails_at_run_time(config_dir, project, open_registry):
    made = run(config_dir, pipeline(project, f'''
        repository = "{open_registry.host}/team/app"
        tags       = ["${{run.branch}}"]
    '''), branch="feature/login")
    step = image_step(made)
    assert step.status == Status.FAILED
    assert step.error.startswith("invalid attributes: tags: tag 'feature/login' is not a "
                                 "valid tag")


def test_empty_tag_after_templating_says_which_run_value_may_be_empty(config_dir, project,
                                                                      open_registry):
    made = run(config_dir, pipeline(project, f'''
        repository = "{open_registry.host}/team/app"
        tags       = ["${{run.commit_short}}"]
    '''))
    step = image_step(made)
    assert step.status == Status.FAILED
    assert "a tag is empty" in step.error and "run.commit_short" in step.error


def test_unknown_secret_fails_naming_it(config_dir, project, open_registry):
    made = run(config_dir, pipeline(project, f'''
        repository  = "{open_registry.host}/team/app"
        tags        = ["x"]
        credentials = "no-such-secret"
    '''))
    step = image_step(made)
    assert step.status == Status.FAILED
    assert step.error == ("credentials: secret 'no-such-secret' is neither a variable of the "
                          "run nor a secret in the store (flowplan secret set)")


# -- faults in buildah ---------------------------------------------------------------------------

def test_a_failing_build_leaves_buildah_output_in_the_step_log(
        config_dir, project, image_store, base_image, open_registry):
    (project / "Dockerfile").write_text(
        'ARG BASE\nFROM $BASE\nRUN echo "about to fail" && exit 7\n')
    made = run(config_dir, pipeline(project, f'''
        repository = "{open_registry.host}/team/broken"
        tags       = ["x"]
        build_args = {{ BASE = "{base_image}" }}
        insecure   = true
    '''))
    step = image_step(made)
    assert step.status == Status.FAILED
    assert step.error.startswith("buildah bud failed (exit code")
    log = stored_log(made)
    assert "about to fail" in log
    assert "exit status 7" in log or "exit code 7" in log or "exit 7" in log
    assert open_registry.tags("team/broken") == []


def sleeping(seconds: str) -> list[int]:
    """Processes running `sleep SECONDS` (a RUN of a build), by pid."""
    found = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/cmdline", "rb") as cmdline:
                    words = cmdline.read().split(b"\0")
            except OSError:
                continue
            if words[:2] == [b"sleep", seconds.encode()] or \
                    words[:2] == [b"/bin/sleep", seconds.encode()]:
                found.append(int(entry))
    return found


def gone(seconds: str, within: float = 10.0) -> bool:
    deadline = time.monotonic() + within
    while sleeping(seconds) and time.monotonic() < deadline:
        time.sleep(0.1)
    return not sleeping(seconds)


def test_cancel_stops_buildah_and_the_build_it_runs(config_dir, project, image_store,
                                                    base_image, open_registry):
    import threading

    (project / "Dockerfile").write_text('ARG BASE\nFROM $BASE\nRUN sleep 71.5\n')
    hcl = pipeline(project, f'''
        repository = "{open_registry.host}/team/canceled"
        tags       = ["x"]
        build_args = {{ BASE = "{base_image}" }}
        insecure   = true
    ''')
    runner = threading.Thread(target=run, args=(config_dir, hcl), daemon=True)
    runner.start()
    deadline = time.monotonic() + 60
    while not sleeping("71.5") and time.monotonic() < deadline:
        time.sleep(0.1)
    assert sleeping("71.5"), "the build's RUN did not start"
    other = make_service(config_dir)
    started = time.monotonic()
    other.cancel("app#1", user="alice")
    runner.join(timeout=30)
    assert not runner.is_alive()
    assert time.monotonic() - started < 15
    assert gone("71.5")
    step = image_step(other)
    assert step.status == Status.CANCELED
    assert open_registry.tags("team/canceled") == []


def test_timeout_stops_buildah(config_dir, project, image_store, base_image, open_registry):
    (project / "Dockerfile").write_text('ARG BASE\nFROM $BASE\nRUN sleep 73.5\n')
    started = time.monotonic()
    made = run(config_dir, pipeline(project, f'''
        repository = "{open_registry.host}/team/slow"
        tags       = ["x"]
        build_args = {{ BASE = "{base_image}" }}
        insecure   = true
        timeout    = "3s"
    '''))
    step = image_step(made)
    assert step.status == Status.FAILED
    assert step.error.startswith("timed out: the step's timeout of 3s ran out")
    assert time.monotonic() - started < 30
    assert gone("73.5")


# -- the provider "registry" block -----------------------------------------------------------------

REGISTRY_BLOCK = '''
variable "registry_host" {}
variable "registry_password" {
  sensitive = true
}
provider "registry" {
  url      = "http://${var.registry_host}"
  username = "%s"
  password = var.registry_password
  insecure = true
}
'''


def test_credentials_come_from_the_registry_provider_block_whose_url_names_the_host(
        config_dir, project, image_store, base_image, auth_registry):
    made = run(config_dir, REGISTRY_BLOCK % USER + pipeline(project, f'''
        repository = "${{var.registry_host}}/team/from-block"
        tags       = ["r${{run.number}}"]
        build_args = {{ BASE = "{base_image}" }}
    '''), variables={"registry_host": auth_registry.host, "registry_password": PASSWORD})
    step = image_step(made)
    assert step.status == Status.SUCCEEDED, step.error
    assert auth_registry.tags("team/from-block") == ["r1"]
    log = stored_log(made)
    assert 'credentials: provider "registry"; plain HTTP allowed' in log
    assert PASSWORD not in log


def test_registry_block_refusing_its_credentials_fails_before_building(
        config_dir, project, image_store, base_image, auth_registry):
    made = run(config_dir, REGISTRY_BLOCK % USER + pipeline(project, f'''
        repository = "${{var.registry_host}}/team/from-block"
        tags       = ["refused"]
        build_args = {{ BASE = "{base_image}" }}
    '''), variables={"registry_host": auth_registry.host, "registry_password": "guessed"})
    step = image_step(made)
    assert step.status == Status.FAILED
    assert step.error.startswith(f"cannot push to {auth_registry.host}/team/from-block: ")
    log = stored_log(made)
    assert "STEP 1" not in log                          # no build was started
    assert "guessed" not in log + step.error and PASSWORD not in log


def test_a_registry_block_for_another_host_gives_no_credentials(
        config_dir, project, image_store, base_image, auth_registry, open_registry):
    made = run(config_dir, REGISTRY_BLOCK % USER + pipeline(project, f'''
        repository = "{open_registry.host}/team/other"
        tags       = ["o1"]
        build_args = {{ BASE = "{base_image}" }}
        insecure   = true
    '''), variables={"registry_host": auth_registry.host, "registry_password": PASSWORD})
    step = image_step(made)
    assert step.status == Status.SUCCEEDED, step.error
    assert "credentials: none" in stored_log(made)
