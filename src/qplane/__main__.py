"""`python -m qplane` is the `qplane` command."""

from qplane.cli.main import main

main()
