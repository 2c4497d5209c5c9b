"""The `provider "github" {}` block: the token and the API address.

    provider "github" {
      token    = var.github_token             # a variable with sensitive = true
      base_url = "https://api.github.com"     # GitHub Enterprise: https://HOST/api/v3
    }

The token must not be written into the config: given as constant text it is refused at its line,
as the alicloud provider refuses keys (a sensitive variable, set with FP_VAR_github_token, or
`env("...")` reads it from outside the files). The settings never show the token, not even in
their repr. Standard library only.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

from flowplan.providers import ProviderBlock, ProviderDiagnostic

BLOCK = "github"
DEFAULT_BASE_URL = "https://api.github.com"


@dataclass(frozen=True)
class GithubSettings:
    token: str | None = field(default=None, repr=False)
    base_url: str = DEFAULT_BASE_URL

    def __repr__(self) -> str:                   # never the token, even by accident
        return f"GithubSettings(base_url={self.base_url!r})"


def read_settings(config: dict[str, Any], block: ProviderBlock | None
                  ) -> tuple[GithubSettings | None, list[ProviderDiagnostic]]:
    """The settings of the `provider "github"` block (`config`, revealed; `block` says which of
    its attributes are constant text) and what is wrong with them, each diagnostic located at its
    attribute. A missing token is reported here: the provider is configured only when a resource
    needs it."""
    problems: list[ProviderDiagnostic] = []
    literal = block.literal if block is not None else ()
    unknown = sorted(set(config) - {"token", "base_url"})
    for name in unknown:
        problems.append(_problem(f"Unsupported argument `{name}`", name,
                                 'The github provider takes `token` and `base_url`.'))
    token = config.get("token")
    if "token" in literal:
        problems.append(_problem(
            "`token` is written into the config", "token",
            "A GitHub token must not be written into the config files. Declare a variable with "
            'sensitive = true (variable "github_token" { sensitive = true }), set it with '
            'FP_VAR_github_token, and write `token = var.github_token`, or read it with '
            'env("...").'))
    elif token is None:
        problems.append(_problem(
            "Missing `token`", "token",
            'The github provider needs a token allowed to manage the repositories\' hooks '
            '(provider "github" { token = var.github_token }, a variable with sensitive = '
            "true set with FP_VAR_github_token)."))
    elif not isinstance(token, str) or not token.strip() or any(c in token for c in "\r\n\0"):
        problems.append(_problem("Invalid `token`", "token",
                                 "`token` must be a non-empty string known before apply."))
    base_url = config.get("base_url", DEFAULT_BASE_URL)
    problem = base_url_problem(base_url)
    if problem:
        problems.append(_problem("Invalid `base_url`", "base_url", problem))
    if problems:
        return None, problems
    return GithubSettings(token, base_url.rstrip("/")), []


def base_url_problem(base_url: Any) -> str | None:
    """Why `base_url` is not an API address (http(s), a host, maybe a path), or None."""
    if not isinstance(base_url, str) or not base_url:
        return "`base_url` must be a URL such as \"https://api.github.com\"."
    split = urlsplit(base_url)
    if split.scheme not in ("http", "https") or not split.hostname or split.query \
            or split.fragment or split.username or split.password:
        return (f"{base_url!r} is not an API address: give an http(s) URL with a host and no "
                "credentials, such as \"https://api.github.com\" or "
                "\"https://github.example.com/api/v3\".")
    return None


def _problem(summary: str, attribute: str, detail: str) -> ProviderDiagnostic:
    return ProviderDiagnostic(summary, detail=detail, attribute=attribute, block=BLOCK)
