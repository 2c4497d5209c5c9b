"""Checking out a pipeline's source into a task's workspace.

`checkout` clones a source (https, ssh, `file://` or a local path) at a branch, tag or commit,
with an optional clone depth and submodules, and returns the commit it checked out. Git does the
work (through gitpython); progress lines go to the caller's `on_line`.

Credentials are the secret's text, already resolved by the caller: for https a token or
`user:password`, answered to git's prompts by a `GIT_ASKPASS` script; for ssh a private key,
handed to ssh through `GIT_SSH_COMMAND`. Both live in a private temporary directory outside the
workspace and are removed afterwards, so a secret never reaches the URL, `.git/config`, a
process's arguments or the log. A password written into an https URL is moved out of it the same
way. Credentials given for a local, `file://` or `git://` source are not used.

A local source (a path, taken from the current directory when relative, or `file://`) may have
local submodules: git's `protocol.file.allow` is set to `always` for those clones only. Over ssh,
an unknown host key is accepted and remembered on first use (`StrictHostKeyChecking=accept-new`).

Picking the workspace directory, resolving the secret and recording the result on the run are
left to the executor.
"""

from __future__ import annotations

import os
import re
import shutil
import tempfile
from collections.abc import Callable, Iterator, Mapping
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit, urlunsplit

from git import Repo
from git.cmd import Git, handle_process_output
from git.exc import UnsafeProtocolError

from flowplan.executor.step_process.masking import Masker
from flowplan.executor.step_process.shellquote import quote

TOKEN_USERNAME = "x-access-token"  # sent with a bare token (GitHub, GitLab, Gitea take any name)
_LISTED_NAMES = 20
_COMMIT_ID = re.compile(r"[0-9a-fA-F]{4,64}")
_FULL_COMMIT_LENGTHS = (40, 64)


class CheckoutError(Exception):
    """A source could not be checked out; the message is for the user."""


@dataclass(frozen=True, slots=True)
class CheckoutResult:
    """The commit a checkout left in the workspace."""

    commit: str
    short: str
    branch: str | None  # the branch checked out or asked for; None for a tag or a bare commit
    author: str
    author_email: str
    message: str
    committed_at: str  # ISO 8601 with the committer's UTC offset


def transport_of(url: str) -> str:
    """How git reaches `url`: "https", "ssh", "file", "git", "local" (a path) or "other"."""
    lowered = url.lower()
    if lowered.startswith(("https://", "http://")):
        return "https"
    if lowered.startswith(("ssh://", "git+ssh://", "ssh+git://")):
        return "ssh"
    if lowered.startswith("file://"):
        return "file"
    if lowered.startswith("git://"):
        return "git"
    if "://" in url:
        return "other"
    if re.match(r"[^/]*:", url) and not re.match(r"[A-Za-z]:[\\/]", url):
        return "ssh"  # scp-like: [user@]host:path, git's own rule (a colon before any slash)
    return "local"


def display_url(url: str) -> str:
    """`url` without its password, for messages."""
    if "://" not in url:
        return url
    parts = urlsplit(url)
    if parts.password is None:
        return url
    host = parts.hostname or ""
    if ":" in host:
        host = f"[{host}]"
    netloc = f"{parts.username}@{host}" if parts.username else host
    if parts.port:
        netloc += f":{parts.port}"
    return urlunsplit((parts.scheme, netloc, parts.path, parts.query, parts.fragment))


def _write_private(path: Path, text: str, mode: int = 0o600) -> None:
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, mode)
    with os.fdopen(descriptor, "w", encoding="utf-8") as file:
        file.write(text)


def _username_password(credentials: str) -> tuple[str, str]:
    username, colon, password = credentials.partition(":")
    if colon and username:
        return username, password
    return TOKEN_USERNAME, credentials


