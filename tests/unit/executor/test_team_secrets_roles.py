"""Secrets and roles in runs of two teams sharing one store: a run of team blue cannot read team
default's secret (it fails as for a secret that does not exist, naming no other team), and a
role granted in team default lets nobody approve blue's runs."""

from __future__ import annotations

import pytest

from conftest import approval, command, load_pipeline, make_service, pipeline, stage, task

from flowplan.executor.errors import ApprovalRefused
from flowplan.executor.service import RunService
from flowplan.executor.status import Status
from test_variables_secrets import make_repository, source_hcl

SECRET = "default-only-s3cr3t"
KEY = "a-long-operator-passphrase"


@pytest.fixture
def services(config_dir, monkeypatch):
    """The run services of team default and team blue over one store."""
    monkeypatch.setenv("FLOWPLAN_SECRET_KEY", KEY)
    default = make_service(config_dir)
    blue = RunService(default.store.for_team("blue"), default.settings)
    yield default, blue
    default.store.close()


def test_a_run_of_another_team_fails_on_a_teams_secret_as_on_a_missing_one(
        services, config_dir, tmp_path):
    default, blue = services
    default.set_secret("git_token", SECRET)
    repo = make_repository(tmp_path / "repo")
    reads_it, _values, _sensitive = load_pipeline(config_dir, source_hcl(repo, "git_token"),
                                                  "app")
    outcome = blue.start("app", reads_it)
    assert outcome.status == Status.FAILED
    missing, _values, _sensitive = load_pipeline(config_dir, source_hcl(repo, "nothing"), "app")
    absent = blue.start("app", missing)
    assert absent.status == Status.FAILED
    assert "neither a variable of the run nor a secret in the store" in outcome.error
    assert outcome.error.replace("git_token", "NAME") == absent.error.replace("nothing", "NAME")
    assert "default" not in outcome.error and SECRET not in outcome.error

    own = default.start("app", reads_it)                        # its own team reads it
    assert own.status == Status.SUCCEEDED, own.error


def test_a_secret_of_the_same_name_in_each_team_is_opened_in_each_teams_runs(
        services, config_dir, tmp_path):
    default, blue = services
    blue.set_secret("git_token", "blue-s3cr3t")
    default.set_secret("git_token", SECRET)
    repo = make_repository(tmp_path / "repo")
    definition, _values, _sensitive = load_pipeline(config_dir, source_hcl(repo, "git_token"),
                                                    "app")
    assert blue.start("app", definition).status == Status.SUCCEEDED
    assert default.store.get_secret_token("git_token") != blue.store.get_secret_token(
        "git_token")


def test_a_role_granted_in_another_team_lets_nobody_approve_here(services, tmp_path):
    default, blue = services
    default.store.grant_role("ops", "carol")
    gated = pipeline({"release": stage({"deploy": task(
        ("ok", approval(roles=["ops"])), ("go", command("true")))})})
    assert blue.start("app", gated).status == Status.WAITING
    with pytest.raises(ApprovalRefused) as refused:
        blue.approve("app#1", "carol")
    assert "carol may not approve app#1" in str(refused.value)
    assert "(carol)" not in str(refused.value)                 # default's members not named
    assert blue.store.approvals(blue.get("app#1").id) == []
    blue.store.grant_role("ops", "carol")
    assert blue.approve("app#1", "carol").status == Status.SUCCEEDED
