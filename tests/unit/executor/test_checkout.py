"""Checking out sources from real git repositories made here: branches, tags, commits, depth,
submodules, errors a user can act on, and credentials that never land in the workspace."""

from __future__ import annotations

import os
import stat
import subprocess
from datetime import datetime
from pathlib import Path
from types import SimpleNamespace

import pytest
from git import Actor, Repo

from flowplan.executor.run.checkout import (
    CheckoutError,
    checkout,
    display_url,
    https_credential_environment,
    ssh_key_environment,
    transport_of,
)

ADA = Actor("Ada Lovelace", "ada@example.com")


def commit_file(repo: Repo, name: str, text: str, message: str):
    Path(repo.working_tree_dir, name).write_text(text)
    repo.index.add([name])
    return repo.index.commit(message, author=ADA, committer=ADA)


def new_repo(path: Path) -> Repo:
    repo = Repo.init(path, initial_branch="master")
    with repo.config_writer() as config:
        config.set_value("user", "name", ADA.name)
        config.set_value("user", "email", ADA.email)
    return repo


@pytest.fixture(scope="module")
def origin(tmp_path_factory):
    """app: master (first, tagged v1.0; second; a commit adding submodule lib) and feature."""
    root = tmp_path_factory.mktemp("origin")
    lib = new_repo(root / "lib")
    commit_file(lib, "lib.txt", "library\n", "Library")
    app = new_repo(root / "app")
    first = commit_file(app, "README.md", "v1\n", "First commit")
    app.create_tag("v1.0", ref=first, message="Release 1.0")
    second = commit_file(app, "README.md", "v2\n", "Second commit")
    app.create_head("feature", second).checkout()
    feature = commit_file(app, "feature.txt", "feature\n", "Feature work")
    app.heads.master.checkout()
    app.git.execute(["git", "-c", "protocol.file.allow=always", "submodule", "add",
                     str(root / "lib"), "lib"])
    app.git.commit("-m", "Add lib submodule\n\nWith a body.")
    return SimpleNamespace(path=root / "app", url=str(root / "app"), first=first.hexsha,
                           second=second.hexsha, feature=feature.hexsha,
                           head=app.head.commit.hexsha)


def source(origin, **fields) -> dict:
    return {"name": "app", "url": origin.url, "branch": None, "tag": None, "commit": None,
            "depth": None, "submodules": None, "credentials": None} | fields


def test_clone_checks_out_the_default_branch_and_reports_its_head(origin, tmp_path):
    result = checkout(source(origin), tmp_path / "ws")

    assert result.commit == origin.head
    assert result.short == origin.head[:len(result.short)] and 7 <= len(result.short) < 40
    assert result.branch == "master"
    assert (result.author, result.author_email) == ("Ada Lovelace", "ada@example.com")
    assert result.message == "Add lib submodule\n\nWith a body."
    assert datetime.fromisoformat(result.committed_at).tzinfo is not None
    assert (tmp_path / "ws" / "README.md").read_text() == "v2\n"


def test_clone_checks_out_the_sources_branch(origin, tmp_path):
    result = checkout(source(origin, branch="feature"), tmp_path / "ws")

    assert (result.commit, result.branch) == (origin.feature, "feature")
    assert (tmp_path / "ws" / "feature.txt").exists()


def test_run_branch_overrides_the_sources_branch_and_tag(origin, tmp_path):
    result = checkout(source(origin, branch="master", tag="v1.0"), tmp_path / "ws",
                      branch="feature")

    assert (result.commit, result.branch) == (origin.feature, "feature")


def test_clone_checks_out_an_annotated_tag_at_its_commit(origin, tmp_path):
    result = checkout(source(origin, tag="v1.0"), tmp_path / "ws")

    assert (result.commit, result.branch) == (origin.first, None)
    assert (tmp_path / "ws" / "README.md").read_text() == "v1\n"


def test_checkout_of_a_full_commit_id_detaches_at_that_commit(origin, tmp_path):
    result = checkout(source(origin), tmp_path / "ws", commit=origin.second)

    assert (result.commit, result.branch) == (origin.second, None)
    assert Repo(tmp_path / "ws").head.is_detached


