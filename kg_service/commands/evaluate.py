"""`kg-service evaluate ...`: quality measurements on real data sets.

Each feature adds its command to `evaluate_app` in its own module and that module is imported
by `kg_service.cli`. Every command prints a human-readable table, or one JSON object with
`--json`, and computes without printing inside the measurement itself.
"""

from __future__ import annotations

import typer

evaluate_app = typer.Typer(help="Measure quality on real data sets (results go to docs/evaluation.md).",
                           no_args_is_help=True)
