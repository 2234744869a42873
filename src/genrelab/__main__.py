"""``python -m genrelab``."""

from genrelab.cli import main

main()
