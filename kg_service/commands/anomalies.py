"""`kg-service anomalies train|detect`: train detectors on stored telemetry and write anomaly events."""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Optional

import typer

logger = logging.getLogger(__name__)

command_name = "anomalies"
command_group = typer.Typer(help="Train anomaly detectors on stored telemetry and write anomaly events.",
                            no_args_is_help=True)

DETECTOR_KINDS = ("model", "baseline")


def _telemetry_mapping(path: Path):
    from kg_service.errors import MappingError
    from loaders.mapping import TelemetryMapping, load_mapping

    mapping = load_mapping(path)
    if not isinstance(mapping, TelemetryMapping):
        raise MappingError(f"expected a 'telemetry' mapping, got kind {mapping.kind!r}", path=str(path))
    return mapping


@command_group.command("train")
def train(mapping: Path = typer.Option(..., "--mapping", "-m", help="Telemetry mapping (YAML) of the source"),
          detector: str = typer.Option("model", help="model (masked-reconstruction network) or baseline "
                                                     "(rolling median/MAD)"),
          window: int = typer.Option(32, min=4, help="Window length in samples"),
          epochs: int = typer.Option(5, min=1, help="Training epochs of the model"),
          signal: list[str] = typer.Option([], "--signal", "-s", help="Signal to use (repeat); default every "
                                                                      "numeric and binary signal"),
          asset: list[str] = typer.Option([], "--asset", "-a", help="Train on these assets only (repeat)"),
          asset_class: Optional[str] = typer.Option(None, help="Checkpoint group; default <ontology class>-<source>"),
          step_s: Optional[float] = typer.Option(None, help="Grid step in seconds for change-per-row recordings; "
                                                            "default 1 s for long layouts"),
          max_seconds: Optional[float] = typer.Option(None, help="Stop training after the epoch that passes this "
                                                                 "many seconds"),
          threads: Optional[int] = typer.Option(None, min=1, help="CPU threads for torch; default torch's own")) -> None:
    """Train a detector on a source's stored samples (no labels) and save a versioned checkpoint."""
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    from kg_service.anomaly.service import train_detector
    from kg_service.cli import _errors, console
    from kg_service.config import get_settings

    if detector not in DETECTOR_KINDS:
        raise typer.BadParameter(f"{detector!r} is not one of {', '.join(DETECTOR_KINDS)}", param_hint="--detector")
    settings = get_settings()
    with _errors():
        loaded = _telemetry_mapping(mapping)
        with Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                      console=console) as progress:
            task = progress.add_task(f"training {detector} on {loaded.source}",
                                     total=epochs if detector == "model" else None)

            def on_epoch(epoch: int, loss: float) -> None:
                progress.update(task, completed=epoch, description=f"epoch {epoch}: loss {loss:.4f}")

            result = train_detector(settings, loaded, detector, window, epochs, signal or None, asset or None,
                                    asset_class, step_s, max_seconds, on_epoch, threads)
    manifest = result.detector.manifest
    typer.echo(json.dumps({
        "version": result.detector.version, "checkpoint": str(result.folder), "asset_class": manifest.asset_class,
        "signals": manifest.signals, "window": manifest.window, "threshold": manifest.threshold,
        "threshold_quantile": manifest.threshold_quantile, "training_windows": manifest.training_windows,
        "device": result.device, "epoch_losses": result.epoch_losses, "epoch_seconds": result.epoch_seconds,
        "skipped_rows_with_missing_values": result.segments.missing_rows, "gaps": result.segments.gaps},
        ensure_ascii=False))


@command_group.command("detect")
def detect(mapping: Path = typer.Option(..., "--mapping", "-m", help="Telemetry mapping (YAML) of the source"),
           detector: Optional[str] = typer.Option(None, help="Checkpoint folder, <asset class>/<version>, a "
                                                             "version, or an asset class (its latest); default the "
                                                             "latest of <ontology class>-<source>"),
           asset: list[str] = typer.Option([], "--asset", "-a", help="Detect on these assets only (repeat)"),
           step_s: Optional[float] = typer.Option(None, help="Grid step in seconds for change-per-row recordings; "
                                                             "default 1 s for long layouts")) -> None:
    """Score a source's stored samples and write one AnomalyEvent per interval of anomalous windows."""
    from kg_service.anomaly.detector import load_detector
    from kg_service.anomaly.service import default_asset_class, detect_anomalies
    from kg_service.cli import _errors, _progress, _store
    from kg_service.config import get_settings
    from kg_service.ingest import current_schema

    settings = get_settings()
    with _errors():
        loaded = _telemetry_mapping(mapping)
        model = load_detector(detector or default_asset_class(loaded), settings)
        store = _store(settings)
        try:
            with _progress(f"writing anomaly events of {loaded.source}") as progress:
                result = detect_anomalies(store, current_schema(store), settings, loaded, model, asset or None,
                                          step_s, progress)
        finally:
            store.close()
    report = result.report
    typer.echo(json.dumps({
        "detector": model.version, "windows": result.windows, "events": len(result.events),
        "assets_with_events": len({event.asset for event in result.events}),
        "skipped_rows_with_missing_values": result.segments.missing_rows, "gaps": result.segments.gaps,
        "nodes_created": report.nodes_created, "relationships_created": report.relationships_created,
        "scored": result.windows > 0, "warning": result.warning},
        ensure_ascii=False))
