"""Webhook deliveries: one incoming delivery (its headers, its raw body, the webhook's secret and
filters) judged into a `Decision` — what to answer and, when a run should start, what it needs.

The sender is recognised by its headers, whichever provider registered the hook:
- GitHub (`X-GitHub-Event` or `X-Hub-Signature-256`): `X-Hub-Signature-256` must be `sha256=` and the
  HMAC-SHA256 of the raw body keyed with the secret; the legacy `X-Hub-Signature` (SHA-1) is not
  accepted. Event from `X-GitHub-Event`, delivery id from `X-GitHub-Delivery`.
- GitLab (`X-Gitlab-Event` or `X-Gitlab-Token`): `X-Gitlab-Token` must equal the secret. Event from
  `X-Gitlab-Event` (`Push Hook` and `Tag Push Hook` are both `push`, others `merge_request` and so
  on), delivery id from `X-Gitlab-Event-UUID` or `Idempotency-Key`.
- Generic JSON (`X-Flowplan-Token`): the token must equal the secret; event from `X-Flowplan-Event`
  (default `push`), delivery id from `X-Flowplan-Delivery`. The body has GitHub's push shape: `ref`,
  `after`, `pusher` (a name, or an object with `name`), `commits`.
Any sender without its delivery id gets `sha256:` and the SHA-256 of the body, so a resent body is the
same delivery. Header names are matched without regard to case; secrets and tokens are compared in
constant time.

The order is fixed, and each step sees only what the earlier ones let through: size (413, before
anything is hashed) → signature or token (401; nothing in the body is read before it) → JSON (400:
not UTF-8, not JSON, nested too deeply, not an object) → `ping` (answered, starts nothing) → event
filter → push fields (400 when `ref` or the commit is missing) → a deleted branch or tag (ignored) →
branch and tag globs → changed paths → accepted (202). Ignored deliveries are answered 202 with the
reason, so a sender does not retry them. An event other than `push` that the filter lists is accepted
without a `Push`: what it starts is the server's to say.

Filters (`WebhookFilter`): `events` (default push); `branches` and `tags` are globs on the short name
(`main`, `release/*`, `v*`); with neither, every branch and tag is taken, with only one of them the
other kind of ref is ignored (as GitHub Actions does). `paths` are globs on changed paths. In all
globs `*` and `?` stop at `/` and `**` crosses any depth (`docs/**`, `**/*.py`). Changed paths are the
union of the commits' added, modified and removed files, at most `MAX_CHANGED_PATHS`; when the
delivery lists no commits, or more paths than that, the paths are not known and the `paths` filter
lets the delivery through rather than guess.

Recording deliveries, refusing redeliveries, starting runs and speaking HTTP are the server's; this
module reads nothing but its arguments and uses the standard library only.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from functools import lru_cache

DEFAULT_MAX_BYTES = 1024 * 1024
MAX_CHANGED_PATHS = 10_000
MAX_DELIVERY_ID = 200
ZERO_SHA = re.compile(r"0+")
COMMIT_SHA = re.compile(r"[0-9a-f]{40}|[0-9a-f]{64}")
GITHUB_SIGNATURE = re.compile(r"sha256=([0-9a-fA-F]{64})")

ACCEPTED, IGNORED, PING = "accepted", "ignored", "ping"
REJECTED, TOO_LARGE, MALFORMED = "rejected", "too_large", "malformed"
GITHUB, GITLAB, GENERIC = "github", "gitlab", "generic"


@dataclass(frozen=True)
class WebhookFilter:
    events: tuple[str, ...] = ("push",)
    branches: tuple[str, ...] = ()
    tags: tuple[str, ...] = ()
    paths: tuple[str, ...] = ()


@dataclass(frozen=True)
class Push:
    """What a run needs from an accepted push."""
    ref: str                                   # refs/heads/main
    branch: str | None                         # main (None for a tag)
    tag: str | None
    commit: str
    pusher: str                                # "" when the sender named nobody
    changed_paths: tuple[str, ...]
    paths_known: bool                          # False: no commits listed, or over the cap


@dataclass(frozen=True)
class Decision:
    outcome: str                               # accepted, ignored, ping, rejected, too_large, malformed
    status: int                                # the HTTP status to answer with
    reason: str
    sender: str = ""                           # github, gitlab, generic; "" when not recognised
    event: str = ""
    delivery_id: str = ""
    push: Push | None = field(default=None)

    @property
    def starts_run(self) -> bool:
        return self.outcome == ACCEPTED


def decide(headers: Mapping[str, str], body: bytes, *, secret: str,
           filters: WebhookFilter = WebhookFilter(),
           max_bytes: int = DEFAULT_MAX_BYTES) -> Decision:
    """Judge one delivery. `secret` is the webhook's HMAC secret (GitHub) or token (GitLab, generic)."""
    if len(body) > max_bytes:
        return Decision(TOO_LARGE, 413, f"body of {len(body)} bytes is over the limit of {max_bytes}")
    h = {str(name).lower(): str(value) for name, value in headers.items()}
    sender = _sender(h)
    if sender is None:
        return Decision(REJECTED, 401, "no signature or token header "
                        "(X-Hub-Signature-256, X-Gitlab-Token or X-Flowplan-Token)")
    refusal = _authenticate(sender, h, body, secret)
    if refusal:
        return Decision(REJECTED, 401, refusal, sender)

    event = _event(sender, h)
    delivery_id = _delivery_id(sender, h, body)
    if len(delivery_id) > MAX_DELIVERY_ID:
        return Decision(MALFORMED, 400, f"delivery id longer than {MAX_DELIVERY_ID} characters",
                        sender, event)
    seen = dict(sender=sender, event=event, delivery_id=delivery_id)
    try:
        payload = json.loads(body.decode("utf-8"))
    except UnicodeDecodeError:
        return Decision(MALFORMED, 400, "body is not UTF-8", **seen)
    except RecursionError:
        return Decision(MALFORMED, 400, "body is nested too deeply", **seen)
    except ValueError as e:                    # JSONDecodeError, over-long integers
        return Decision(MALFORMED, 400, f"body is not JSON: {e}", **seen)
    if not isinstance(payload, dict):
        return Decision(MALFORMED, 400, f"body is a JSON {type(payload).__name__}, not an object",
                        **seen)

    if sender == GITHUB and event == "ping":
        return Decision(PING, 200, "ping", **seen)
    if event not in filters.events:
        return Decision(IGNORED, 202, f"event {event!r} is not one of {', '.join(filters.events)}",
                        **seen)
    if event != "push":
        return Decision(ACCEPTED, 202, f"event {event!r}", **seen)

    ref = payload.get("ref")
    if not isinstance(ref, str) or not ref.startswith(("refs/heads/", "refs/tags/")):
        return Decision(MALFORMED, 400, "push has no branch or tag `ref`", **seen)
    branch = ref.removeprefix("refs/heads/") if ref.startswith("refs/heads/") else None
    tag = ref.removeprefix("refs/tags/") if ref.startswith("refs/tags/") else None
    what = f"branch {branch!r}" if branch is not None else f"tag {tag!r}"

    after = payload.get("after")
    if payload.get("deleted") is True or (isinstance(after, str) and ZERO_SHA.fullmatch(after)):
        return Decision(IGNORED, 202, f"{what} was deleted", **seen)
    commit = payload.get("checkout_sha") if sender == GITLAB else None
    commit = commit if isinstance(commit, str) else after
    if not isinstance(commit, str) or not COMMIT_SHA.fullmatch(commit):
        return Decision(MALFORMED, 400, f"push of {what} has no commit sha (`after`)", **seen)

    unmatched = _ref_refusal(branch, tag, filters)
    if unmatched:
        return Decision(IGNORED, 202, unmatched, **seen)

    paths, known = changed_paths(payload.get("commits"))
    push = Push(ref, branch, tag, commit, _pusher(sender, payload), paths, known)
    refusal = push_refusal(push, filters)
    if refusal:
        return Decision(IGNORED, 202, refusal, push=push, **seen)
    return Decision(ACCEPTED, 202, f"push to {what} at {commit[:12]}", push=push, **seen)


