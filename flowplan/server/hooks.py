"""The webhook receiver: `POST /hooks/{name}`, where NAME is a `webhook` block's label.

Order, each step seeing only what the earlier ones let through:
1. an unknown NAME is 404 and is not recorded (anyone can send to any address; only the applied
   webhooks get rows in the store);
2. the body is read with a hard cap (`ServerContext.max_body_bytes`): a `Content-Length` over it
   is 413 before a byte is read, and the stream is read to at most cap + 1 bytes, so a body that
   lies about its length is 413 too. Nothing unbounded is ever buffered;
3. a webhook whose secret cannot be used (changed in the config but not applied, a config that
   does not load) is 503 with the reason, saying to apply;
4. a delivery from flowplan's git `post-receive` hook (`X-Flowplan-Git: push`) goes the git way
   (below); any other is judged by flowplan.server.deliveries.decide (sender, signature or token,
   JSON, ping, filters);
5. an accepted or ignored delivery claims its delivery id for the webhook in the store (a unique
   constraint; an accepted one in the same transaction that records its run, see
   Launcher.start): a redelivery, however many copies at once, is recorded `duplicate` and
   starts nothing. A launch refused (on_limit = "reject_new", the server stopping) is recorded
   `refused` and answered 503, and claims nothing, so a redelivery may try again.

Every delivery to a known webhook is recorded. Answers are JSON: 202 `{"status": "accepted",
"run": "ci#7"}`, `{"status": "ignored", "reason": ...}`, `{"status": "duplicate", "run": ...}`;
200 `{"status": "ping"}`; errors `{"error": ...}` with 400, 401, 404, 413 or 503.

The run's user is the pusher with the sender as a prefix: `github:octocat`, `gitlab:jdoe`,
`generic:ci-bot`, `git:Ada Lovelace` (the pushed commit's committer, as the hook names nobody).
The prefix keeps a name a sender claims apart from flowplan's own users, whom approvals trust.
The trigger is `webhook`.

The git hook sends only `{"repository": PATH, "refs": [{"ref", "before", "after"}]}` and no
secret: the server takes it for a `git` webhook whose applied `repository` is the same directory
(real paths compared), then reads each ref again from that repository with GitPython and runs
what is really there. A forged `after` is ignored in favour of the ref's real head; a ref that
does not exist is ignored with the reason. Changed paths come from `git diff --name-only
before..head` (at most deliveries.MAX_CHANGED_PATHS, else not known); the delivery id is
`git:REF:SHA`, so the same push told twice starts one run.
"""

from __future__ import annotations

import json
import logging
import os
import re
import subprocess
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse
from starlette.concurrency import run_in_threadpool

from flowplan.server import deliveries
from flowplan.server.context import HookTarget, ServerContext
from flowplan.server.deliveries import (ACCEPTED, IGNORED, MALFORMED, PING, REJECTED, TOO_LARGE,
                                        Decision, Push)
from flowplan.server.launcher import LaunchRefused
from flowplan.store import DeliveryClaim, DeliveryRecord, DeliveryRedelivered

log = logging.getLogger("flowplan.server")

router = APIRouter()

GIT_HEADER = "x-flowplan-git"
GIT = "git"
MAX_GIT_REFS = 100
MAX_REF_LENGTH = 255
REF_NAME = re.compile(r"refs/(heads|tags)/[^\s~^:?*\[\\\x00-\x1f\x7f]+")
NAME = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.-]{0,254}")
DUPLICATE, REFUSED = "duplicate", "refused"


@dataclass(frozen=True)
class Answer:
    status: int
    body: dict[str, Any]

    def response(self) -> JSONResponse:
        return JSONResponse(self.body, status_code=self.status)


def error(status: int, message: str) -> Answer:
    return Answer(status, {"error": message})


