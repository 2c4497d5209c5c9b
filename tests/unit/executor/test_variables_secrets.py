"""Variables and secrets in runs defined in HCL: run-time values, step outputs, shell quoting of
untrusted values, masking, and no plaintext secret anywhere under .flowplan/."""

from __future__ import annotations

import subprocess

import pytest

from conftest import load_pipeline, log_text, make_service, steps_of

from flowplan.executor.errors import RunServiceError
from flowplan.executor.secrets import SecretBox, SecretKeyMismatch
from flowplan.executor.status import Status
from flowplan.values import Sensitive

SECRET = "s3cr3t-Tok3n-0042"

HCL = """
variable "token" {
  sensitive = true
}
variable "region" {
  default = "cn-hangzhou"
}
pipeline "app" {
  variables = {
    TOKEN  = var.token
    REGION = var.region
  }
  stage "build" {
    task "compile" {
      step "show" {
        type = "command"
        run  = "echo token=$TOKEN region=$REGION; echo inline=${var.token}; echo run=${run.number}"
      }
      step "version" {
        type = "command"
        run  = "echo VERSION=1.${run.number}.0 >> $FLOWPLAN_OUTPUT"
      }
      step "use" {
        type = "command"
        run  = "echo built ${steps.compile.version.VERSION} on ${run.branch}"
      }
    }
  }
}
"""


@pytest.fixture
def hcl_run(service, config_dir):
    definition, variables, sensitive = load_pipeline(config_dir, HCL, "app",
                                                     {"token": SECRET})
    assert "token" in sensitive
    return service, definition, variables, sensitive


def test_run_time_values_and_step_outputs_reach_later_steps(hcl_run):
    service, definition, variables, sensitive = hcl_run
    outcome = service.start("app", definition, variables=variables, sensitive=sensitive,
                            branch="master")
    assert outcome.status == Status.SUCCEEDED, outcome.error
    assert log_text(service, "app#1", step="use") == ["built 1.1.0 on master"]
    assert steps_of(service, "app#1")[("compile", "version")].outputs == {"VERSION": "1.1.0"}


def test_sensitive_values_are_masked_in_stored_logs(hcl_run):
    service, definition, variables, sensitive = hcl_run
    service.start("app", definition, variables=variables, sensitive=sensitive)
    assert log_text(service, "app#1", step="show") == [
        "token=*** region=cn-hangzhou", "inline=***", "run=1"]
    stored = service.get("app#1").variables
    assert stored["region"] == "cn-hangzhou"
    assert set(stored["token"]) == {"$sensitive"} and SECRET not in str(stored)


def test_no_secret_is_written_in_plaintext_under_flowplan(hcl_run, config_dir):
    service, definition, variables, sensitive = hcl_run
    definition["stages"]["build"]["tasks"]["compile"]["steps"]["show"]["run"] = (
        "echo $TOKEN; echo $TOKEN >&2; echo LEAK=$TOKEN >> $FLOWPLAN_OUTPUT; exit 1")
    outcome = service.start("app", definition, variables=variables, sensitive=sensitive)
    assert outcome.status == Status.FAILED
    assert steps_of(service, "app#1")[("compile", "show")].outputs == {"LEAK": "***"}
    service.store.close()
    found = subprocess.run(["grep", "-r", "-l", "-a", SECRET, str(config_dir / ".flowplan")],
                           capture_output=True, text=True)
    assert found.stdout == ""
    assert (config_dir / ".flowplan" / "flowplan.db").exists()


def test_a_crafted_branch_name_cannot_inject_commands(hcl_run, tmp_path):
    service, definition, variables, sensitive = hcl_run
    pwned = tmp_path / "pwned"
    branch = f"x; touch {pwned}; echo $(touch {pwned})"
    outcome = service.start("app", definition, variables=variables, sensitive=sensitive,
                            branch=branch)
    assert outcome.status == Status.SUCCEEDED
    assert not pwned.exists()
    assert log_text(service, "app#1", step="use") == [f"built 1.1.0 on {branch}"]