@contextmanager
def https_credential_environment(credentials: str) -> Iterator[dict[str, str]]:
    """Environment for git to answer https prompts from `credentials` (a token or `user:password`).

    A `GIT_ASKPASS` script prints the username or the password, read from 0600 files next to it in a
    private temporary directory; the secret is in no argument and no environment variable.
    """
    username, password = _username_password(credentials)
    directory = Path(tempfile.mkdtemp(prefix="flowplan-askpass-"))
    try:
        _write_private(directory / "username", username)
        _write_private(directory / "password", password)
        script = directory / "askpass"
        _write_private(script, (
            "#!/bin/sh\n"
            "# answers git's credential prompts for one flowplan checkout\n"
            'case "$1" in\n'
            f"  [Uu]sername*) exec cat {quote(str(directory / 'username'))} ;;\n"
            f"  *) exec cat {quote(str(directory / 'password'))} ;;\n"
            "esac\n"), mode=0o700)
        yield {"GIT_ASKPASS": str(script), "GIT_TERMINAL_PROMPT": "0"}
    finally:
        shutil.rmtree(directory, ignore_errors=True)


@contextmanager
def ssh_key_environment(private_key: str) -> Iterator[dict[str, str]]:
    """Environment for git to connect over ssh with `private_key` (its text) from a 0600 file."""
    if "PRIVATE KEY" not in private_key:
        raise CheckoutError(
            "credentials for an ssh URL must be a private key "
            "(text starting with -----BEGIN ... PRIVATE KEY-----)")
    directory = Path(tempfile.mkdtemp(prefix="flowplan-ssh-"))
    try:
        key = directory / "key"
        _write_private(key, private_key if private_key.endswith("\n") else private_key + "\n")
        command = (f"ssh -i {quote(str(key))} -o IdentitiesOnly=yes -o BatchMode=yes "
                   "-o StrictHostKeyChecking=accept-new")
        yield {"GIT_SSH_COMMAND": command}
    finally:
        shutil.rmtree(directory, ignore_errors=True)


class _GitFailed(Exception):
    def __init__(self, lines: list[str]) -> None:
        super().__init__("\n".join(lines))
        self.lines = lines

    def reason(self) -> str:
        """git's own explanation: its fatal/error lines, or its last line."""
        picked = [line.split(": ", 1)[1] if line.startswith(("fatal: ", "error: ")) else line
                  for line in self.lines if line.startswith(("fatal: ", "error: ", "remote: "))]
        return "; ".join(picked or self.lines[-1:]) or "git gave no reason"


class _GitRunner:
    """Runs git commands with one environment, passing stderr lines (progress) to `on_line`."""

    def __init__(self, environment: dict[str, str], config: list[str],
                 on_line: Callable[[str], None], masker: Masker) -> None:
        self.environment, self.config = environment, config
        self.on_line, self.masker = on_line, masker

    def __call__(self, *args: str, cwd: Path | None = None, quiet: bool = False) -> str:
        stdout: list[str] = []
        stderr: list[str] = []

        def on_stderr(line: str) -> None:
            line = self.masker.mask(line.rstrip())  # git pads progress lines with spaces
            if line:
                stderr.append(line)
                if not quiet:
                    self.on_line(line)

        process = Git(str(cwd) if cwd else None).execute(
            [Git.GIT_PYTHON_GIT_EXECUTABLE or "git", *self.config, *args],
            as_process=True, universal_newlines=True, env=self.environment)
        handle_process_output(process, stdout.append, on_stderr,
                              lambda finished: finished.proc.wait(), decode_streams=False)
        if process.proc.returncode:
            raise _GitFailed(stderr)
        return "".join(stdout)


@dataclass(frozen=True)
class _RemoteRefs:
    branches: list[str]
    tags: list[str]


def _listing(names: list[str]) -> str:
    if not names:
        return "(none)"
    shown = ", ".join(names[:_LISTED_NAMES])
    return shown + (f" and {len(names) - _LISTED_NAMES} more" if len(names) > _LISTED_NAMES else "")


def _clear(workspace: Path, existed: bool) -> None:
    if not existed:
        shutil.rmtree(workspace, ignore_errors=True)
        return
    for child in workspace.iterdir() if workspace.exists() else ():
        if child.is_dir() and not child.is_symlink():
            shutil.rmtree(child, ignore_errors=True)
        else:
            child.unlink(missing_ok=True)