async def receive(request: Request) -> JSONResponse:
    """Receive one webhook delivery (see the module's docstring for what is answered). A plain
    route: FastAPI's parameter solving would cost every delivery more than judging it."""
    name = str(request.path_params["name"])
    context: ServerContext = request.app.state.context
    target = context.hooks.last_read(name) if NAME.fullmatch(name) else None
    if target is None:              # not known a moment ago: look again (an apply since?)
        target = await run_in_threadpool(_target, context, name)
    if target is None:
        return _unknown(name).response()
    headers = {key.lower(): value for key, value in request.headers.items()}
    limit = context.max_body_bytes
    declared = headers.get("content-length")
    if declared is not None:
        if not declared.strip().isdigit():
            answer = error(400, "Content-Length is not a number")
            await run_in_threadpool(_record_refusal, context, target, headers, answer,
                                    MALFORMED)
            return answer.response()
        if int(declared) > limit:
            answer = error(413, f"body of {int(declared)} bytes is over the limit of {limit}")
            await run_in_threadpool(_record_refusal, context, target, headers, answer,
                                    TOO_LARGE)
            return answer.response()
    body = bytearray()
    async for chunk in request.stream():
        body += chunk
        if len(body) > limit:
            answer = error(413, f"body is over the limit of {limit} bytes")
            await run_in_threadpool(_record_refusal, context, target, headers, answer,
                                    TOO_LARGE)
            return answer.response()
    answer = await _answer(context, name, headers, bytes(body))
    return answer.response()


async def _answer(context: ServerContext, name: str, headers: Mapping[str, str],
                  body: bytes) -> Answer:
    """Answer a delivery whose body was read. The usual case, an accepted delivery of a webhook
    and pipeline unchanged since they were read, is judged on the event loop (no I/O but a few
    `stat`s) and its run recorded by the launcher's batch; the rest on a worker thread."""
    fresh, target = context.hooks.if_unchanged(name)
    if not fresh or target is None or target.problem is not None \
            or headers.get(GIT_HEADER, "").strip().lower() == "push":
        return await run_in_threadpool(_handle_named, context, name, headers, body)
    decision = deliveries.decide(headers, body, secret=target.secret or "",
                                 filters=target.filters, max_bytes=context.max_body_bytes)
    if decision.outcome != ACCEPTED:
        return await run_in_threadpool(_act_answering, context, target, decision)
    with context.launcher.answering():
        start = _start_arguments(target, decision)
        try:
            run = await context.launcher.start_soon(target.pipeline, **start)
        except DeliveryRedelivered as again:
            return await run_in_threadpool(_duplicate, context, target, again.original,
                                           _seen(decision))
        except LaunchRefused as exc:
            return await run_in_threadpool(_refused, context, target, decision, exc)
    return Answer(202, {"status": "accepted", "run": run.ref})


def _act_answering(context: ServerContext, target: HookTarget, decision: Decision) -> Answer:
    with context.launcher.answering():
        return _act(context, target, decision)


router.add_route("/hooks/{name}", receive, methods=["POST"], include_in_schema=False)


def _unknown(name: str) -> Answer:
    return error(404, f"no webhook named {name[:100]!r} has been applied")


def _handle_named(context: ServerContext, name: str, headers: Mapping[str, str],
                  body: bytes) -> Answer:
    target = _target(context, name)         # as applied now (the first look may be stale)
    if target is None:
        return _unknown(name)
    with context.launcher.answering():
        return handle(context, target, headers, body)


def _target(context: ServerContext, name: str) -> HookTarget | None:
    if not NAME.fullmatch(name):
        return None
    return context.hooks.get(name)


def handle(context: ServerContext, target: HookTarget, headers: Mapping[str, str],
           body: bytes) -> Answer:
    """Judge, record and act on one delivery whose body was read within the cap."""
    if target.problem is not None:
        answer = error(503, f"webhook {target.name} cannot take deliveries: {target.problem}")
        _record_refusal(context, target, headers, answer, REFUSED)
        return answer
    if headers.get(GIT_HEADER, "").strip().lower() == "push":
        return _git_push(context, target, body)
    decision = deliveries.decide(headers, body, secret=target.secret or "",
                                 filters=target.filters, max_bytes=context.max_body_bytes)
    return _act(context, target, decision)


def _act(context: ServerContext, target: HookTarget, decision: Decision) -> Answer:
    store = context.store
    seen = dict(sender=decision.sender, event=decision.event[:64],
                delivery_id=decision.delivery_id)
    if decision.outcome in (REJECTED, TOO_LARGE, MALFORMED):
        store.record_delivery(target.name, outcome=decision.outcome, status=decision.status,
                              reason=decision.reason, **seen)
        return error(decision.status, decision.reason)
    if decision.outcome == PING:
        store.record_delivery(target.name, outcome=PING, status=200, reason="ping", **seen)
        return Answer(200, {"status": "ping"})
    if decision.outcome == IGNORED:
        try:
            store.record_delivery(target.name, outcome=IGNORED, status=decision.status,
                                  reason=decision.reason, once=True, **seen)
        except DeliveryRedelivered as again:
            return _duplicate(context, target, again.original, seen)
        return Answer(202, {"status": "ignored", "reason": decision.reason})
    return _start(context, target, decision)


