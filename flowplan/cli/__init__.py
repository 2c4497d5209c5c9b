"""The `flowplan` command line (entry point `flowplan.cli:main`).

flowplan.cli.app holds the typer application and shared helpers; the command modules register
their commands on it when imported here.
"""

# Importing the command modules registers their commands, in the order `--help` lists them.
from flowplan.cli import provisioning  # noqa: F401,I001
from flowplan.cli import runs  # noqa: F401
from flowplan.cli import access  # noqa: F401
from flowplan.cli import users  # noqa: F401
from flowplan.cli import team  # noqa: F401
from flowplan.cli import serve  # noqa: F401
from flowplan.cli import worker  # noqa: F401
from flowplan.cli.app import app, main

__all__ = ["app", "main"]
