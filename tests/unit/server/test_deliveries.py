"""Judging webhook deliveries: senders, signatures, outcomes, filters, hostile bodies."""

from __future__ import annotations

import hashlib
import json

import pytest

from flowplan.server.deliveries import (
    ACCEPTED, IGNORED, MALFORMED, PING, REJECTED, TOO_LARGE, MAX_CHANGED_PATHS, WebhookFilter,
    changed_paths, decide, github_signature, glob_matches,
)

SECRET = "s3cr3t-Value-Nobody-Sees"
SHA = "0d1a26e67d8f5eaf1f6ba5c57fc3c7d91ac0fd1c"
GITLAB_CHECKOUT = "da1560886d4f094c3e6c9ef40349f7d38b5d27d7"


def github_push(**overrides) -> dict:
    payload = {
        "ref": "refs/heads/main", "before": "9" * 40, "after": SHA, "deleted": False,
        "pusher": {"name": "octocat", "email": "octocat@example.com"},
        "sender": {"login": "octocat-login"},
        "commits": [
            {"id": SHA, "added": ["src/app.py"], "modified": ["README.md"], "removed": []},
            {"id": "1" * 40, "added": [], "modified": ["src/app.py"], "removed": ["old.txt"]},
        ],
    }
    payload.update(overrides)
    return payload


def github(payload: dict | bytes, *, event: str = "push", secret: str = SECRET,
           delivery: str = "72d3162e-cc78-11e3-81ab-4c9367dc0958", **kw):
    body = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
    headers = {"X-GitHub-Event": event, "X-GitHub-Delivery": delivery,
               "X-Hub-Signature-256": github_signature(secret, body),
               "Content-Type": "application/json"}
    return decide(headers, body, secret=SECRET, **kw)


def gitlab_push(**overrides) -> dict:
    payload = {"object_kind": "push", "ref": "refs/heads/main",
               "before": "9" * 40, "after": SHA, "checkout_sha": GITLAB_CHECKOUT,
               "user_username": "jsmith",
               "commits": [{"id": GITLAB_CHECKOUT, "added": ["a.txt"], "modified": [],
                            "removed": []}]}
    payload.update(overrides)
    return payload


def gitlab(payload: dict, *, token: str = SECRET, event: str = "Push Hook", extra=None, **kw):
    headers = {"X-Gitlab-Event": event, "X-Gitlab-Token": token,
               "X-Gitlab-Event-UUID": "13792a34-cac6-4fda-95a8-c58e00a3954e", **(extra or {})}
    return decide(headers, json.dumps(payload).encode(), secret=SECRET, **kw)


# --- signatures -------------------------------------------------------------------------------

def test_github_documented_test_vector_verifies():
    secret, body = "It's a Secret to Everybody", b"Hello, World!"
    signature = "sha256=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17"
    assert github_signature(secret, body) == signature
    decision = decide({"X-GitHub-Event": "push", "X-Hub-Signature-256": signature}, body,
                      secret=secret)
    # the signature is good, so the body is read: and it is not JSON
    assert (decision.outcome, decision.status) == (MALFORMED, 400)


def test_github_push_is_accepted_with_what_a_run_needs():
    d = github(github_push())
    assert (d.outcome, d.status, d.sender, d.event) == (ACCEPTED, 202, "github", "push")
    assert d.starts_run
    assert d.delivery_id == "72d3162e-cc78-11e3-81ab-4c9367dc0958"
    assert d.push.ref == "refs/heads/main"
    assert (d.push.branch, d.push.tag, d.push.commit) == ("main", None, SHA)
    assert d.push.pusher == "octocat"
    assert d.push.changed_paths == ("src/app.py", "README.md", "old.txt")
    assert d.push.paths_known


def test_github_pusher_falls_back_to_sender_login():
    payload = github_push()
    del payload["pusher"]
    assert github(payload).push.pusher == "octocat-login"


def test_forged_signature_is_rejected():
    body = json.dumps(github_push()).encode()
    d = decide({"X-GitHub-Event": "push", "X-Hub-Signature-256": "sha256=" + "ab" * 32}, body,
               secret=SECRET)
    assert (d.outcome, d.status, d.push) == (REJECTED, 401, None)


def test_signature_of_another_body_is_rejected():
    signature = github_signature(SECRET, json.dumps(github_push(ref="refs/heads/other")).encode())
    d = decide({"X-GitHub-Event": "push", "X-Hub-Signature-256": signature},
               json.dumps(github_push()).encode(), secret=SECRET)
    assert d.outcome == REJECTED and "does not match" in d.reason


