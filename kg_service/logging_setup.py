"""Logging set-up for the CLI and the server: one format, level from the settings."""

from __future__ import annotations

import logging

from rich.console import Console
from rich.logging import RichHandler


def configure_logging(level: str = "INFO") -> None:
    """Send log records to stderr through rich, once per process."""
    root = logging.getLogger()
    if any(isinstance(handler, RichHandler) for handler in root.handlers):
        root.setLevel(level)
        return
    handler = RichHandler(console=Console(stderr=True), show_path=False, rich_tracebacks=False, markup=False)
    handler.setFormatter(logging.Formatter("%(name)s: %(message)s"))
    root.addHandler(handler)
    root.setLevel(level)
    logging.getLogger("neo4j").setLevel(logging.WARNING)


def quiet_info_logs() -> None:
    """Raise the kg_service loggers to WARNING unless the root logger is at DEBUG (`kg-service -v`).

    A command whose output is an answer (`kg-service ask`) calls this, so that progress messages
    do not interleave with the answer on a terminal.
    """
    if logging.getLogger().getEffectiveLevel() > logging.DEBUG:
        logging.getLogger("kg_service").setLevel(logging.WARNING)
