"""``python -m service`` is the ``depot`` command."""

from service.cli import app

app(prog_name="depot")