def test_signature_with_another_secret_is_rejected():
    assert github(github_push(), secret="guess").outcome == REJECTED


def test_missing_signature_header_is_rejected():
    d = decide({"X-GitHub-Event": "push"}, json.dumps(github_push()).encode(), secret=SECRET)
    assert (d.outcome, d.status) == (REJECTED, 401)
    assert "X-Hub-Signature-256" in d.reason


def test_no_recognised_header_is_rejected():
    d = decide({"Content-Type": "application/json"}, b"{}", secret=SECRET)
    assert (d.outcome, d.status, d.sender) == (REJECTED, 401, "")


def test_legacy_sha1_signature_alone_is_rejected():
    import hmac as _hmac
    body = json.dumps(github_push()).encode()
    sha1 = "sha1=" + _hmac.new(SECRET.encode(), body, hashlib.sha1).hexdigest()
    d = decide({"X-GitHub-Event": "push", "X-Hub-Signature": sha1}, body, secret=SECRET)
    assert d.outcome == REJECTED


@pytest.mark.parametrize("value", [
    "sha1=" + "a" * 40, "sha256=", "sha256=" + "z" * 64, "sha256=" + "a" * 63,
    "sha256=" + "a" * 65, "SHA256=" + "a" * 64, "sha256=" + "é" * 64, "",
])
def test_malformed_signature_values_are_rejected(value):
    d = decide({"X-GitHub-Event": "push", "X-Hub-Signature-256": value}, b"{}", secret=SECRET)
    assert (d.outcome, d.status) == (REJECTED, 401)


def test_uppercase_hex_signature_is_accepted():
    body = json.dumps(github_push()).encode()
    signature = "sha256=" + github_signature(SECRET, body).removeprefix("sha256=").upper()
    assert decide({"X-GitHub-Event": "push", "X-Hub-Signature-256": signature}, body,
                  secret=SECRET).outcome == ACCEPTED


def test_header_names_are_matched_without_regard_to_case():
    body = json.dumps(github_push()).encode()
    headers = {"x-github-event": "push", "X-GITHUB-DELIVERY": "abc",
               "x-hub-SIGNATURE-256": github_signature(SECRET, body)}
    d = decide(headers, body, secret=SECRET)
    assert (d.outcome, d.delivery_id) == (ACCEPTED, "abc")


def test_a_webhook_without_secret_accepts_nothing():
    body = b"{}"
    d = decide({"X-GitHub-Event": "push", "X-Hub-Signature-256": github_signature("", body)}, body,
               secret="")
    assert d.outcome == REJECTED and "no secret" in d.reason
    assert decide({"X-Flowplan-Token": ""}, body, secret="").outcome == REJECTED


def test_body_is_not_read_before_the_signature_is_checked():
    d = decide({"X-GitHub-Event": "push", "X-Hub-Signature-256": "sha256=" + "0" * 64},
               b"\xff not json [[[", secret=SECRET)
    assert (d.outcome, d.event, d.delivery_id) == (REJECTED, "", "")


def test_secrets_and_tokens_never_appear_in_decisions():
    body = json.dumps(github_push()).encode()
    wrong = "wrong-token-" + SECRET[:6]
    decisions = [
        github(github_push()), github(github_push(), secret="other"),
        gitlab(gitlab_push()), gitlab(gitlab_push(), token=wrong),
        decide({"X-Flowplan-Token": wrong}, body, secret=SECRET),
        decide({"X-Flowplan-Token": SECRET}, b"[1]", secret=SECRET),
        decide({"X-Flowplan-Token": SECRET}, b"{", secret=SECRET),
    ]
    for d in decisions:
        for text in (repr(d), str(d), d.reason):
            assert SECRET not in text and wrong not in text


# --- GitLab and generic -----------------------------------------------------------------------

def test_gitlab_push_takes_checkout_sha_and_username():
    d = gitlab(gitlab_push())
    assert (d.outcome, d.sender, d.event) == (ACCEPTED, "gitlab", "push")
    assert (d.push.commit, d.push.pusher, d.push.branch) == (GITLAB_CHECKOUT, "jsmith", "main")
    assert d.delivery_id == "13792a34-cac6-4fda-95a8-c58e00a3954e"


def test_gitlab_wrong_or_missing_token_is_rejected():
    assert gitlab(gitlab_push(), token="nope").outcome == REJECTED
    d = decide({"X-Gitlab-Event": "Push Hook"}, json.dumps(gitlab_push()).encode(), secret=SECRET)
    assert (d.outcome, d.status) == (REJECTED, 401) and "X-Gitlab-Token" in d.reason


