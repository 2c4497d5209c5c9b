"""`python -m flowplan.cli`: the same as the `flowplan` command."""

from flowplan.cli import main

main()
