"""`image_build` pushing to an `acr_repository`: the repository is applied for real through the
alicloud provider against the Alibaba Cloud emulator (tests/emulators/aliyun), which reports a
real local docker-registry as the instance's registry domain and hands out a temporary login
that the registry's htpasswd accepts. The pipeline then runs as `flowplan run` runs it
(engine.prepare_run: the applied definition, the state, the provider blocks), so the step finds
the repository in the state, logs in through GetAuthorizationToken and pushes for real; with
`tag_immutability = true`, a tag the repository already has fails the step before it builds."""

from __future__ import annotations

import os
import textwrap

import pytest
from images import base_image, buildah_problem, image_store  # noqa: F401
from inline import apply_all, inline_config
from registry import launch, registry_problem, skopeo_inspect, skopeo_problem

import aliyun_fixtures as fx
from flowplan import engine
from flowplan.executor.status import Status

pytestmark = pytest.mark.skipif(
    bool(buildah_problem() or registry_problem() or skopeo_problem()),
    reason=buildah_problem() or registry_problem() or skopeo_problem() or "")

try:
    from flowplan_providers.alicloud import AlicloudProvider
    from flowplan_providers.alicloud.ecs import Backoff
except ImportError as missing:            # branch `acr` not merged: the provider is not there
    pytest.skip(f"the alicloud provider with Container Registry is not installed ({missing})",
                allow_module_level=True)

INSTANCE = "cri-images01"
ACR_USER, ACR_TOKEN = "cr_temp_user", "acr-temporary-token-must-not-leak"


@pytest.fixture(scope="module")
def acr_registry(tmp_path_factory):
    """The docker-registry standing for the ACR instance's registry domain."""
    registry = launch(tmp_path_factory.mktemp("acr-registry"), users={ACR_USER: ACR_TOKEN})
    yield registry
    registry.stop()


@pytest.fixture
def aliyun(acr_registry):
    with fx.registry_emulator(instance_id=INSTANCE, domain=acr_registry.host,
                              username=ACR_USER, password=ACR_TOKEN) as emulator:
        yield emulator


def config(endpoint: str, project, base: str, tags: str) -> str:
    return fx.provider_block(endpoint) + textwrap.dedent(f'''
        acr_namespace "team" {{
          name        = "team"
          instance_id = "{INSTANCE}"
        }}
        acr_repository "app" {{
          namespace        = acr_namespace.team.name
          name             = "app"
          instance_id      = "{INSTANCE}"
          tag_immutability = true
        }}
        pipeline "app" {{
          stage "main" {{
            task "t" {{
              step "prepare" {{
                type = "command"
                run  = "cp -R {project}/. ."
              }}
              step "image" {{
                type       = "image_build"
                repository = acr_repository.app
                tags       = {tags}
                build_args = {{ BASE = "{base}" }}
                insecure   = true
              }}
            }}
          }}
        }}
        ''')


def applied(tmp_path, aliyun, base: str, tags: str):
    project = tmp_path / "project"
    project.mkdir(exist_ok=True)
    (project / "Dockerfile").write_text("ARG BASE\nFROM $BASE\nCOPY app.txt /app/app.txt\n")
    (project / "app.txt").write_text("from acr\n")
    provider = AlicloudProvider()
    provider.backoff = Backoff(attempts=2, sleep=lambda seconds: None)
    directory = tmp_path / "config"
    workspace = inline_config(directory, config(aliyun.endpoint, project, base, tags),
                              fx.keys(), providers={"alicloud": provider})
    apply_all(workspace)
    return directory


def run_pipeline(directory):
    """Run pipeline `app` as `flowplan run` does; (service, the image step's record)."""
    environ = {**os.environ, "FP_VAR_alicloud_access_key": fx.ACCESS_KEY,
               "FP_VAR_alicloud_secret_key": fx.SECRET_KEY}
    prepared = engine.prepare_run(directory, "app", environ=environ)
    outcome = prepared.service.start(prepared.pipeline, prepared.definition,
                                     variables=prepared.variables,
                                     sensitive=prepared.sensitive, origin=prepared.origin)
    run = prepared.service.get(outcome.run)
    step = next(s for s in prepared.service.store.step_runs(run.id, latest=True)
                if s.step == "image")
    log = "\n".join(line.text for line in prepared.service.logs(outcome.run))
    return step, log


def test_image_is_pushed_to_the_applied_acr_repository_with_a_temporary_login(
        tmp_path, aliyun, acr_registry, image_store, base_image):
    directory = applied(tmp_path, aliyun, base_image, '["r${run.number}"]')
    step, log = run_pipeline(directory)
    assert step.status == Status.SUCCEEDED, step.error
    repository = f"{acr_registry.host}/team/app"
    assert step.outputs["image"] == f"{repository}@{step.outputs['digest']}"
    assert acr_registry.tags("team/app") == ["r1"]
    labels = skopeo_inspect(f"{repository}:r1", config=True,
                            credentials=(ACR_USER, ACR_TOKEN))["config"]["Labels"]
    assert labels["io.flowplan.run"] == "app#1"
    assert 'credentials: provider "alicloud" (a temporary registry login)' in log
    for secret in (ACR_TOKEN, fx.SECRET_KEY):
        assert secret not in log and secret not in (step.error or "")
    stored = [path for path in directory.joinpath(".flowplan").rglob("*") if path.is_file()]
    assert any(path.name == "state.json" for path in stored)
    for path in stored:                         # state, store, logs, workspaces, scratch
        assert ACR_TOKEN.encode() not in path.read_bytes(), path


def test_an_immutable_tag_the_repository_has_fails_before_building(
        tmp_path, aliyun, acr_registry, image_store, base_image):
    directory = applied(tmp_path, aliyun, base_image, '["stable"]')
    first, _ = run_pipeline(directory)
    assert first.status == Status.SUCCEEDED, first.error
    pushed = first.outputs["digest"]

    second, log = run_pipeline(directory)
    assert second.status == Status.FAILED
    assert second.error == (
        f"tag 'stable' already exists in {acr_registry.host}/team/app ({pushed}) and the "
        "repository's tags are immutable (tag_immutability = true): use a tag that changes on "
        "every run, such as ${run.number}")
    assert "STEP 1" not in log.split("pushing to", 1)[-1]     # no build after the check
    assert ACR_TOKEN not in log + second.error


def test_wrong_alicloud_keys_fail_the_login_with_a_clear_message(
        tmp_path, aliyun, acr_registry, image_store, base_image):
    directory = applied(tmp_path, aliyun, base_image, '["k1"]')
    environ = {**os.environ, "FP_VAR_alicloud_access_key": fx.ACCESS_KEY,
               "FP_VAR_alicloud_secret_key": "not-the-secret-key"}
    prepared = engine.prepare_run(directory, "app", environ=environ)
    outcome = prepared.service.start(prepared.pipeline, prepared.definition,
                                     variables=prepared.variables,
                                     sensitive=prepared.sensitive, origin=prepared.origin)
    run = prepared.service.get(outcome.run)
    step = next(s for s in prepared.service.store.step_runs(run.id, latest=True)
                if s.step == "image")
    assert step.status == Status.FAILED
    assert step.error.startswith("acr_repository.app: logging in to its registry failed: ")
    assert "refused the credentials" in step.error and "secret_key" in step.error
    log = "\n".join(line.text for line in prepared.service.logs(outcome.run))
    assert "not-the-secret-key" not in log + step.error
    assert "k1" not in acr_registry.tags("team/app")
