"""Who did what, in the store: a decision, a role change and a secret change record the
operating-system account that made them (stamped by the store) next to the name given."""

from __future__ import annotations

import os
import pwd

import pytest

from flowplan.store import StepPlan, Store, TaskPlan
from flowplan.store.gates import account_as

ACCOUNT = pwd.getpwuid(os.geteuid()).pw_name
UID = os.geteuid()


@pytest.fixture
def store(store_url):
    with Store.open(store_url) as opened:
        yield opened


def test_an_approval_records_the_account_next_to_the_name_given(store):
    run = store.create_run("app", trigger="manual", user="alice", definition={"stages": {}},
                           tasks=(TaskPlan("s", 0, "t", 0, (StepPlan("x", "command", 0),)),))
    made = store.add_approval(run.id, stage="s", user="release-manager", decision="approve")
    recorded, = store.approvals(run.id)
    assert recorded == made
    assert (recorded.user, recorded.os_user, recorded.uid) == ("release-manager", ACCOUNT, UID)
    assert recorded.decided_by == f"{ACCOUNT} as release-manager"


def test_who_did_it_reads_as_the_account_alone_when_the_names_agree():
    assert account_as("root", "release-manager") == "root as release-manager"
    assert account_as("alice", "alice") == "alice"
    assert account_as("alice", None) == "alice"
    assert account_as(None, "bob") == "bob"          # recorded before schema version 3


def test_role_grants_and_revokes_are_recorded_with_who_made_them(store):
    assert store.grant_role("release", "carol", by="dave")
    assert not store.grant_role("release", "carol", by="dave")      # no change, no record
    assert store.revoke_role("release", "carol")
    assert not store.revoke_role("release", "carol")
    changes = store.changes()
    assert [(c.kind, c.subject, c.detail, c.as_user, c.os_user, c.uid) for c in changes] == [
        ("role grant", "release", "carol", "dave", ACCOUNT, UID),
        ("role revoke", "release", "carol", None, ACCOUNT, UID)]
    assert changes[0].changed_by == f"{ACCOUNT} as dave"
    assert changes[1].changed_by == ACCOUNT


def test_secret_changes_are_recorded_with_who_made_them_never_the_value(store):
    store.put_secret("deploy_token", "fernet-scrypt-v1:AAAA", by="erin")
    store.put_secret("deploy_token", "fernet-scrypt-v1:BBBB", by="erin")
    assert store.delete_secret("deploy_token", by="frank")
    assert not store.delete_secret("deploy_token", by="frank")
    changes = store.changes(kinds=["secret set", "secret rm"], subject="deploy_token")
    assert [(c.kind, c.as_user, c.os_user, c.detail) for c in changes] == [
        ("secret set", "erin", ACCOUNT, None), ("secret set", "erin", ACCOUNT, None),
        ("secret rm", "frank", ACCOUNT, None)]
    assert store.changes(subject="other") == []