def _duplicate(context: ServerContext, target: HookTarget, original: DeliveryRecord,
               seen: Mapping[str, str]) -> Answer:
    reason = f"delivery {original.delivery_id} was {original.outcome} before"
    context.store.record_delivery(target.name, outcome=DUPLICATE, status=202, reason=reason,
                                  run_id=original.run_id, **seen)
    return Answer(202, {"status": "duplicate", "run": original.run})


def _start(context: ServerContext, target: HookTarget, decision: Decision) -> Answer:
    """Start the run of an accepted delivery, claiming its id as the run is recorded."""
    try:
        run = context.launcher.start(target.pipeline, **_start_arguments(target, decision))
    except DeliveryRedelivered as again:
        return _duplicate(context, target, again.original, _seen(decision))
    except LaunchRefused as exc:
        return _refused(context, target, decision, exc)
    return Answer(202, {"status": "accepted", "run": run.ref})


def _start_arguments(target: HookTarget, decision: Decision) -> dict[str, Any]:
    """Launcher.start's arguments for an accepted delivery (its claim included)."""
    assert target.pipeline is not None     # a target without one has a problem (503)
    push = decision.push
    pusher = push.pusher if push is not None and push.pusher else "unknown"
    return dict(trigger="webhook", user=f"{decision.sender}:{pusher}",
                variables=dict(target.variables) or None,
                branch=push.branch if push is not None else None,
                commit=push.commit if push is not None else None,
                delivery=DeliveryClaim(target.name, decision.delivery_id, decision.sender,
                                       decision.event[:64], decision.reason))


def _seen(decision: Decision) -> dict[str, str]:
    return dict(sender=decision.sender, event=decision.event[:64],
                delivery_id=decision.delivery_id)


def _refused(context: ServerContext, target: HookTarget, decision: Decision,
             exc: LaunchRefused) -> Answer:
    reason = f"{target.pipeline} was not started: {exc}"
    context.store.record_delivery(target.name, outcome=REFUSED, status=503, reason=reason,
                                  **_seen(decision))
    return error(503, reason)


def _record_refusal(context: ServerContext, target: HookTarget, headers: Mapping[str, str],
                    answer: Answer, outcome: str) -> None:
    sender = "git" if GIT_HEADER in headers else (
        "github" if "x-github-event" in headers or "x-hub-signature-256" in headers else
        "gitlab" if "x-gitlab-event" in headers or "x-gitlab-token" in headers else
        "generic" if "x-flowplan-token" in headers else "")
    context.store.record_delivery(target.name, outcome=outcome, status=answer.status,
                                  reason=answer.body["error"], sender=sender,
                                  event=headers.get("x-github-event", "")[:64])


# -- the git post-receive hook ---------------------------------------------------------------

@dataclass(frozen=True)
class GitRef:
    ref: str
    before: str


def _git_push(context: ServerContext, target: HookTarget, body: bytes) -> Answer:
    store = context.store

    def refuse(status: int, outcome: str, reason: str) -> Answer:
        store.record_delivery(target.name, outcome=outcome, status=status, reason=reason,
                              sender=GIT, event="push")
        return error(status, reason)

    if target.provider != GIT:
        return refuse(401, REJECTED, f"webhook {target.name} is a {target.provider} webhook: "
                                     "it takes no deliveries from the git hook")
    parsed = _git_body(body)
    if isinstance(parsed, str):
        return refuse(400, MALFORMED, parsed)
    repository, refs = parsed
    mine = _real_path(target.repository)
    if mine is None or _real_path(repository) != mine:
        return refuse(401, REJECTED, "the repository is not the one webhook "
                                     f"{target.name} watches")
    results = [_git_ref(context, target, mine, ref) for ref in refs]
    accepted = [r for r in results if r.body.get("status") == "accepted"]
    first = (accepted or results)[0]
    body_out = dict(first.body)
    body_out["refs"] = [{"ref": ref.ref, **result.body} for ref, result in zip(refs, results)]
    return Answer(202 if all(r.status == 202 for r in results) else first.status, body_out)


