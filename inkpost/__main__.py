"""`python -m inkpost`: the same as the `inkpost` console script."""

from inkpost.cli import main

main()