def test_gitlab_non_ascii_token_is_rejected_not_crashing():
    assert gitlab(gitlab_push(), token="tökén\udcff").outcome == REJECTED


def test_gitlab_delivery_id_from_idempotency_key():
    headers = {"X-Gitlab-Event": "Push Hook", "X-Gitlab-Token": SECRET, "Idempotency-Key": "k-1"}
    assert decide(headers, json.dumps(gitlab_push()).encode(), secret=SECRET).delivery_id == "k-1"


def test_gitlab_tag_push_is_a_push_of_a_tag():
    d = gitlab(gitlab_push(ref="refs/tags/v1.2.0"), event="Tag Push Hook")
    assert (d.outcome, d.event, d.push.tag, d.push.branch) == (ACCEPTED, "push", "v1.2.0", None)


def test_gitlab_merge_request_event_is_ignored_by_default():
    d = gitlab({"object_kind": "merge_request"}, event="Merge Request Hook")
    assert (d.outcome, d.event) == (IGNORED, "merge_request")


def test_generic_json_push_with_token():
    body = json.dumps({"ref": "refs/heads/dev", "after": SHA, "pusher": "ci-bot"}).encode()
    d = decide({"X-Flowplan-Token": SECRET, "X-Flowplan-Delivery": "d-9"}, body, secret=SECRET)
    assert (d.outcome, d.sender, d.delivery_id) == (ACCEPTED, "generic", "d-9")
    assert (d.push.branch, d.push.pusher, d.push.paths_known) == ("dev", "ci-bot", False)


def test_generic_delivery_id_defaults_to_sha256_of_body():
    body = json.dumps({"ref": "refs/heads/dev", "after": SHA}).encode()
    d = decide({"X-Flowplan-Token": SECRET}, body, secret=SECRET)
    assert d.delivery_id == "sha256:" + hashlib.sha256(body).hexdigest()


def test_generic_wrong_token_is_rejected():
    d = decide({"X-Flowplan-Token": SECRET + "x"}, b"{}", secret=SECRET)
    assert (d.outcome, d.status, d.sender) == (REJECTED, 401, "generic")


# --- outcomes ---------------------------------------------------------------------------------

def test_ping_is_answered_and_starts_nothing():
    d = github({"zen": "Keep it logically awesome.", "hook_id": 1}, event="ping")
    assert (d.outcome, d.push, d.starts_run) == (PING, None, False)
    assert d.status == 200


def test_oversized_body_is_refused_before_anything_else():
    d = decide({}, b"x" * (1024 * 1024 + 1), secret=SECRET)
    assert (d.outcome, d.status) == (TOO_LARGE, 413)


def test_size_limit_is_a_parameter():
    body = json.dumps(github_push()).encode()
    assert github(github_push(), max_bytes=len(body)).outcome == ACCEPTED
    assert github(github_push(), max_bytes=len(body) - 1).outcome == TOO_LARGE


@pytest.mark.parametrize("body, words", [
    (b"not json", "not JSON"),
    (b"\xff\xfe{}", "not UTF-8"),
    (b"[1, 2]", "list"),
    (b'"text"', "str"),
    (b"[" * 100_000 + b"]" * 100_000, "nested too deeply"),
    (b'{"a":' * 100_000 + b"1" + b"}" * 100_000, "nested too deeply"),
    (b"1" * 5000, "not JSON"),
])
def test_malformed_bodies_are_400(body, words):
    d = github(body)
    assert (d.outcome, d.status) == (MALFORMED, 400)
    assert words in d.reason


@pytest.mark.parametrize("payload, words", [
    ({"after": SHA}, "ref"),
    ({"ref": "main", "after": SHA}, "ref"),
    ({"ref": "refs/heads/main"}, "commit"),
    ({"ref": "refs/heads/main", "after": "not-a-sha"}, "commit"),
    ({"ref": 7, "after": SHA}, "ref"),
])
def test_push_without_its_fields_is_malformed(payload, words):
    d = github(payload)
    assert (d.outcome, d.status) == (MALFORMED, 400) and words in d.reason


def test_overlong_delivery_id_is_malformed():
    d = github(github_push(), delivery="x" * 1000)
    assert d.outcome == MALFORMED


@pytest.mark.parametrize("overrides", [{"after": "0" * 40, "deleted": True}, {"after": "0" * 40},
                                       {"deleted": True}])