def test_checkout_of_a_short_commit_id_on_another_branch(origin, tmp_path):
    result = checkout(source(origin, commit=origin.feature[:8]), tmp_path / "ws")

    assert result.commit == origin.feature


def test_run_branch_and_commit_check_out_the_commit_and_report_the_branch(origin, tmp_path):
    result = checkout(source(origin), tmp_path / "ws", branch="master", commit=origin.first)

    assert (result.commit, result.branch) == (origin.first, "master")


def test_depth_one_makes_a_shallow_clone(origin, tmp_path):
    result = checkout(source(origin, depth=1), tmp_path / "ws")

    repo = Repo(tmp_path / "ws")
    assert result.commit == origin.head
    assert (Path(repo.git_dir) / "shallow").exists()
    assert len(list(repo.iter_commits())) == 1


def test_a_full_commit_id_beyond_depth_is_fetched_by_id(origin, tmp_path):
    result = checkout(source(origin, depth=1, commit=origin.first), tmp_path / "ws")

    assert result.commit == origin.first


def test_a_short_commit_id_beyond_depth_falls_back_to_a_full_fetch(origin, tmp_path):
    lines: list[str] = []
    result = checkout(source(origin, depth=1, commit=origin.first[:10]), tmp_path / "ws",
                      on_line=lines.append)

    assert result.commit == origin.first
    assert any("not within depth 1" in line for line in lines)
    assert not (tmp_path / "ws" / ".git" / "shallow").exists()


def test_submodules_off_leaves_the_submodule_empty(origin, tmp_path):
    checkout(source(origin), tmp_path / "ws")

    assert (tmp_path / "ws" / "lib").is_dir()
    assert list((tmp_path / "ws" / "lib").iterdir()) == []


def test_submodules_on_checks_them_out(origin, tmp_path):
    checkout(source(origin, submodules=True), tmp_path / "ws")

    assert (tmp_path / "ws" / "lib" / "lib.txt").read_text() == "library\n"


def test_file_url_works_like_a_path(origin, tmp_path):
    result = checkout(source(origin, url=origin.path.as_uri(), depth=1), tmp_path / "ws")

    assert result.commit == origin.head


def test_progress_lines_reach_on_line(origin, tmp_path):
    lines: list[str] = []
    checkout(source(origin), tmp_path / "ws", on_line=lines.append)

    assert any(line.startswith("Cloning into") for line in lines)
    assert any("objects" in line for line in lines)
    assert all(line == line.rstrip() for line in lines)


def test_missing_repository_fails_with_its_url_and_leaves_no_workspace(tmp_path):
    missing = str(tmp_path / "nowhere")
    with pytest.raises(CheckoutError) as error:
        checkout({"name": "app", "url": missing}, tmp_path / "ws")

    assert str(error.value).startswith(f"repository {missing} not found or not reachable: ")
    assert not (tmp_path / "ws").exists()


def test_missing_branch_names_the_branches_there_are(origin, tmp_path):
    with pytest.raises(CheckoutError) as error:
        checkout(source(origin), tmp_path / "ws", branch="nope")

    assert str(error.value) == (
        f'branch "nope" not found in {origin.url}; branches: feature, master')


def test_a_tag_is_not_taken_for_a_branch(origin, tmp_path):
    with pytest.raises(CheckoutError, match=r'branch "v1.0" not found'):
        checkout(source(origin, branch="v1.0"), tmp_path / "ws")


def test_missing_tag_names_the_tags_there_are(origin, tmp_path):
    with pytest.raises(CheckoutError) as error:
        checkout(source(origin, tag="v9"), tmp_path / "ws")

    assert str(error.value) == f'tag "v9" not found in {origin.url}; tags: v1.0'


def test_missing_commit_fails_and_empties_the_workspace_again(origin, tmp_path):
    workspace = tmp_path / "ws"
    workspace.mkdir()
    with pytest.raises(CheckoutError) as error:
        checkout(source(origin, depth=1), workspace, commit="deadbeef")

    assert str(error.value) == f'commit "deadbeef" not found in {origin.url}'
    assert workspace.is_dir() and list(workspace.iterdir()) == []