def test_a_crafted_pipeline_variable_cannot_inject_commands(service, config_dir, tmp_path):
    pwned = tmp_path / "pwned"
    hcl = """
    pipeline "app" {
      variables = { name = "world" }
      stage "s" {
        task "t" {
          step "greet" {
            type = "command"
            run  = "echo hello ${run.variables.name}"
          }
        }
      }
    }
    """
    definition, variables, sensitive = load_pipeline(config_dir, hcl, "app", {})
    definition["variables"]["name"] = f"$(touch {pwned})"       # as `run --var` sets it
    service.start("app", definition, variables=variables, sensitive=sensitive)
    assert not pwned.exists()
    assert log_text(service, "app#1") == [f"hello $(touch {pwned})"]


def test_a_sensitive_value_missing_when_continuing_is_refused_before_anything(service,
                                                                             config_dir):
    hcl = """
    variable "token" {
      sensitive = true
    }
    pipeline "app" {
      stage "gate" {
        trigger = "manual"
        task "t" {
          step "use" {
            type = "command"
            run  = "echo ${var.token}"
          }
        }
      }
    }
    """
    definition, variables, sensitive = load_pipeline(config_dir, hcl, "app", {"token": SECRET})
    assert service.start("app", definition, variables=variables,
                         sensitive=sensitive).status == Status.WAITING
    with pytest.raises(RunServiceError, match="var.token is sensitive"):
        service.approve("app#1", "bob")                   # sensitive values not passed again
    assert service.store.approvals(service.get("app#1").id) == []
    assert service.get("app#1").status == "waiting"
    wrong = {"token": Sensitive("not-the-same")}
    with pytest.raises(RunServiceError, match="its value changed since the run started"):
        service.approve("app#1", "bob", variables=wrong)
    outcome = service.approve("app#1", "bob", variables=variables, sensitive=sensitive)
    assert outcome.status == Status.SUCCEEDED
    assert log_text(service, "app#1", step="use")[-1] == "***"


def test_when_with_a_run_time_condition(service, config_dir):
    hcl = """
    pipeline "app" {
      stage "s" {
        task "deploy" {
          when = run.branch == "master"
          step "go" {
            type = "command"
            run  = "echo deploying"
          }
        }
      }
    }
    """
    definition, variables, sensitive = load_pipeline(config_dir, hcl, "app")
    service.start("app", definition, branch="feature")
    assert service.store.task_runs(service.get("app#1").id)[0].skip_reason == "when"
    service.start("app", definition, branch="master")
    assert log_text(service, "app#2") == ["deploying"]


def test_store_secret_decrypts_with_the_operator_key(config_dir, monkeypatch):
    monkeypatch.setenv("FLOWPLAN_SECRET_KEY", "a-long-operator-passphrase")
    service = make_service(config_dir)
    service.set_secret("deploy_token", SECRET)
    token = service.store.get_secret_token("deploy_token")
    assert SECRET not in token and token.startswith("fernet-")


def source_hcl(repo, credentials: str) -> str:
    return f"""
    source "app" {{
      url         = "{repo}"
      branch      = "master"
      credentials = "{credentials}"
    }}
    pipeline "app" {{
      source = source.app
      stage "s" {{
        task "t" {{
          step "env" {{
            type = "command"
            run  = "echo key=$${{FLOWPLAN_SECRET_KEY:-unset}}"
          }}
        }}
      }}
    }}
    """


def make_repository(path):
    path.mkdir()
    for args in (["init", "-q", "-b", "master"], ["config", "user.name", "A"],
                 ["config", "user.email", "a@example.com"]):
        subprocess.run(["git", *args], cwd=path, check=True)
    (path / "f").write_text("x\n")
    subprocess.run(["git", "add", "."], cwd=path, check=True)
    subprocess.run(["git", "commit", "-q", "-m", "c"], cwd=path, check=True)
    return path


def test_source_credentials_come_from_a_store_secret_and_steps_never_see_the_key(
        config_dir, tmp_path, monkeypatch):
    monkeypatch.setenv("FLOWPLAN_SECRET_KEY", "a-long-operator-passphrase")
    service = make_service(config_dir)
    service.set_secret("git_token", SECRET)
    repo = make_repository(tmp_path / "repo")
    definition, _variables, _sensitive = load_pipeline(config_dir,
                                                       source_hcl(repo, "git_token"), "app")
    outcome = service.start("app", definition)
    assert outcome.status == Status.SUCCEEDED, outcome.error
    assert log_text(service, "app#1", step="env")[-1] == "key=unset"


