"""`kg-service evaluate ...`: quality measurements on real data sets.

Each feature adds its command to `evaluate_app` in its own module and that module is imported
by `kg_service.cli`. Every command prints a human-readable table, or one JSON object with
`--json`, and computes without printing inside the measurement itself.
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING

import typer

if TYPE_CHECKING:
    from rich.console import Console

evaluate_app = typer.Typer(help="Measure quality on real data sets (results go to docs/evaluation.md).",
                           no_args_is_help=True)

# Width of the tables when stdout is a pipe or a file, where rich would assume 80 columns and cut
# the headers ("mapp…"). A COLUMNS environment variable still sets the width.
PIPED_TABLE_WIDTH = 200


def table_console() -> "Console":
    """Return a console on stdout for the result tables, wide when stdout is not a terminal."""
    from rich.console import Console

    console = Console()
    if not console.is_terminal and "COLUMNS" not in os.environ:
        console = Console(width=PIPED_TABLE_WIDTH)
    return console
