"""`flowplan token create --worker NAME`, `token list` and `token revoke` through the real
command: a worker token printed once, kept as a hash, listed as `worker NAME`, refused once
revoked, and not taken for a user's token."""

from __future__ import annotations

import json
import re

from flowplan.executor.distributed.worker_tokens import WorkerTokens
from flowplan.server.auth import Authenticator
from flowplan.store import Store

WORKER_TOKEN = re.compile(r"fpw_([0-9a-f]{16})_[A-Za-z0-9_-]{43}")


def _store_bytes(workspace) -> bytes:
    return b"".join(path.read_bytes()
                    for path in sorted(workspace.store_path.parent.glob("flowplan.db*")))


def test_a_worker_token_is_printed_once_listed_kept_hashed_and_revoked(workspace,
                                                                      run_flowplan):
    workspace.write("flowplan {}\n")
    created = run_flowplan("token", "create", "--worker", "build-1")
    assert created.code == 0, str(created)
    token = created.stdout.strip()
    token_id = WORKER_TOKEN.fullmatch(token).group(1)
    assert "shown only once" in created.stderr and "FLOWPLAN_WORKER_TOKEN" in created.stderr

    listed = run_flowplan("token", "list")
    assert token_id in listed.stdout and "worker build-1" in listed.stdout
    assert token not in listed.stdout
    as_json = json.loads(run_flowplan("token", "list", "--json").stdout)
    assert [(t["id"], t["worker"], t["user"]) for t in as_json] == [(token_id, "build-1", None)]
    written = _store_bytes(workspace)
    assert token_id.encode() in written
    assert token.encode() not in written and token.split("_", 2)[2].encode() not in written

    with Store.open(f"sqlite:///{workspace.store_path}") as store:
        assert WorkerTokens(store).worker_for(token) == "build-1"
        assert Authenticator(store).user_for_token(token) is None     # not a user's token
    revoked = run_flowplan("token", "revoke", token_id)
    assert revoked.code == 0 and f"Revoked worker token {token_id}" in revoked.stdout
    with Store.open(f"sqlite:///{workspace.store_path}") as store:
        assert WorkerTokens(store).worker_for(token) is None
        assert [c.kind for c in store.changes(subject="build-1")] == [
            "worker token create", "worker token revoke"]
    again = run_flowplan("token", "revoke", token_id)
    assert again.code == 1
    assert f"no API token with id {token_id}, nor a worker token" in again.stderr


def test_bad_worker_token_requests_are_refused_with_what_to_do(workspace, run_flowplan):
    workspace.write("flowplan {}\n")
    bad_name = run_flowplan("token", "create", "--worker", "../up")
    assert bad_name.code != 0 and "worker name '../up'" in bad_name.stderr
    with_user = run_flowplan("token", "create", "bob", "--worker", "w1")
    assert with_user.code != 0 and "give --worker NAME alone" in with_user.stderr
    neither = run_flowplan("token", "create")
    assert neither.code != 0 and "--worker NAME" in neither.stderr
    pasted = run_flowplan("token", "revoke", "fpw_0123456789abcdef_" + "x" * 43)
    assert pasted.code != 0 and "not the token itself" in pasted.stderr
