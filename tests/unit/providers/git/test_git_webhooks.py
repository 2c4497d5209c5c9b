"""The git provider through flowplan's engine, with real repositories: apply installs an
executable, marked post-receive hook (bare, working tree, core.hooksPath) holding no secret; a
foreign hook is refused and never touched; destroy removes only flowplan's; a hook removed or
altered by hand is drift; a real `git push` reaches the server with the refs, and a push still
succeeds when the server is down; repository paths with spaces and quotes work."""

from __future__ import annotations

import json
import os
import stat
import sys
from pathlib import Path

import pytest

from flowplan import engine
from flowplan.diagnostics import DiagnosticsError
from inline import actions_of, apply_all, change_of, inline_config, plan_of

from conftest import bare_repository, git, push_a_commit, working_tree

ZERO = "0" * 40


def problems(raised) -> str:
    return "\n".join(f"{d.summary}: {d.detail}" for d in raised.value.diagnostics)


def config(repository: str | Path, url: str, extra: str = "") -> str:
    return f"""
flowplan {{
  server {{
    url = "{url}"
  }}
}}
pipeline "ci" {{
  stage "build" {{
    task "t" {{
      step "s" {{
        type = "command"
        run  = "true"
      }}
    }}
  }}
}}
webhook "ci" {{
  provider   = "git"
  pipeline   = pipeline.ci
  repository = {json.dumps(str(repository))}
  branches   = ["main"]
  {extra}
}}
"""


def load(tmp_path, repository, url, extra="", providers=None):
    return inline_config(tmp_path / "config", config(repository, url, extra),
                         providers=providers)


def test_apply_installs_an_executable_marked_hook_into_a_bare_repository(tmp_path, receiver):
    bare = bare_repository(tmp_path / "app.git")
    workspace = load(tmp_path, bare, receiver.url)
    change = change_of(plan_of(workspace), "webhook.ci")
    assert change.after["id"] == str(bare.resolve() / "hooks" / "post-receive")
    apply_all(workspace)

    hook = bare / "hooks" / "post-receive"
    text = hook.read_text()
    assert text.splitlines()[1] == "# flowplan webhook ci \u2014 managed by flowplan apply"
    assert f"-m flowplan_providers.git.post_receive {receiver.url}/hooks/ci" in text
    assert text.splitlines()[-1].startswith(f"exec {sys.executable}")
    assert hook.stat().st_mode & stat.S_IXUSR
    recorded = workspace.backend.read().get("webhook.ci").attributes
    assert recorded["git_dir"] == str(bare.resolve())
    assert recorded["url"] == f"{receiver.url}/hooks/ci"
    assert actions_of(plan_of(workspace))["webhook.ci"] == "no-op"


def test_working_tree_hook_goes_under_dot_git_and_core_hooks_path_is_respected(tmp_path,
                                                                               receiver):
    tree = working_tree(tmp_path / "tree")
    apply_all(load(tmp_path, tree, receiver.url))
    assert (tree / ".git" / "hooks" / "post-receive").is_file()

    other = working_tree(tmp_path / "other")
    git("config", "core.hooksPath", "ci/hooks", cwd=other)
    workspace = load(tmp_path, other, receiver.url)
    apply_all(workspace)
    assert (other / ".git" / "ci" / "hooks" / "post-receive").is_file(), \
        "git runs push hooks in the git directory, and takes a relative hooksPath from there"
    assert not (other / ".git" / "hooks" / "post-receive").exists()
    assert workspace.backend.read().get("webhook.ci").attributes["git_dir"] == \
        str((other / ".git").resolve())


def test_relative_repository_is_taken_from_the_config_directory(tmp_path, receiver):
    bare = bare_repository(tmp_path / "repos" / "app.git")
    apply_all(load(tmp_path, "../repos/app.git", receiver.url))
    assert (bare / "hooks" / "post-receive").is_file()


def test_a_foreign_hook_is_refused_at_plan_and_left_untouched(tmp_path, receiver):
    bare = bare_repository(tmp_path / "app.git")
    foreign = bare / "hooks" / "post-receive"
    foreign.write_text("#!/bin/sh\necho deploying\n")
    with pytest.raises(DiagnosticsError) as raised:
        plan_of(load(tmp_path, bare, receiver.url))
    text = problems(raised)
    assert "is not flowplan's" in text and "never overwrites" in text
    assert foreign.read_text() == "#!/bin/sh\necho deploying\n"


def test_not_a_repository_is_a_clear_error(tmp_path, receiver):
    (tmp_path / "plain").mkdir()
    for repository, expected in ((tmp_path / "plain", "is not a git repository"),
                                 (tmp_path / "missing", "does not exist")):
        with pytest.raises(DiagnosticsError) as raised:
            plan_of(load(tmp_path, repository, receiver.url))
        assert expected in problems(raised)


