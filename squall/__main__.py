"""`python -m squall` runs the `squall` command."""

from squall.startup import main

main()
