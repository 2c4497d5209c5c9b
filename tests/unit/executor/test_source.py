"""A pipeline's source in runs: checked out once from a real git repository, recorded on the run,
copied into every task's workspace; a missing branch fails the run with a clear message; cache
keys hashing checked-out files."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from conftest import load_pipeline, log_text, tasks_of

from flowplan.executor.status import Status


def git(directory: Path, *args: str) -> str:
    return subprocess.run(["git", *args], cwd=directory, check=True, capture_output=True,
                          text=True).stdout.strip()


@pytest.fixture
def repository(tmp_path) -> Path:
    repo = tmp_path / "repo"
    repo.mkdir()
    git(repo, "init", "-q", "-b", "master")
    git(repo, "config", "user.name", "Ada Lovelace")
    git(repo, "config", "user.email", "ada@example.com")
    (repo / "lock.txt").write_text("libs v1\n")
    (repo / "README").write_text("hello from the repository\n")
    git(repo, "add", ".")
    git(repo, "commit", "-q", "-m", "First commit\n\nwith a body")
    return repo


def hcl(repo: Path, branch: str = "master") -> str:
    return f"""
    source "app" {{
      url    = "{repo}"
      branch = "{branch}"
    }}
    pipeline "app" {{
      source = source.app
      cache "deps" {{
        key   = "deps-${{hash_files("lock.txt")}}"
        paths = ["deps"]
      }}
      stage "build" {{
        task "one" {{
          step "read" {{
            type = "command"
            run  = "cat README; echo $FLOWPLAN_COMMIT $FLOWPLAN_BRANCH; mkdir -p deps"
          }}
        }}
        task "two" {{
          step "read" {{
            type = "command"
            run  = "cat lock.txt; echo ${{run.commit_short}}"
          }}
        }}
      }}
    }}
    """


def test_source_is_checked_out_recorded_and_in_every_task_workspace(service, config_dir,
                                                                    repository):
    definition, variables, sensitive = load_pipeline(config_dir, hcl(repository), "app")
    outcome = service.start("app", definition)
    assert outcome.status == Status.SUCCEEDED, outcome.error
    head = git(repository, "rev-parse", "HEAD")
    run = service.get("app#1")
    assert (run.commit, run.branch) == (head, "master")
    assert run.commit_short and head.startswith(run.commit_short)
    assert run.commit_author == "Ada Lovelace <ada@example.com>"
    assert run.commit_message.startswith("First commit")
    one = log_text(service, "app#1", task="one")
    assert one[0] == (f"workspace: {config_dir}/.flowplan/workspaces/app/1/build/one "
                      f"(source at {run.commit_short})")
    assert one[1].startswith("cache deps: no entry for key deps-")
    assert one[2:4] == ["hello from the repository", f"{head} master"]
    two = log_text(service, "app#1", task="two")
    assert two[2:4] == ["libs v1", run.commit_short]
    # the tasks run at once: `two` finds the cache `one` saved only when `one` finished first
    if two[1].startswith("cache deps: restored from key deps-"):
        assert len(two) == 4, two
    else:
        assert two[1].startswith("cache deps: no entry for key deps-")
        assert two[4] == "cache deps: nothing to save (none of deps exists)"


def test_cache_key_hashes_the_checked_out_files(service, config_dir, repository):
    definition, _variables, _sensitive = load_pipeline(config_dir, hcl(repository), "app")
    service.start("app", definition)
    first_keys = {e.split(" ")[-1] for e in log_text(service, "app#1", task="one")
                  if e.startswith("cache deps: saved")}
    service.start("app", definition)
    assert any(line.startswith("cache deps: restored from key")
               for line in log_text(service, "app#2", task="one"))
    (repository / "lock.txt").write_text("libs v2\n")
    git(repository, "commit", "-q", "-am", "bump libs")
    service.start("app", definition)
    lines = log_text(service, "app#3", task="one")
    assert any(line.startswith("cache deps: no entry for key deps-") for line in lines)
    assert not any(key in " ".join(lines[:2]) for key in first_keys)


def test_missing_branch_fails_the_run_with_a_clear_message(service, config_dir, repository):
    definition, _variables, _sensitive = load_pipeline(config_dir, hcl(repository, "nope"),
                                                       "app")
    outcome = service.start("app", definition)
    assert outcome.status == Status.FAILED
    assert outcome.error.startswith("source: ")
    assert "nope" in outcome.error
    assert all(t.skip_reason == "upstream" for t in tasks_of(service, "app#1").values())


def test_missing_repository_fails_the_run(service, config_dir, tmp_path):
    definition, _variables, _sensitive = load_pipeline(config_dir, hcl(tmp_path / "absent"),
                                                       "app")
    outcome = service.start("app", definition)
    assert outcome.status == Status.FAILED and outcome.error.startswith("source: ")


def test_run_branch_override_checks_out_that_branch(service, config_dir, repository):
    git(repository, "checkout", "-q", "-b", "feature")
    (repository / "README").write_text("feature work\n")
    git(repository, "commit", "-q", "-am", "feature")
    git(repository, "checkout", "-q", "master")
    definition, _variables, _sensitive = load_pipeline(config_dir, hcl(repository), "app")
    service.start("app", definition, branch="feature")
    assert "feature work" in log_text(service, "app#1", task="one")
    assert service.get("app#1").branch == "feature"
