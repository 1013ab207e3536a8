"""`python -m calirules.lab ...` runs the lab CLI."""

from .cli import main

main()