def test_a_commit_that_is_not_hex_is_refused(origin, tmp_path):
    with pytest.raises(CheckoutError, match="is not a commit id"):
        checkout(source(origin), tmp_path / "ws", commit="--upload-pack=touch")


def test_a_non_empty_workspace_is_refused_and_kept(origin, tmp_path):
    (tmp_path / "ws").mkdir()
    (tmp_path / "ws" / "keep.txt").write_text("mine")
    with pytest.raises(CheckoutError, match="is not an empty directory"):
        checkout(source(origin), tmp_path / "ws")

    assert (tmp_path / "ws" / "keep.txt").read_text() == "mine"


def test_an_empty_repository_has_no_commits(tmp_path):
    Repo.init(tmp_path / "empty", bare=True)
    with pytest.raises(CheckoutError, match="has no commits"):
        checkout({"name": "app", "url": str(tmp_path / "empty")}, tmp_path / "ws")


def test_remote_helper_urls_are_refused(tmp_path):
    with pytest.raises(CheckoutError, match="remote helpers"):
        checkout({"name": "app", "url": "ext::sh -c touch% /tmp/pwned"}, tmp_path / "ws")


# credentials


def run_askpass(environment: dict[str, str], prompt: str) -> str:
    return subprocess.run([environment["GIT_ASKPASS"], prompt], capture_output=True, text=True,
                          check=True).stdout


def test_askpass_answers_the_username_and_password_prompts():
    with https_credential_environment("alice:pa:ss word") as environment:
        assert run_askpass(environment, "Username for 'https://git.example.com': ") == "alice"
        assert run_askpass(
            environment, "Password for 'https://alice@git.example.com': ") == "pa:ss word"
        script = Path(environment["GIT_ASKPASS"])
        assert "pa:ss word" not in script.read_text()
        assert stat.S_IMODE(script.parent.stat().st_mode) == 0o700
    assert not script.parent.exists()


def test_askpass_sends_a_bare_token_as_the_password():
    with https_credential_environment("ghp_token123") as environment:
        assert run_askpass(environment, "Username for 'https://github.com': ") == "x-access-token"
        assert run_askpass(environment, "Password for 'https://github.com': ") == "ghp_token123"


def test_credentials_land_nowhere_in_the_workspace_or_the_log(origin, tmp_path):
    secret = "alice:hunter2-very-secret"
    lines: list[str] = []
    checkout(source(origin, submodules=True), tmp_path / "ws", credentials=secret,
             on_line=lines.append)

    assert "hunter2" not in (tmp_path / "ws" / ".git" / "config").read_text()
    for path in (tmp_path / "ws" / ".git").rglob("*"):
        if path.is_file():
            assert b"hunter2" not in path.read_bytes(), path
    assert not any("hunter2" in line for line in lines)


def test_a_password_in_an_https_url_is_stripped_from_errors(tmp_path):
    with pytest.raises(CheckoutError) as error:
        checkout({"name": "app", "url": "https://bob:s3cr3t@127.0.0.1:1/app.git"}, tmp_path / "ws")

    message = str(error.value)
    assert message.startswith("repository https://bob@127.0.0.1:1/app.git not found or not "
                               "reachable: ")
    assert "s3cr3t" not in message


def test_ssh_key_is_a_private_file_removed_afterwards():
    key_text = "-----BEGIN OPENSSH PRIVATE KEY-----\nAAAA\n-----END OPENSSH PRIVATE KEY-----"
    with ssh_key_environment(key_text) as environment:
        command = environment["GIT_SSH_COMMAND"]
        key = Path(command.split(" -i ", 1)[1].split(" ", 1)[0])
        assert key.read_text() == key_text + "\n"
        assert stat.S_IMODE(os.stat(key).st_mode) == 0o600
        assert "BatchMode=yes" in command and "AAAA" not in command
    assert not key.exists() and not key.parent.exists()


def test_ssh_credentials_must_be_a_private_key():
    with pytest.raises(CheckoutError, match="must be a private key"):
        with ssh_key_environment("user:password"):
            pass