def test_a_store_secret_without_the_operator_key_fails_the_run_clearly(
        config_dir, tmp_path, monkeypatch):
    monkeypatch.setenv("FLOWPLAN_SECRET_KEY", "a-long-operator-passphrase")
    service = make_service(config_dir)
    service.set_secret("git_token", SECRET)
    monkeypatch.delenv("FLOWPLAN_SECRET_KEY")
    repo = make_repository(tmp_path / "repo")
    definition, _variables, _sensitive = load_pipeline(config_dir,
                                                       source_hcl(repo, "git_token"), "app")
    outcome = service.start("app", definition)
    assert outcome.status == Status.FAILED
    assert outcome.error == ("source: credentials: the store secret git_token cannot be "
                             "decrypted: neither FLOWPLAN_SECRET_KEY_FILE nor "
                             "FLOWPLAN_SECRET_KEY is set; give the key it was stored with")


def test_a_store_secret_stored_with_another_key_fails_the_run_naming_it(
        config_dir, tmp_path, monkeypatch):
    monkeypatch.setenv("FLOWPLAN_SECRET_KEY", "a-long-operator-passphrase")
    service = make_service(config_dir)
    service.set_secret("git_token", SECRET)
    monkeypatch.setenv("FLOWPLAN_SECRET_KEY", "another-long-passphrase")
    repo = make_repository(tmp_path / "repo")
    definition, _variables, _sensitive = load_pipeline(config_dir,
                                                       source_hcl(repo, "git_token"), "app")
    outcome = service.start("app", definition)
    assert outcome.status == Status.FAILED
    assert outcome.error == (
        "source: credentials: the store secret git_token cannot be decrypted: "
        "FLOWPLAN_SECRET_KEY is not the key it was stored with (or the stored value is "
        "damaged); give the key it was stored with, or store it again "
        "with `flowplan secret set git_token`")


def test_setting_a_secret_with_another_key_than_the_stores_is_refused(config_dir):
    service = make_service(config_dir)
    first_key = {"FLOWPLAN_SECRET_KEY": "a-long-operator-passphrase"}
    other_key = {"FLOWPLAN_SECRET_KEY": "another-long-passphrase"}
    service.set_secret("deploy_token", SECRET, first_key)
    service.set_secret("git_token", "other-s3cr3t", first_key)
    before = {name: service.store.get_secret_token(name) for name in ("deploy_token",
                                                                      "git_token")}
    with pytest.raises(SecretKeyMismatch) as refused:
        service.set_secret("registry_token", "third-s3cr3t", other_key)
    message = str(refused.value)
    assert message.startswith("FLOWPLAN_SECRET_KEY is not the key of this store: 2 secrets in "
                              "the store (deploy_token, git_token) were stored with another "
                              "key; nothing stored.")
    assert not any(value in message for value in (SECRET, "other-s3cr3t", "third-s3cr3t"))
    assert service.store.secret_names() == ["deploy_token", "git_token"]
    assert {name: service.store.get_secret_token(name) for name in before} == before
    service.set_secret("registry_token", "third-s3cr3t", first_key)   # the store's key is fine
    # a store holding a secret of another key (put there by an older flowplan): refused too
    service.store.put_secret("old_token", SecretBox("another-long-passphrase").encrypt("x"))
    with pytest.raises(SecretKeyMismatch, match=r"1 of the 3 other secrets in the store "
                                                r"\(old_token\) was stored with another key"):
        service.set_secret("deploy_token", "again", first_key)


def test_the_only_secret_may_be_stored_again_with_a_new_key(config_dir):
    service = make_service(config_dir)
    service.set_secret("token", SECRET, {"FLOWPLAN_SECRET_KEY": "a-long-operator-passphrase"})
    service.set_secret("token", SECRET, {"FLOWPLAN_SECRET_KEY": "another-long-passphrase"})
    assert SecretBox("another-long-passphrase").decrypt(
        service.store.get_secret_token("token")) == SECRET


def test_unknown_credentials_name_fails_the_run_clearly(service, config_dir, tmp_path):
    repo = make_repository(tmp_path / "repo")
    definition, _variables, _sensitive = load_pipeline(config_dir,
                                                       source_hcl(repo, "nothing"), "app")
    outcome = service.start("app", definition)
    assert outcome.status == Status.FAILED
    assert "neither a variable of the run nor a secret in the store" in outcome.error
