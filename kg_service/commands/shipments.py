"""`kg-service ingest shipments FILE -m MAPPING`: load a delivery history (suppliers, orders, deliveries)."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

# kg_service.cli imports this module at its end, after `ingest_app` exists.
from kg_service.cli import _run_ingest, ingest_app


@ingest_app.command("shipments")
def ingest_shipments(file: Path = typer.Argument(..., help="Delivery-history CSV file, one row per shipped order line"),
                     mapping: Path = typer.Option(..., "--mapping", "-m", help="Column mapping (YAML, kind: shipments)"),
                     encoding: Optional[str] = typer.Option(None, help="Text encoding; detected when omitted")) -> None:
    """Load suppliers, parts, purchase order lines and deliveries from a delivery-history CSV."""
    from kg_service.ingest import ingest_shipments as run

    _run_ingest(run, file, mapping, encoding)
