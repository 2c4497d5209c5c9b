"""Workers are shared by teams: one real `flowplan worker` executes the tasks of two teams' runs
of the same pipeline (both numbered 1), each recorded in its own team's rows and run in its own
team's workspace; a team's store does not see the other's run, and a worker checking out a
run's source opens the run's team's secrets only."""

from __future__ import annotations

import pytest

from conftest import command, load_pipeline, log_text, pipeline, stage, task
from flowplan.executor.service import RunService
from flowplan.executor.status import Status
from flowplan.store import Store
from celery_cluster import CeleryCluster
from test_variables_secrets import make_repository, source_hcl

SECRET_KEY = "a-long-operator-passphrase"

pytestmark = pytest.mark.timeout(120)


@pytest.fixture(scope="module")
def shared_worker(tmp_path_factory):
    from redis_server import redis_problem, start_redis

    problem = redis_problem()
    if problem is not None:
        pytest.skip(problem)
    root = tmp_path_factory.mktemp("celery-teams")
    with start_redis(root) as redis, pytest.MonkeyPatch.context() as patch:
        patch.setenv("FLOWPLAN_SECRET_KEY", SECRET_KEY)     # the operator's key, on the worker
        made = CeleryCluster(root, redis, f"sqlite:///{root / 'flowplan.db'}")
        Store.open(made.store_url, base_dir=root).close()
        made.start_worker("shared", "default")
        yield made
        made.stop()


def team_service(cluster: CeleryCluster, team: str) -> RunService:
    return cluster.service(f"driver-{team}", team=team)


def test_one_worker_runs_both_teams_runs_each_in_its_own_rows_and_workspace(shared_worker):
    definition = pipeline({"main": stage({"t": task(("s", command('echo "here: $PWD"')))})})
    default, blue = team_service(shared_worker, "default"), team_service(shared_worker, "blue")
    try:
        ours = default.start("app", definition)
        theirs = blue.start("app", definition)
        assert ours.status == theirs.status == Status.SUCCEEDED, (ours.error, theirs.error)
        assert ours.run == theirs.run == "app#1"
        blue_run = blue.get("app#1")
        assert blue_run.team == "blue" and default.get("app#1").id != blue_run.id
        assert default.store.get_run(blue_run.id) is None
        workspaces = shared_worker.root / "shared" / ".flowplan" / "workspaces"
        assert any(f"here: {workspaces / '.teams' / 'blue' / 'app' / '1'}" in line
                   for line in log_text(blue, "app#1")), log_text(blue, "app#1")
        assert any(f"here: {workspaces / 'app' / '1'}" in line
                   for line in log_text(default, "app#1")), log_text(default, "app#1")
    finally:
        default.store.close()
        blue.store.close()


def test_a_worker_opens_the_secrets_of_the_runs_team_only(shared_worker, tmp_path):
    default, blue = team_service(shared_worker, "default"), team_service(shared_worker, "blue")
    try:
        default.set_secret("git_token", "default-s3cr3t", {"FLOWPLAN_SECRET_KEY": SECRET_KEY})
        repo = make_repository(tmp_path / "repo")
        config = tmp_path / "config"
        config.mkdir()
        definition, _values, _sensitive = load_pipeline(config, source_hcl(repo, "git_token"),
                                                        "app")
        theirs = blue.start("checkout", definition)
        assert theirs.status == Status.FAILED
        assert "'git_token' are neither a variable of the run nor a secret in the store" in \
            theirs.error
        assert "default" not in theirs.error
        ours = default.start("checkout", definition)
        assert ours.status == Status.SUCCEEDED, ours.error
    finally:
        default.store.close()
        blue.store.close()
