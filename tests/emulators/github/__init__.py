"""A GitHub REST API emulator for the repository-webhook endpoints, for tests and for trying the
github provider by hand: point `base_url` of `provider "github"` at it.

    with GithubEmulator("ghp_test", ("octo-org/app",)) as github:
        provider "github" { token = var.github_token, base_url = github.base_url }

On its own: `python -m tests.emulators.github --port N --token T [--repository OWNER/NAME]...`.
"""

from .server import Answer, ApiError, GithubEmulator, Hook, RecordedRequest

__all__ = ["Answer", "ApiError", "GithubEmulator", "Hook", "RecordedRequest"]