def push_refusal(push: Push, filters: WebhookFilter) -> str | None:
    """Why `filters` ignore `push` (its branch or tag, then its changed paths), or None. Both
    `decide` and the server's git-hook path (which reads pushes from the repository) ask it."""
    unmatched = _ref_refusal(push.branch, push.tag, filters)
    if unmatched:
        return unmatched
    if filters.paths and push.paths_known and not any(
            glob_matches(pattern, path) for path in push.changed_paths
            for pattern in filters.paths):
        return f"no changed path matches {', '.join(filters.paths)}"
    return None


def github_signature(secret: str, body: bytes) -> str:
    """The `X-Hub-Signature-256` value GitHub sends for `body`."""
    return "sha256=" + hmac.new(secret.encode("utf-8"), body, hashlib.sha256).hexdigest()


def changed_paths(commits: object, limit: int = MAX_CHANGED_PATHS) -> tuple[tuple[str, ...], bool]:
    """The union of the commits' added, modified and removed paths, in first-seen order, and whether
    that is all of them (False when no commits are listed or more than `limit` paths)."""
    if not isinstance(commits, list) or not commits:
        return (), False
    seen: dict[str, None] = {}
    for commit in commits:
        if not isinstance(commit, dict):
            continue
        for key in ("added", "modified", "removed"):
            files = commit.get(key)
            if not isinstance(files, list):
                continue
            for path in files:
                if isinstance(path, str) and path not in seen:
                    if len(seen) >= limit:
                        return tuple(seen), False
                    seen[path] = None
    return tuple(seen), True