def test_deleted_branch_is_ignored_with_the_reason(overrides):
    d = github(github_push(**overrides))
    assert (d.outcome, d.status) == (IGNORED, 202)
    assert d.reason == "branch 'main' was deleted"


# --- filters ----------------------------------------------------------------------------------

def test_event_not_in_filter_is_ignored():
    d = github({"action": "opened"}, event="pull_request")
    assert (d.outcome, d.status) == (IGNORED, 202) and "pull_request" in d.reason


def test_event_in_filter_other_than_push_is_accepted_without_a_push():
    d = github({"action": "opened"}, event="pull_request",
               filters=WebhookFilter(events=("push", "pull_request")))
    assert (d.outcome, d.push) == (ACCEPTED, None)


@pytest.mark.parametrize("ref, branches, tags, outcome", [
    ("refs/heads/main", (), (), ACCEPTED),
    ("refs/tags/v1", (), (), ACCEPTED),
    ("refs/heads/main", ("main",), (), ACCEPTED),
    ("refs/heads/dev", ("main",), (), IGNORED),
    ("refs/heads/release/1.0", ("release/*",), (), ACCEPTED),
    ("refs/heads/release/1.0/hotfix", ("release/*",), (), IGNORED),
    ("refs/heads/release/1.0/hotfix", ("release/**",), (), ACCEPTED),
    ("refs/heads/feature/x", ("main", "feature/*"), (), ACCEPTED),
    ("refs/tags/v1.2", ("main",), (), IGNORED),
    ("refs/tags/v1.2", (), ("v*",), ACCEPTED),
    ("refs/tags/nightly", (), ("v*",), IGNORED),
    ("refs/heads/main", (), ("v*",), IGNORED),
    ("refs/heads/main", ("main",), ("v*",), ACCEPTED),
])
def test_branch_and_tag_globs(ref, branches, tags, outcome):
    d = github(github_push(ref=ref), filters=WebhookFilter(branches=branches, tags=tags))
    assert d.outcome == outcome
    if outcome == IGNORED:
        assert ref.split("/", 2)[2] in d.reason


def test_paths_filter_takes_a_push_touching_a_matching_path():
    d = github(github_push(), filters=WebhookFilter(paths=("src/**",)))
    assert d.outcome == ACCEPTED


def test_paths_filter_ignores_a_push_touching_nothing_matching():
    d = github(github_push(), filters=WebhookFilter(paths=("docs/**", "*.go")))
    assert (d.outcome, d.status) == (IGNORED, 202)
    assert d.reason == "no changed path matches docs/**, *.go"


def test_removed_paths_count_as_changed():
    assert github(github_push(), filters=WebhookFilter(paths=("old.txt",))).outcome == ACCEPTED


def test_paths_filter_lets_through_a_push_whose_paths_are_unknown():
    d = github(github_push(commits=[]), filters=WebhookFilter(paths=("docs/**",)))
    assert (d.outcome, d.push.paths_known) == (ACCEPTED, False)


@pytest.mark.parametrize("pattern, path, matches", [
    ("**/*.py", "a.py", True),
    ("**/*.py", "src/deep/a.py", True),
    ("*.py", "src/a.py", False),
    ("src/**", "src/a/b/c.txt", True),
    ("src/**", "srcx/a", False),
    ("src/*/c.txt", "src/b/c.txt", True),
    ("src/?.txt", "src/ab.txt", False),
    ("docs/**/index.md", "docs/index.md", True),
    ("a.b", "axb", False),
    ("[ab]", "a", False),            # brackets are literal characters
])
def test_glob_matching(pattern, path, matches):
    assert glob_matches(pattern, path) is matches


# --- bounded work -----------------------------------------------------------------------------

def test_huge_number_of_commits_collects_bounded_paths():
    commits = [{"added": [f"f{i}.txt"], "modified": [], "removed": []} for i in range(50_000)]
    paths, known = changed_paths(commits)
    assert len(paths) == MAX_CHANGED_PATHS and not known
    d = github(github_push(commits=commits), filters=WebhookFilter(paths=("nothing/**",)),
               max_bytes=10 * 1024 * 1024)
    assert d.outcome == ACCEPTED and len(d.push.changed_paths) == MAX_CHANGED_PATHS


def test_odd_commit_entries_are_skipped():
    paths, known = changed_paths([1, None, {"added": "a"}, {"added": [1, "b", None]},
                                  {"modified": ["b", "c"]}])
    assert (paths, known) == (("b", "c"), True)
