"""The `github` provider: `webhook` resources as GitHub repository hooks delivering to
`flowplan serve` (`provider`), over the REST API with httpx (`client`); the `provider "github"`
block (`settings`); the delivery URL both webhook providers register (`delivery`).

Installed as flowplan_providers.github, found through the `github` entry point of
`flowplan.providers`.
"""

from flowplan_providers.github.provider import GithubProvider

__all__ = ["GithubProvider"]