def glob_matches(pattern: str, name: str) -> bool:
    """`*` and `?` stay within one path segment; `**` spans any number of them."""
    return _glob(pattern).fullmatch(name) is not None


@lru_cache(maxsize=512)
def _glob(pattern: str) -> re.Pattern[str]:
    out, i = [], 0
    while i < len(pattern):
        if pattern.startswith("**/", i):
            out.append("(?:.*/)?")
            i += 3
        elif pattern.startswith("**", i):
            out.append(".*")
            i += 2
        elif pattern[i] == "*":
            out.append("[^/]*")
            i += 1
        elif pattern[i] == "?":
            out.append("[^/]")
            i += 1
        else:
            out.append(re.escape(pattern[i]))
            i += 1
    return re.compile("".join(out), re.DOTALL)


def _sender(h: Mapping[str, str]) -> str | None:
    if "x-github-event" in h or "x-hub-signature-256" in h:
        return GITHUB
    if "x-gitlab-event" in h or "x-gitlab-token" in h:
        return GITLAB
    if "x-flowplan-token" in h:
        return GENERIC
    return None


def _authenticate(sender: str, h: Mapping[str, str], body: bytes, secret: str) -> str | None:
    """Why the delivery is refused, or None. Never names the secret or what was sent."""
    if not secret:
        return "the webhook has no secret configured"
    if sender == GITHUB:
        given = h.get("x-hub-signature-256")
        if given is None:
            return "no X-Hub-Signature-256 header"
        m = GITHUB_SIGNATURE.fullmatch(given.strip())
        if not m:
            return "X-Hub-Signature-256 is not sha256= and 64 hex digits"
        expected = github_signature(secret, body).encode("ascii")
        if not hmac.compare_digest(expected, b"sha256=" + m.group(1).lower().encode("ascii")):
            return "X-Hub-Signature-256 does not match the body"
        return None
    header = "x-gitlab-token" if sender == GITLAB else "x-flowplan-token"
    given = h.get(header)
    if given is None:
        return f"no {_title(header)} header"
    if not hmac.compare_digest(given.encode("utf-8", "surrogateescape"), secret.encode("utf-8")):
        return f"{_title(header)} is wrong"
    return None


def _title(header: str) -> str:
    return {"x-gitlab-token": "X-Gitlab-Token", "x-flowplan-token": "X-Flowplan-Token"}[header]


def _event(sender: str, h: Mapping[str, str]) -> str:
    if sender == GITHUB:
        return h.get("x-github-event", "").strip()
    if sender == GITLAB:
        name = h.get("x-gitlab-event", "").strip()
        if name in ("Push Hook", "Tag Push Hook"):
            return "push"
        return name.removesuffix(" Hook").lower().replace(" ", "_")
    return h.get("x-flowplan-event", "push").strip() or "push"


def _delivery_id(sender: str, h: Mapping[str, str], body: bytes) -> str:
    names: Sequence[str] = {GITHUB: ("x-github-delivery",),
                            GITLAB: ("x-gitlab-event-uuid", "idempotency-key"),
                            GENERIC: ("x-flowplan-delivery",)}[sender]
    for name in names:
        value = h.get(name, "").strip()
        if value:
            return value
    return "sha256:" + hashlib.sha256(body).hexdigest()


def _ref_refusal(branch: str | None, tag: str | None, filters: WebhookFilter) -> str | None:
    if not filters.branches and not filters.tags:
        return None
    if branch is not None:
        if not filters.branches:
            return f"branch {branch!r}: only tags are taken"
        if not any(glob_matches(p, branch) for p in filters.branches):
            return f"branch {branch!r} matches none of {', '.join(filters.branches)}"
        return None
    if not filters.tags:
        return f"tag {tag!r}: only branches are taken"
    if not any(glob_matches(p, tag or "") for p in filters.tags):
        return f"tag {tag!r} matches none of {', '.join(filters.tags)}"
    return None


def _pusher(sender: str, payload: dict) -> str:
    if sender == GITLAB:
        name = payload.get("user_username")
        return name if isinstance(name, str) else ""
    pusher = payload.get("pusher")
    if isinstance(pusher, str):
        return pusher
    if isinstance(pusher, dict) and isinstance(pusher.get("name"), str):
        return pusher["name"]
    sender_obj = payload.get("sender")
    if isinstance(sender_obj, dict) and isinstance(sender_obj.get("login"), str):
        return sender_obj["login"]
    return ""
