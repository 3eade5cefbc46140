"""`kg-service evaluate root-cause --data PATH`: root-cause and failure-mode quality on real data."""

from __future__ import annotations

from pathlib import Path

import typer

from kg_service.commands.evaluate import evaluate_app


@evaluate_app.command("root-cause")
def evaluate_root_cause(
        data: list[Path] = typer.Option(..., "--data", "-d",
                                        help="causRCA folder, AI4I-style CSV or folder with the failure-mode "
                                             "classification files train.txt and dev.txt; repeat for several"),
        as_json: bool = typer.Option(False, "--json", help="Print one JSON object instead of tables"),
        limit: int = typer.Option(10, help="Candidates ranked per causRCA run")) -> None:
    """Measure causRCA Recall@k, the AI4I rule predictor and the MWO2KG failure-mode classifier."""
    from kg_service.cli import _errors, _store
    from kg_service.config import get_settings
    from kg_service.evaluation.rootcause import (RootCauseEvaluation, detect_kind, evaluate_ai4i, evaluate_causrca,
                                                 evaluate_failure_mode_classifier)
    from kg_service.ingest import current_schema

    evaluation = RootCauseEvaluation()
    with _errors():
        for path in data:
            kind = detect_kind(path)
            if kind == "ai4i":
                evaluation.ai4i = evaluate_ai4i(path)
            elif kind == "mwo2kg":
                evaluation.failure_mode_classification = evaluate_failure_mode_classifier(path)
            else:
                store = _store(get_settings())
                try:
                    evaluation.causrca = evaluate_causrca(store, current_schema(store), path, limit)
                finally:
                    store.close()

    if as_json:
        typer.echo(evaluation.model_dump_json(exclude={"causrca": {"rankings"}}))
        return
    _print_tables(evaluation)


def _print_tables(evaluation) -> None:
    from rich.console import Console
    from rich.table import Table

    console = Console()
    if evaluation.causrca is not None:
        result = evaluation.causrca
        table = Table(title=f"causRCA root cause: {result.runs} fault runs ({len(result.skipped_runs)} skipped)")
        table.add_column("ranking")
        for metric in next(iter(result.recall.values())):
            table.add_column(f"Recall@{metric.k}", justify="right")
        for name, metrics in result.recall.items():
            table.add_row(name, *(f"{metric.value:.3f}" for metric in metrics))
        console.print(table)
        console.print(f"best Recall@1 possible (runs with several true causes): {result.recall_at_1_bound:.3f}")
    if evaluation.ai4i is not None:
        result = evaluation.ai4i
        console.print(f"AI4I rule predictor: accuracy {result.accuracy.value:.3f} "
                      f"({result.accuracy.correct}/{result.accuracy.cases} failed machines with a flag), "
                      f"{result.rule_mode_accuracy.value:.3f} on HDF/PWF/OSF machines")
        table = Table(title="AI4I failure modes")
        for column in ("mode", "precision", "recall", "support"):
            table.add_column(column, justify="left" if column == "mode" else "right")
        for mode in result.modes:
            table.add_row(mode.label, f"{mode.precision:.3f}", f"{mode.recall:.3f}", str(mode.support))
        console.print(table)
    if evaluation.failure_mode_classification is not None:
        result = evaluation.failure_mode_classification
        console.print(f"MWO2KG failure-mode classifier ({result.train_examples} train, {result.dev_examples} dev, "
                      f"{result.labels} labels): accuracy {result.accuracy.value:.3f}, macro-F1 "
                      f"{result.macro_f1.value:.3f}; majority class '{result.baseline_label}': accuracy "
                      f"{result.baseline_accuracy.value:.3f}, macro-F1 {result.baseline_macro_f1.value:.3f}")