def test_destroy_removes_only_flowplans_hook(tmp_path, receiver):
    bare = bare_repository(tmp_path / "app.git")
    workspace = load(tmp_path, bare, receiver.url)
    apply_all(workspace)
    apply_all(workspace, destroy=True)
    assert not (bare / "hooks" / "post-receive").exists()

    apply_all(workspace)
    hook = bare / "hooks" / "post-receive"
    hook.write_text("#!/bin/sh\necho theirs now\n")
    events: list = []
    plan_of(workspace, events=events, destroy=True)
    assert any("was replaced" in str(vars(e)) for e in events)
    applied = apply_all(workspace, destroy=True)
    assert hook.read_text() == "#!/bin/sh\necho theirs now\n"
    assert applied.result is None or applied.result.ok


def test_a_hook_removed_by_hand_is_installed_again(tmp_path, receiver):
    bare = bare_repository(tmp_path / "app.git")
    workspace = load(tmp_path, bare, receiver.url)
    apply_all(workspace)
    (bare / "hooks" / "post-receive").unlink()
    assert actions_of(plan_of(workspace))["webhook.ci"] == "create"
    apply_all(workspace)
    assert (bare / "hooks" / "post-receive").is_file()


def test_an_altered_hook_is_drift_and_is_written_again(tmp_path, receiver):
    bare = bare_repository(tmp_path / "app.git")
    workspace = load(tmp_path, bare, receiver.url)
    apply_all(workspace)
    hook = bare / "hooks" / "post-receive"
    expected = hook.read_text()
    hook.write_text(expected.replace(f"{receiver.url}/hooks/ci", "http://127.0.0.1:1/x"))
    change = change_of(plan_of(workspace), "webhook.ci")
    assert change.action.value == "update"
    assert change.before["url"] == "http://127.0.0.1:1/x"
    apply_all(workspace)
    assert hook.read_text() == expected

    os.chmod(hook, 0o644)
    assert actions_of(plan_of(workspace))["webhook.ci"] == "update"
    apply_all(workspace)
    assert hook.stat().st_mode & stat.S_IXUSR


def test_a_push_reaches_the_server_with_the_refs(tmp_path, receiver):
    bare = bare_repository(tmp_path / "app.git")
    apply_all(load(tmp_path, bare, receiver.url))
    pushed = push_a_commit(bare, tmp_path / "clone")
    assert pushed.returncode == 0, pushed.stderr
    assert "remote: flowplan: ci#7 started" in pushed.stderr

    [delivery] = receiver.deliveries
    head = git("rev-parse", "HEAD", cwd=tmp_path / "clone").stdout.strip()
    assert delivery.path == "/hooks/ci"
    assert delivery.body == {"repository": str(bare.resolve()),
                             "refs": [{"ref": "refs/heads/main", "before": ZERO,
                                       "after": head}]}
    assert delivery.headers["Content-Type"] == "application/json"
    assert delivery.headers["X-Flowplan-Git"] == "push"
    assert delivery.headers["User-Agent"] == "flowplan-post-receive"


def test_an_ignored_push_shows_the_servers_reason(tmp_path, receiver):
    bare = bare_repository(tmp_path / "app.git")
    apply_all(load(tmp_path, bare, receiver.url))
    receiver.answer = json.dumps({"status": "ignored",
                                  "reason": "branch feature is not in branches"}).encode()
    pushed = push_a_commit(bare, tmp_path / "clone", ref="feature")
    assert pushed.returncode == 0
    assert "remote: flowplan: nothing started: branch feature is not in branches" in \
        pushed.stderr


def test_a_push_succeeds_when_the_server_is_down(tmp_path):
    import socket

    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    url = f"http://127.0.0.1:{listener.getsockname()[1]}"
    listener.close()
    bare = bare_repository(tmp_path / "app.git")
    apply_all(load(tmp_path, bare, url))
    pushed = push_a_commit(bare, tmp_path / "clone")
    assert pushed.returncode == 0, pushed.stderr
    assert "could not reach the flowplan server" in pushed.stderr
    assert "the push went through" in pushed.stderr
    assert git("rev-parse", "main", cwd=bare).returncode == 0


def test_paths_with_spaces_and_quotes_work_end_to_end(tmp_path, receiver):
    bare = bare_repository(tmp_path / "team's \"odd\" $repos" / "my app.git")
    apply_all(load(tmp_path, bare, receiver.url))
    pushed = push_a_commit(bare, tmp_path / "clone")
    assert pushed.returncode == 0, pushed.stderr
    assert "flowplan: ci#7 started" in pushed.stderr
    assert receiver.deliveries[0].body["repository"] == str(bare.resolve())


