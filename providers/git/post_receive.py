"""The `post-receive` hook's sender: tells `flowplan serve` which refs a push updated.

git runs the installed hook in the repository after a push, with one `OLD NEW REF` line per
updated ref on standard input; the hook execs

    python -m flowplan_providers.git.post_receive <server url>/hooks/NAME

which POSTs `{"repository": "<GIT_DIR, absolute>", "refs": [{"ref", "before", "after"}, ...]}`
as JSON (headers `X-Flowplan-Git: push`, `User-Agent: flowplan-post-receive`) and prints the
server's answer on one line of standard error, which git shows the pusher as `remote: ...`
(`flowplan: ci#7 started`, or why nothing was started). It carries no secret: the server trusts
none of this, reads the refs again from the repository itself and runs what is really there.

It never fails the push: whatever happens (server down, an error answer, garbage), it exits 0 and
says so. Standard library only, and nothing of flowplan imported, so it starts fast.
"""

from __future__ import annotations

import json
import os
import re
import sys
import urllib.error
import urllib.request
from typing import Any, TextIO

TIMEOUT = 10.0                              # seconds for the whole request
MAX_REFS = 1000                             # refs sent at most (a mirror push can hold more)
MAX_ANSWER = 64 * 1024                      # bytes of the answer read at most
MAX_SHOWN = 200                             # characters of the server's text shown at most
_OBJECT = re.compile(r"[0-9a-f]{40}([0-9a-f]{24})?\Z")
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029\u202a-\u202e\u2066-\u2069]")


def read_refs(lines: TextIO) -> list[dict[str, str]]:
    """The `OLD NEW REF` lines of git's post-receive protocol as {ref, before, after}; lines that
    are not that shape are skipped."""
    refs = []
    for line in lines:
        parts = line.rstrip("\n").split(" ")
        if len(parts) != 3:
            continue
        before, after, ref = parts
        if _OBJECT.match(before) and _OBJECT.match(after) and ref.startswith("refs/") \
                and not _CONTROL.search(ref):
            refs.append({"ref": ref, "before": before, "after": after})
            if len(refs) >= MAX_REFS:
                break
    return refs


def repository_path(environ: dict[str, str], cwd: str) -> str:
    """GIT_DIR (git sets it for hooks: `.` in a bare repository, `.git` in a working tree)
    resolved to an absolute path."""
    return os.path.realpath(os.path.join(cwd, environ.get("GIT_DIR") or "."))


def notify(url: str, repository: str, refs: list[dict[str, str]],
           timeout: float = TIMEOUT) -> str:
    """POST the push to `url`; the line to show the pusher."""
    body = json.dumps({"repository": repository, "refs": refs}).encode()
    request = urllib.request.Request(url, data=body, method="POST", headers={
        "Content-Type": "application/json", "X-Flowplan-Git": "push",
        "User-Agent": "flowplan-post-receive"})
    opener = urllib.request.build_opener(_NoRedirect())
    try:
        with opener.open(request, timeout=timeout) as response:
            return _said(response.status, response.read(MAX_ANSWER))
    except urllib.error.HTTPError as error:
        try:
            data = error.read(MAX_ANSWER)
        except OSError:
            data = b""
        return _said(error.code, data)
    except (urllib.error.URLError, OSError, ValueError) as error:
        reason = getattr(error, "reason", error)
        return (f"flowplan: could not reach the flowplan server at {_clean(url)} "
                f"({_clean(str(reason))}); the push went through, but no run was started")


def _said(status: int, data: bytes) -> str:
    """What the server's answer means for the pusher, on one line."""
    try:
        answer: Any = json.loads(data.decode("utf-8"))
    except (ValueError, UnicodeDecodeError):
        answer = None
    if not isinstance(answer, dict):
        answer = {}
    run = answer.get("run")
    reason = next((answer[k] for k in ("reason", "detail", "message", "error")
                   if isinstance(answer.get(k), str) and answer[k]), None)
    if 200 <= status < 300 and isinstance(run, str) and run:
        return f"flowplan: {_clean(run)} started"
    if isinstance(run, list) and run and all(isinstance(r, str) for r in run):
        return f"flowplan: {_clean(', '.join(run))} started"
    if 200 <= status < 300:
        return f"flowplan: nothing started: {_clean(reason or answer.get('status') or 'ignored')}"
    return (f"flowplan: the server answered {status}"
            f"{': ' + _clean(reason) if reason else ''}; no run was started")


def _clean(text: Any) -> str:
    """Server text fit for the pusher's terminal: no control or bidi characters, short."""
    text = _CONTROL.sub("", str(text))
    return text if len(text) <= MAX_SHOWN else text[:MAX_SHOWN] + "..."


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    """A redirect is an answer (shown as its status), never followed elsewhere."""

    def redirect_request(self, *args: Any, **kwargs: Any) -> None:
        return None


def main(argv: list[str] | None = None, stdin: TextIO | None = None,
         stderr: TextIO | None = None, environ: dict[str, str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    stderr = stderr or sys.stderr
    try:
        if len(argv) != 1:
            stderr.write("flowplan: the post-receive hook needs the delivery URL; reinstall it "
                         "with flowplan apply\n")
            return 0
        refs = read_refs(stdin or sys.stdin)
        if not refs:
            return 0
        repository = repository_path(dict(os.environ if environ is None else environ),
                                     os.getcwd())
        stderr.write(notify(argv[0], repository, refs) + "\n")
    except Exception as error:  # noqa: BLE001 - a hook must never fail the push
        stderr.write(f"flowplan: the post-receive hook failed ({type(error).__name__}); "
                     "the push went through, but no run was started\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
