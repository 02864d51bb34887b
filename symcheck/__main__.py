"""``python -m symcheck`` runs the command line."""

from .cli import run

run()