def test_the_hook_holds_only_the_interpreter_and_the_url(tmp_path, receiver):
    bare = bare_repository(tmp_path / "app.git")
    apply_all(load(tmp_path, bare, receiver.url))
    from flowplan_providers.git.hooks import script

    text = (bare / "hooks" / "post-receive").read_text()
    assert text == script("ci", f"{receiver.url}/hooks/ci", sys.executable)
    assert [line for line in text.splitlines() if not line.startswith("#")] == [
        f"exec {sys.executable} -m flowplan_providers.git.post_receive "
        f"{receiver.url}/hooks/ci"]


def test_import_adopts_flowplans_hook_and_the_next_plan_is_clean(tmp_path, receiver):
    bare = bare_repository(tmp_path / "app.git")
    workspace = load(tmp_path, bare, receiver.url)
    apply_all(workspace)
    engine.remove_from_state(workspace, "webhook.ci")
    imported = engine.import_resource(workspace, "webhook.ci", str(bare))
    assert imported.attributes["id"] == str(bare.resolve() / "hooks" / "post-receive")
    assert actions_of(plan_of(workspace))["webhook.ci"] == "no-op"


def test_import_refuses_a_foreign_hook(tmp_path, receiver):
    bare = bare_repository(tmp_path / "app.git")
    (bare / "hooks" / "post-receive").write_text("#!/bin/sh\n")
    workspace = load(tmp_path, bare, receiver.url)
    with pytest.raises(DiagnosticsError) as raised:
        engine.import_resource(workspace, "webhook.ci", str(bare))
    assert "is not flowplan's" in problems(raised)
    assert "webhook.ci" not in workspace.backend.read()


def test_a_push_into_a_working_tree_with_its_own_hooks_path_reaches_the_server(tmp_path,
                                                                              receiver):
    tree = working_tree(tmp_path / "tree")
    git("config", "core.hooksPath", "ci/hooks", cwd=tree)
    apply_all(load(tmp_path, tree, receiver.url))
    pushed = push_a_commit(tree, tmp_path / "clone", ref="feature")
    assert pushed.returncode == 0, pushed.stderr
    assert "remote: flowplan: ci#7 started" in pushed.stderr
    [delivery] = receiver.deliveries
    assert delivery.body["repository"] == str((tree / ".git").resolve())
    assert delivery.body["refs"][0]["ref"] == "refs/heads/feature"


def test_a_linked_work_tree_uses_the_hooks_of_its_main_repository(tmp_path, receiver):
    main = working_tree(tmp_path / "main")
    git("commit", "-q", "--allow-empty", "-m", "first", cwd=main)
    git("worktree", "add", "-q", str(tmp_path / "linked"), "-b", "feature", cwd=main)
    workspace = load(tmp_path, tmp_path / "linked", receiver.url)
    apply_all(workspace)
    assert (main / ".git" / "hooks" / "post-receive").is_file()
    assert workspace.backend.read().get("webhook.ci").attributes["id"] == \
        str((main / ".git" / "hooks" / "post-receive").resolve())


SECRET_VARIABLE = 'variable "webhook_secret" {\n  sensitive = true\n}\n'


def test_a_secret_from_a_sensitive_variable_is_kept_as_a_digest_never_in_the_hook(tmp_path,
                                                                                  receiver):
    bare = bare_repository(tmp_path / "app.git")
    text = SECRET_VARIABLE + config(bare, receiver.url, "secret = var.webhook_secret")
    workspace = inline_config(tmp_path / "config", text, {"webhook_secret": "s3cret-hook-value"})
    apply_all(workspace)
    recorded = workspace.backend.read().get("webhook.ci").attributes
    assert set(recorded["secret"]) == {"$sensitive"}
    assert "s3cret-hook-value" not in (bare / "hooks" / "post-receive").read_text()
    assert "s3cret-hook-value" not in (tmp_path / "config" / ".flowplan" / "state.json").read_text()
    assert actions_of(plan_of(workspace))["webhook.ci"] == "no-op"


def test_a_secret_written_into_the_config_is_refused_even_by_validate(tmp_path, receiver):
    bare = bare_repository(tmp_path / "app.git")
    workspace = load(tmp_path, bare, receiver.url, 'secret = "in-the-file"')
    for attempt in (lambda: plan_of(workspace),
                    lambda: engine.validate(tmp_path / "config", {}, {},
                                            registry=workspace.registry)):
        with pytest.raises(DiagnosticsError) as raised:
            attempt()
        assert "`secret` is written into the config" in problems(raised)
    assert not (bare / "hooks" / "post-receive").exists()
