"""`kg-service evaluate anomalies`: event precision and recall of the model and the baseline."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

from kg_service.commands.evaluate import evaluate_app, table_console

DETECTOR_CHOICES = {"model": ["model"], "baseline": ["baseline"], "both": ["model", "baseline"]}


@evaluate_app.command("anomalies")
def evaluate_anomalies_command(
        data: Path = typer.Option(..., "--data", help="AI4I-style CSV file, or causRCA data set, group, scenario "
                                                      "or run folder"),
        normal_recordings: Optional[Path] = typer.Option(None, "--normal-recordings",
                                                         help="causRCA folder whose real_op/ the detectors train "
                                                              "on; default the input's own, else the shared data "
                                                              "set KG_DATA_DIR/causrca"),
        as_json: bool = typer.Option(False, "--json", help="Print one JSON object instead of a table"),
        detector: str = typer.Option("both", help="model, baseline or both"),
        epochs: int = typer.Option(5, min=1, help="Training epochs of the model"),
        tolerance: Optional[int] = typer.Option(None, min=0, help="Samples by which an event may miss a label and "
                                                                  "still match; default 0 for AI4I, one window for "
                                                                  "causRCA"),
        max_seconds: Optional[float] = typer.Option(None, help="Stop model training after the epoch that passes "
                                                               "this many seconds"),
        threads: Optional[int] = typer.Option(None, min=1, help="CPU threads for torch; default torch's own")) -> None:
    """Train the detectors without labels, then measure event precision and recall against failures or faults."""
    from rich.table import Table

    from kg_service.cli import _errors
    from kg_service.config import get_settings
    from kg_service.evaluation.anomalies import evaluate_anomalies

    if detector not in DETECTOR_CHOICES:
        raise typer.BadParameter(f"{detector!r} is not model, baseline or both", param_hint="--detector")
    with _errors():
        evaluation = evaluate_anomalies(data, get_settings(), DETECTOR_CHOICES[detector], epochs, tolerance,
                                        max_seconds, threads, normal_recordings)
    if as_json:
        typer.echo(evaluation.to_json())
        return
    table = Table(title=f"{evaluation.kind}: {evaluation.series} series, {evaluation.samples} samples, "
                        f"{evaluation.labels} labels, window {evaluation.window}, tolerance {evaluation.tolerance}")
    for column in ("detector", "events", "precision", "recall", "F1", "chance precision", "flagged", "train s"):
        table.add_column(column)
    for result in evaluation.results:
        table.add_row(result.detector, str(result.events), f"{result.precision:.3f}", f"{result.recall:.3f}",
                      f"{result.f1:.3f}", f"{result.chance_precision:.3f}", f"{result.flagged_share:.3f}",
                      f"{result.train_seconds:.1f}")
    console = table_console()
    console.print(table)
    if evaluation.normal_recordings is not None:
        console.print(f"trained on the normal recordings in {evaluation.normal_recordings}/real_op")
