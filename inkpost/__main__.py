"""`python -m inkpost`: the same as the `inkpost` console script."""

from inkpost.console import main

main()