def _git_body(body: bytes) -> tuple[str, list[GitRef]] | str:
    """(repository, refs) from the git hook's JSON, or why it is malformed."""
    try:
        payload = json.loads(body.decode("utf-8"))
    except (UnicodeDecodeError, RecursionError, ValueError):
        return "body is not UTF-8 JSON"
    if not isinstance(payload, dict):
        return "body is not a JSON object"
    repository = payload.get("repository")
    refs = payload.get("refs")
    if not isinstance(repository, str) or not repository or "\0" in repository:
        return "body has no `repository` path"
    if not isinstance(refs, list) or not refs:
        return "body has no `refs`"
    if len(refs) > MAX_GIT_REFS:
        return f"body has more than {MAX_GIT_REFS} refs"
    out = []
    for item in refs:
        if not isinstance(item, dict) or not isinstance(item.get("ref"), str):
            return "each of `refs` needs `ref`, `before` and `after`"
        ref = item["ref"]
        if len(ref) > MAX_REF_LENGTH or not REF_NAME.fullmatch(ref) or ".." in ref:
            return f"{ref[:100]!r} is not a branch or tag ref"
        before = item.get("before")
        out.append(GitRef(ref, before if isinstance(before, str) else ""))
    return repository, out


def _real_path(path: str | None) -> str | None:
    if not path:
        return None
    try:
        return os.path.realpath(path)
    except (OSError, ValueError):
        return None


def _git_ref(context: ServerContext, target: HookTarget, repository: str,
             pushed: GitRef) -> Answer:
    """One pushed ref, read again from the repository, judged and acted on."""
    import git

    store = context.store
    try:
        repo = git.Repo(repository)
    except (git.exc.GitError, OSError) as exc:
        reason = f"the repository cannot be read: {type(exc).__name__}"
        store.record_delivery(target.name, outcome=REFUSED, status=503, reason=reason,
                              sender=GIT, event="push")
        return error(503, reason)
    with repo:
        head = _commit_of(repo, pushed.ref)
        if head is None:
            reason = f"{pushed.ref} does not exist in the repository (deleted, or never pushed)"
            store.record_delivery(target.name, outcome=IGNORED, status=202, reason=reason,
                                  sender=GIT, event="push", delivery_id=f"git:{pushed.ref}:-")
            return Answer(202, {"status": "ignored", "reason": reason})
        committer = repo.commit(head).committer.name or "unknown"
    paths, known = _changed_paths(repository, pushed.before, head)
    branch = pushed.ref.removeprefix("refs/heads/") if pushed.ref.startswith("refs/heads/") \
        else None
    tag = pushed.ref.removeprefix("refs/tags/") if branch is None else None
    push = Push(pushed.ref, branch, tag, head, committer, paths, known)
    what = f"branch {branch!r}" if branch is not None else f"tag {tag!r}"
    if "push" not in target.filters.events:
        refusal: str | None = f"event 'push' is not one of {', '.join(target.filters.events)}"
    else:
        refusal = deliveries.push_refusal(push, target.filters)
    decision = Decision(IGNORED if refusal else ACCEPTED, 202,
                        refusal or f"push to {what} at {head[:12]}", GIT, "push",
                        f"git:{pushed.ref}:{head}", push)
    return _act(context, target, decision)


def _commit_of(repo: Any, ref: str) -> str | None:
    """The commit `ref` points at in `repo`, or None when there is no such ref."""
    import git

    try:
        sha = repo.git.rev_parse("--verify", "--quiet", f"{ref}^{{commit}}")
    except git.exc.GitCommandError:
        return None
    sha = sha.strip()
    return sha if deliveries.COMMIT_SHA.fullmatch(sha) else None


def _changed_paths(repository: str, before: str, head: str) -> tuple[tuple[str, ...], bool]:
    """Paths changed from `before` to `head`, and whether that is all of them: not known when
    `before` is not a commit of the repository (a new branch) or the list is over the cap."""
    if not deliveries.COMMIT_SHA.fullmatch(before or "") or deliveries.ZERO_SHA.fullmatch(before):
        return (), False
    limit = deliveries.MAX_CHANGED_PATHS
    command = ["git", "-C", repository, "diff", "--name-only", "-z", "--no-renames",
               f"{before}..{head}", "--"]
    try:
        process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
                                   env={**os.environ, "GIT_TERMINAL_PROMPT": "0"})
    except OSError:
        return (), False
    paths: list[str] = []
    known = True
    buffered = b""
    assert process.stdout is not None
    with process:
        while True:
            chunk = process.stdout.read(65536)
            if not chunk:
                break
            buffered += chunk
            *names, buffered = buffered.split(b"\0")
            paths.extend(n.decode("utf-8", "replace") for n in names)
            if len(paths) > limit or len(buffered) > 65536:
                known = False
                process.kill()
                break
        if process.wait() != 0:
            known = False
    return tuple(paths[:limit]), known and len(paths) <= limit
