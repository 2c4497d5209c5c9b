"""The post-receive sender in-process: git's `OLD NEW REF` lines parsed strictly, the server's
answer turned into one safe line for the pusher (a run started, why not, an error status, a
hostile or broken answer), redirects not followed, and never a failed push. Also the hook file
checks of flowplan_providers.git.hooks that the end-to-end tests do not reach."""

from __future__ import annotations

import io
import json
import os
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from flowplan_providers.git import hooks, post_receive
from flowplan_providers.git.post_receive import _said, main, read_refs, repository_path

A, B = "a" * 40, "b" * 40


def test_read_refs_keeps_only_well_formed_lines():
    lines = io.StringIO(
        f"{A} {B} refs/heads/main\n"
        f"{A} {B} refs/tags/v1.0\n"
        f"{A} {B}\n"                                   # no ref
        f"{A} {'z' * 40} refs/heads/x\n"               # not an object id
        f"{A} {B} HEAD\n"                              # not under refs/
        f"{A} {B} refs/heads/a\x1b[31m\n"              # a control character
        f"{A} {B} refs/heads/with space\n"
        f"{'c' * 64} {'d' * 64} refs/heads/sha256\n")
    assert read_refs(lines) == [
        {"ref": "refs/heads/main", "before": A, "after": B},
        {"ref": "refs/tags/v1.0", "before": A, "after": B},
        {"ref": "refs/heads/sha256", "before": "c" * 64, "after": "d" * 64}]


def test_read_refs_is_bounded():
    lines = io.StringIO("".join(f"{A} {B} refs/heads/b{n}\n" for n in range(5000)))
    assert len(read_refs(lines)) == post_receive.MAX_REFS


@pytest.mark.parametrize("status,answer,line", [
    (202, {"run": "ci#7"}, "flowplan: ci#7 started"),
    (202, {"run": ["ci#7", "ci#8"]}, "flowplan: ci#7, ci#8 started"),
    (202, {"status": "ignored", "reason": "branch dev is not in branches"},
     "flowplan: nothing started: branch dev is not in branches"),
    (200, {}, "flowplan: nothing started: ignored"),
    (404, {"detail": "no webhook named ci"},
     "flowplan: the server answered 404: no webhook named ci; no run was started"),
    (500, "<html>oops</html>", "flowplan: the server answered 500; no run was started"),
    (202, {"run": "ci#7\x1b[2J\u202eevil"}, "flowplan: ci#7[2Jevil started"),
])
def test_the_servers_answer_becomes_one_safe_line(status, answer, line):
    data = answer.encode() if isinstance(answer, str) else json.dumps(answer).encode()
    assert _said(status, data) == line


def test_a_long_reason_is_cut_short():
    said = _said(202, json.dumps({"reason": "x" * 5000}).encode())
    assert len(said) < 300 and said.endswith("...")


def test_repository_is_git_dir_resolved(tmp_path):
    (tmp_path / "repo.git").mkdir()
    assert repository_path({"GIT_DIR": "."}, str(tmp_path / "repo.git")) == \
        str((tmp_path / "repo.git").resolve())
    assert repository_path({"GIT_DIR": ".git"}, str(tmp_path)) == str(tmp_path / ".git")
    assert repository_path({}, str(tmp_path)) == str(tmp_path)


@pytest.fixture
def server():
    """A server answering what `answers` holds next (status, headers, body)."""
    answers: list = []

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args) -> None:
            pass

        def do_POST(self) -> None:
            self.rfile.read(int(self.headers.get("Content-Length") or 0))
            status, headers, body = answers.pop(0)
            self.send_response(status)
            for name, value in headers.items():
                self.send_header(name, value)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=httpd.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}", answers
    httpd.shutdown()
    httpd.server_close()


def test_a_redirect_is_not_followed(server):
    url, answers = server
    answers.append((302, {"Location": "http://127.0.0.1:1/elsewhere"}, b""))
    assert post_receive.notify(url + "/hooks/ci", "/r", [{"ref": "refs/heads/main"}]) == \
        "flowplan: the server answered 302; no run was started"


def test_a_huge_answer_is_read_only_in_part(server):
    url, answers = server
    answers.append((202, {"Content-Type": "application/json"},
                    b'{"run": "ci#1", "pad": "' + b"x" * 500_000 + b'"}'))
    said = post_receive.notify(url + "/hooks/ci", "/r", [])
    assert said == "flowplan: nothing started: ignored", "cut short, it is not JSON any more"


def test_main_always_exits_zero(tmp_path, monkeypatch):
    err = io.StringIO()
    assert main([], io.StringIO(f"{A} {B} refs/heads/main\n"), err, {}) == 0
    assert "needs the delivery URL" in err.getvalue()

    monkeypatch.chdir(tmp_path)
    err = io.StringIO()
    assert main(["not a url"], io.StringIO(f"{A} {B} refs/heads/main\n"), err, {}) == 0
    assert "the push went through" in err.getvalue()

    def broken(*args, **kwargs):
        raise RuntimeError("unexpected")
    monkeypatch.setattr(post_receive, "notify", broken)
    err = io.StringIO()
    assert main(["http://127.0.0.1:1/hooks/ci"], io.StringIO(f"{A} {B} refs/heads/main\n"),
                err, {}) == 0
    assert "the post-receive hook failed (RuntimeError)" in err.getvalue()


def test_main_says_nothing_without_refs():
    err = io.StringIO()
    assert main(["http://127.0.0.1:1/hooks/ci"], io.StringIO("garbage\n"), err, {}) == 0
    assert err.getvalue() == ""


# -- the hook file --------------------------------------------------------------------------

def test_a_symlink_or_directory_at_the_hook_path_is_not_flowplans(tmp_path):
    target = tmp_path / "elsewhere"
    target.write_text(hooks.script("ci", "http://x/hooks/ci"))
    link = tmp_path / "post-receive"
    os.symlink(target, link)
    assert hooks.inspect(link).name is None
    location = hooks.Location(tmp_path, link, True)
    with pytest.raises(hooks.HookError, match="not flowplan's"):
        hooks.install(location, "ci", hooks.script("ci", "http://x/hooks/ci"))
    assert target.read_text() == hooks.script("ci", "http://x/hooks/ci")


def test_another_webhooks_hook_is_not_taken_over(tmp_path):
    path = tmp_path / "post-receive"
    location = hooks.Location(tmp_path, path, True)
    hooks.install(location, "one", hooks.script("one", "http://x/hooks/one"))
    with pytest.raises(hooks.HookError, match="the hook of webhook.one"):
        hooks.install(location, "two", hooks.script("two", "http://x/hooks/two"))
    assert "webhook.one" in hooks.remove(path, "two")
    assert path.exists()


def test_the_script_quotes_what_the_shell_would_read(tmp_path):
    text = hooks.script("ci", "http://x/hooks/ci?a=1&b=$(id)", "/opt/my python/'bin'/python")
    exec_line = text.splitlines()[-1]
    assert exec_line == ("exec '/opt/my python/'\"'\"'bin'\"'\"'/python' -m "
                         "flowplan_providers.git.post_receive 'http://x/hooks/ci?a=1&b=$(id)'")
    path = tmp_path / "post-receive"
    path.write_text(text)
    assert hooks.inspect(path).url == "http://x/hooks/ci?a=1&b=$(id)"
