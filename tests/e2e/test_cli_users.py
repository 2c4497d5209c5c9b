"""`flowplan user` and `flowplan token` through the real command: a password typed twice on a
terminal (a pseudo-terminal, as getpass reads it) or piped, roles granted, a token printed once
that opens the API's door (flowplan.server.auth), and the store's file holding no password or
token in clear."""

from __future__ import annotations

import json
import os
import pty
import re
import select
import time

from flowplan.server.auth import Authenticator
from flowplan.store import Store

PASSWORD = "typed-on-a-terminal-73"
TOKEN = re.compile(r"fpt_([0-9a-f]{16})_[A-Za-z0-9_-]{43}")


def on_terminal(workspace, args: list[str], answers: list[str], timeout: float = 30):
    """Run flowplan with a pseudo-terminal as its controlling terminal; answer each prompt
    ending in ': ' with the next of `answers`. Returns (exit code, everything it printed)."""
    command = workspace.command(*args)
    env = workspace.base_env()
    pid, fd = pty.fork()
    if pid == 0:                                   # the child: the pty is its terminal
        try:
            os.chdir(workspace.root)
            os.execvpe(command[0], command, env)
        finally:
            os._exit(127)
    printed, pending, answered_at = b"", list(answers), 0
    deadline = time.monotonic() + timeout
    try:
        while True:
            if time.monotonic() > deadline:
                os.kill(pid, 9)
                raise AssertionError(f"flowplan {' '.join(args)} did not finish: {printed!r}")
            ready, _, _ = select.select([fd], [], [], 0.2)
            if not ready:
                continue
            try:
                chunk = os.read(fd, 4096)
            except OSError:                        # the child closed the terminal: it ended
                break
            if not chunk:
                break
            printed += chunk
            if pending and printed[answered_at:].endswith(b": "):   # a new prompt, waiting
                os.write(fd, pending.pop(0).encode() + b"\n")
                answered_at = len(printed)
    finally:
        os.close(fd)
        _, status = os.waitpid(pid, 0)
    return os.waitstatus_to_exitcode(status), printed.decode("utf-8", "replace")


def store_bytes(workspace) -> bytes:
    return b"".join(path.read_bytes()
                    for path in sorted(workspace.store_path.parent.glob("flowplan.db*")))


def test_a_password_typed_twice_on_a_terminal_is_stored_as_a_hash(workspace):
    workspace.write("flowplan {}\n")
    code, printed = on_terminal(workspace, ["user", "add", "alice", "--role", "release"],
                                [PASSWORD, PASSWORD])
    assert code == 0, printed
    assert "Password for alice: " in printed and "Again: " in printed
    assert PASSWORD not in printed                 # hidden: not echoed
    assert "Added user alice with roles release." in printed
    with Store.open(f"sqlite:///{workspace.store_path}") as store:
        assert Authenticator(store).check_password("alice", PASSWORD) == "alice"
        assert store.role_members("release") == ["alice"]
    assert PASSWORD.encode() not in store_bytes(workspace)


def test_two_different_passwords_on_a_terminal_store_nothing(workspace):
    workspace.write("flowplan {}\n")
    code, printed = on_terminal(workspace, ["user", "add", "alice"],
                                [PASSWORD, PASSWORD + "x"])
    assert code == 1, printed
    assert "the two passwords differ; nothing stored" in printed
    with Store.open(f"sqlite:///{workspace.store_path}") as store:
        assert store.get_user("alice") is None


def test_users_and_tokens_through_the_command_keep_no_secret_in_the_store(workspace,
                                                                         run_flowplan):
    workspace.write("flowplan {}\n")
    added = run_flowplan("user", "add", "bob", "--role", "deployers", input="piped-password-9\n")
    assert added.code == 0, str(added)
    created = run_flowplan("token", "create", "bob", "--description", "ci")
    assert created.code == 0, str(created)
    token = created.stdout.strip()
    token_id = TOKEN.fullmatch(token).group(1)
    assert "shown only once" in created.stderr

    listed = json.loads(run_flowplan("user", "list", "--json").stdout)
    assert [(u["name"], u["roles"]) for u in listed] == [("bob", ["deployers"])]
    tokens = run_flowplan("token", "list", "bob")
    assert token_id in tokens.stdout and token not in tokens.stdout

    written = store_bytes(workspace)
    assert token_id.encode() in written            # the right files were read
    for clear in ("piped-password-9", token, token.split("_", 2)[2]):
        assert clear.encode() not in written

    with Store.open(f"sqlite:///{workspace.store_path}") as store:
        assert Authenticator(store).user_for_token(token) == "bob"
    revoked = run_flowplan("token", "revoke", token_id)
    assert revoked.code == 0, str(revoked)
    removed = run_flowplan("user", "rm", "bob")
    assert removed.code == 0 and "still in roles deployers" in removed.stderr
    with Store.open(f"sqlite:///{workspace.store_path}") as store:
        assert Authenticator(store).user_for_token(token) is None
        assert [c.kind for c in store.changes(subject="bob")] == [
            "user add", "token create", "token revoke", "user rm"]