def checkout(source: Mapping[str, Any], workspace: Path, *, branch: str | None = None,
             commit: str | None = None, credentials: str | None = None,
             on_line: Callable[[str], None] = lambda line: None) -> CheckoutResult:
    """Clone `source` into `workspace` (empty or absent) and check out the wanted commit.

    The run's `branch` or `commit`, when given, replace the source's own branch, tag and commit
    (a run-time branch with no commit checks out that branch's head). Otherwise the source's `tag`
    wins over its `branch`, and its `commit` is checked out after cloning either. `credentials`, or
    else a string `source["credentials"]`, is the secret's text. On failure the workspace is left
    as it was found and `CheckoutError` says what is wrong.
    """
    workspace = Path(workspace)
    existed = workspace.exists()
    if existed and (not workspace.is_dir() or any(workspace.iterdir())):
        raise CheckoutError(f"workspace {workspace} is not an empty directory")
    try:
        return _Checkout(source, workspace, branch, commit, credentials, on_line).run()
    except BaseException:
        _clear(workspace, existed)
        raise


class _Checkout:
    def __init__(self, source: Mapping[str, Any], workspace: Path, run_branch: str | None,
                 run_commit: str | None, credentials: str | None,
                 on_line: Callable[[str], None]) -> None:
        url = source.get("url")
        if not url:
            raise CheckoutError(f'source "{source.get("name")}" has no url')
        self.url, self.shown = str(url), display_url(str(url))
        self.workspace = workspace
        if run_branch or run_commit:
            self.branch, self.tag = run_branch or source.get("branch"), None
            self.commit = run_commit
        else:
            self.branch, self.tag, self.commit = (
                source.get("branch"), source.get("tag"), source.get("commit"))
        if self.commit is not None and not _COMMIT_ID.fullmatch(self.commit):
            raise CheckoutError(f'"{self.commit}" is not a commit id (4 to 64 hex digits)')
        self.depth = int(source.get("depth") or 0) or None
        self.submodules = bool(source.get("submodules"))
        secret = credentials if credentials is not None else source.get("credentials")
        if secret is not None and not isinstance(secret, str):
            raise TypeError("checkout wants the credentials' text: resolve the secret first")
        self.secret = secret or None
        self.on_line = on_line

    def run(self) -> CheckoutResult:
        transport = transport_of(self.url)
        clone_url = self._clone_url(transport)
        with ExitStack() as stack:
            environment = {"GIT_TERMINAL_PROMPT": "0"}
            config = ["-c", "advice.detachedHead=false"]
            hidden = [self.secret] if self.secret else []
            if transport == "https" and self.secret:
                environment |= stack.enter_context(https_credential_environment(self.secret))
                config += ["-c", "credential.helper="]  # no helper may store the secret
                hidden.append(_username_password(self.secret)[1])
            elif transport == "ssh" and self.secret:
                environment |= stack.enter_context(ssh_key_environment(self.secret))
            elif transport in ("local", "file"):
                config += ["-c", "protocol.file.allow=always"]  # local submodules of a local source
            self.git = _GitRunner(environment, config, self.on_line, Masker(hidden))
            self.clone_url = clone_url
            return self._clone_and_check_out()

    def _clone_url(self, transport: str) -> str:
        if self.url.startswith("-"):
            raise CheckoutError(f"{self.shown} is not a repository URL")
        try:
            Git.check_unsafe_protocols(self.url)
        except UnsafeProtocolError:
            raise CheckoutError(
                f"{self.shown}: remote helpers (transport::address) are not allowed") from None
        if transport == "local":
            return Path(self.url).expanduser().resolve().as_uri()  # honours depth, unlike a path
        if transport == "https":
            parts = urlsplit(self.url)
            if parts.password is not None:
                if self.secret is None:
                    self.secret = f"{unquote(parts.username or '')}:{unquote(parts.password)}"
                return display_url(self.url)
        return self.url

    def _clone_and_check_out(self) -> CheckoutResult:
        ref = self.tag or self.branch
        args = ["clone", "--progress"]
        if ref:
            args.append(f"--branch={ref}")
        if self.depth:
            args.append(f"--depth={self.depth}")
        if self.commit:
            args.append("--no-checkout")
        try:
            self.git(*args, "--", self.clone_url, str(self.workspace))
        except _GitFailed as failed:
            raise self._clone_error(failed) from None
        with Repo(self.workspace) as repo:  # closing ends gitpython's cat-file processes
            return self._check_out(repo)

    def _check_out(self, repo: Repo) -> CheckoutResult:
        if self.branch and not self.tag and repo.head.is_detached:
            raise self._clone_error(None)  # --branch found a tag of that name, not a branch
        if not repo.head.is_valid():
            raise CheckoutError(f"repository {self.shown} has no commits")
        if self.tag or (self.commit and not self.branch):
            branch = None  # the commit may be on any branch
        else:
            branch = self.branch or (None if repo.head.is_detached else repo.active_branch.name)
        if self.commit:
            sha = self._find_commit(repo)
            self.git("checkout", "--quiet", "--detach", sha, cwd=self.workspace)
        if self.submodules:
            try:
                self.git("submodule", "update", "--init", "--recursive", "--progress",
                         cwd=self.workspace)
            except _GitFailed as failed:
                raise CheckoutError(
                    f"updating the submodules of {self.shown} failed: {failed.reason()}") from None
        head = repo.head.commit
        message = head.message if isinstance(head.message, str) else head.message.decode(
            "utf-8", "replace")
        return CheckoutResult(
            commit=head.hexsha,
            short=self.git("rev-parse", "--short", head.hexsha, cwd=self.workspace).strip(),
            branch=branch,
            author=head.author.name or "",
            author_email=head.author.email or "",
            message=message.rstrip("\n"),
            committed_at=head.committed_datetime.isoformat(),
        )

    def _remote_refs(self) -> _RemoteRefs:
        listing = self.git("ls-remote", "--heads", "--tags", self.clone_url, quiet=True)
        branches, tags = [], []
        for line in listing.splitlines():
            _, _, name = line.partition("\t")
            if name.startswith("refs/heads/"):
                branches.append(name[len("refs/heads/"):])
            elif name.startswith("refs/tags/") and not name.endswith("^{}"):
                tags.append(name[len("refs/tags/"):])
        return _RemoteRefs(sorted(branches), sorted(tags))

    def _clone_error(self, failed: _GitFailed | None) -> CheckoutError:
        try:
            refs = self._remote_refs()
        except _GitFailed as unreachable:
            return CheckoutError(
                f"repository {self.shown} not found or not reachable: {unreachable.reason()}")
        if self.tag and self.tag not in refs.tags:
            return CheckoutError(
                f'tag "{self.tag}" not found in {self.shown}; tags: {_listing(refs.tags)}')
        if self.branch and not self.tag and self.branch not in refs.branches:
            return CheckoutError(f'branch "{self.branch}" not found in {self.shown}; '
                                 f"branches: {_listing(refs.branches)}")
        reason = failed.reason() if failed else "git checked out something else"
        return CheckoutError(f"cloning {self.shown} failed: {reason}")

    def _resolve(self, wanted: str) -> str | None:
        try:
            sha = self.git("rev-parse", "--verify", f"{wanted}^{{commit}}", cwd=self.workspace,
                           quiet=True).strip()
        except _GitFailed as failed:
            if any("is ambiguous" in line for line in failed.lines):
                raise CheckoutError(f'commit "{self.commit}" is ambiguous in {self.shown}: '
                                    "give more of its digits") from None
            return None
        return sha if sha.startswith(wanted.lower()) else None  # not a ref that looks like hex

    def _find_commit(self, repo: Repo) -> str:
        wanted = self.commit.lower()
        sha = self._resolve(wanted)
        if sha is None and len(wanted) in _FULL_COMMIT_LENGTHS:
            depth = [f"--depth={self.depth}"] if self.depth else []
            try:
                self.git("fetch", "--progress", *depth, "origin", wanted, cwd=self.workspace)
                sha = self._resolve(wanted)
            except _GitFailed:
                pass  # servers may refuse to fetch a commit by id; fetch everything instead
        if sha is None:
            shallow = (Path(repo.git_dir) / "shallow").exists()
            note = f"not within depth {self.depth}; " if shallow else ""
            self.on_line(f"commit {self.commit} {note}fetching all branches and tags")
            try:
                self.git("fetch", "--progress", *(["--unshallow"] if shallow else []), "origin",
                         "+refs/heads/*:refs/remotes/origin/*", "+refs/tags/*:refs/tags/*",
                         cwd=self.workspace)
            except _GitFailed as failed:
                raise CheckoutError(
                    f"fetching {self.shown} to find commit {self.commit} failed: "
                    f"{failed.reason()}") from None
            sha = self._resolve(wanted)
        if sha is None:
            raise CheckoutError(f'commit "{self.commit}" not found in {self.shown}')
        return sha