@pytest.mark.parametrize(("url", "transport"), [
    ("https://github.com/acme/app.git", "https"),
    ("http://git.local/app.git", "https"),
    ("ssh://git@github.com/acme/app.git", "ssh"),
    ("git@github.com:acme/app.git", "ssh"),
    ("file:///srv/git/app.git", "file"),
    ("git://git.local/app.git", "git"),
    ("/srv/git/app.git", "local"),
    ("../app", "local"),
    ("./a:b", "local"),
])
def test_transport_of_url(url, transport):
    assert transport_of(url) == transport


@pytest.mark.parametrize(("url", "shown"), [
    ("https://bob:s3cr3t@git.example.com/app.git", "https://bob@git.example.com/app.git"),
    ("https://bob:s3cr3t@git.example.com:8443/a", "https://bob@git.example.com:8443/a"),
    ("https://git.example.com/app.git", "https://git.example.com/app.git"),
    ("git@github.com:acme/app.git", "git@github.com:acme/app.git"),
])
def test_display_url_strips_the_password(url, shown):
    assert display_url(url) == shown


# https with credentials, end to end: git's smart HTTP (`git http-backend`) behind basic auth


@pytest.fixture
def https_origin(origin, tmp_path):
    """A git HTTP server on 127.0.0.1 serving `origin` to alice:hunter2 only; yields its URL."""
    import base64
    import threading
    from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server

    project_root = origin.path.parent
    expected = "Basic " + base64.b64encode(b"alice:hunter2").decode()

    def application(environ, start_response):
        if environ.get("HTTP_AUTHORIZATION") != expected:
            start_response("401 Unauthorized", [("WWW-Authenticate", 'Basic realm="git"')])
            return [b"unauthorized\n"]
        length = int(environ.get("CONTENT_LENGTH") or 0)
        body = environ["wsgi.input"].read(length) if length else b""
        cgi = {"GIT_PROJECT_ROOT": str(project_root), "GIT_HTTP_EXPORT_ALL": "1",
               "PATH_INFO": environ["PATH_INFO"], "REQUEST_METHOD": environ["REQUEST_METHOD"],
               "QUERY_STRING": environ.get("QUERY_STRING", ""),
               "CONTENT_TYPE": environ.get("CONTENT_TYPE", ""), "REMOTE_USER": "alice",
               "GIT_PROTOCOL": environ.get("HTTP_GIT_PROTOCOL", ""), "PATH": os.environ["PATH"]}
        output = subprocess.run(["git", "http-backend"], input=body, env=cgi,
                                capture_output=True, check=True).stdout
        head, _, payload = output.partition(b"\r\n\r\n")
        headers = [tuple(line.split(": ", 1)) for line in head.decode().split("\r\n")]
        status = next((value for name, value in headers if name == "Status"), "200 OK")
        start_response(status, [(name, value) for name, value in headers if name != "Status"])
        return [payload]

    class QuietHandler(WSGIRequestHandler):
        def log_message(self, *args):
            pass

    server = make_server("127.0.0.1", 0, application, WSGIServer, handler_class=QuietHandler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}/app"
    server.shutdown()
    thread.join()


def test_https_clone_answers_basic_auth_from_credentials(origin, https_origin, tmp_path):
    lines: list[str] = []
    result = checkout({"name": "app", "url": https_origin}, tmp_path / "ws",
                      credentials="alice:hunter2", on_line=lines.append)

    assert result.commit == origin.head
    config = (tmp_path / "ws" / ".git" / "config").read_text()
    assert "hunter2" not in config and f"url = {https_origin}" in config
    assert not any("hunter2" in line for line in lines)


def test_https_password_in_the_url_is_moved_out_of_it(origin, https_origin, tmp_path):
    url = https_origin.replace("http://", "http://alice:hunter2@")
    result = checkout({"name": "app", "url": url}, tmp_path / "ws")

    assert result.commit == origin.head
    assert "hunter2" not in (tmp_path / "ws" / ".git" / "config").read_text()


def test_https_wrong_credentials_fail_without_prompting(https_origin, tmp_path):
    with pytest.raises(CheckoutError, match="not found or not reachable: Authentication failed"):
        checkout({"name": "app", "url": https_origin}, tmp_path / "ws",
                 credentials="alice:wrong")
