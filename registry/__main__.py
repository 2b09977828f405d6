"""`python -m registry` is the `ledgermark` command."""

from registry.cli import main

main()
