"""`python -m squall` runs the `squall` command."""

from squall.app import main

main()
