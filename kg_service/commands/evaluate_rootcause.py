"""`kg-service evaluate root-cause --data PATH`: root-cause and failure-mode quality on real data."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

from kg_service.commands.evaluate import evaluate_app, table_console


@evaluate_app.command("root-cause")
def evaluate_root_cause(
        data: list[Path] = typer.Option(..., "--data", "-d",
                                        help="causRCA data set, group, scenario or run folder; AI4I-style CSV; "
                                             "`observation,failure mode` file of any name; or folder with "
                                             "train.txt and dev.txt and/or test.txt. Repeat for several"),
        train: Optional[Path] = typer.Option(None, "--train",
                                             help="Training file of the failure-mode classifier (or a folder with "
                                                  "train.txt); default train.txt beside the scored file, else "
                                                  "the shared MWO2KG split in KG_DATA_DIR/mwo2kg/fmc"),
        causal_graph: Optional[Path] = typer.Option(None, "--causal-graph",
                                                    help="causRCA folder with the expert_graph/ to rank on; "
                                                         "default the input's own, else the shared data set "
                                                         "KG_DATA_DIR/causrca"),
        keep: bool = typer.Option(False, "--keep",
                                  help="Keep the causRCA nodes and relationships that the evaluation loads into "
                                       "the configured Neo4j; by default they are removed after scoring"),
        as_json: bool = typer.Option(False, "--json", help="Print one JSON object instead of tables"),
        limit: int = typer.Option(10, help="Candidates ranked per causRCA run")) -> None:
    """Measure causRCA Recall@k, the AI4I rule predictor and the MWO2KG failure-mode classifier.

    A causRCA input is loaded into the configured Neo4j (NEO4J_URI, else the local server of
    KG_STATE_DIR and KG_BOLT_PORT), because the ranking runs there. Afterwards, also after a
    failure, the evaluation deletes the nodes and relationships it added and restores the
    properties of those that existed before, unless --keep is given. The output reports both.
    Every input is checked before the first one is scored, so a bad one fails early.
    """
    from kg_service.cli import _errors, _store
    from kg_service.config import get_settings
    from kg_service.evaluation.rootcause import (RootCauseEvaluation, check_root_cause_inputs, evaluate_ai4i,
                                                 evaluate_causrca, evaluate_failure_mode_classifier)
    from kg_service.ingest import current_schema

    settings = get_settings()
    evaluation = RootCauseEvaluation()
    with _errors():
        # Every input is checked, and Neo4j reached, before the first one is scored.
        inputs = check_root_cause_inputs(data, train, causal_graph, settings.data_dir)
        store = _store(settings) if any(item.kind == "causrca" for item in inputs) else None
        try:
            for item in inputs:
                if item.kind == "ai4i":
                    evaluation.ai4i = evaluate_ai4i(item.path)
                    evaluation.ai4i_evaluations.append(evaluation.ai4i)
                elif item.kind == "mwo2kg":
                    evaluation.failure_mode_classifications.extend(
                        evaluate_failure_mode_classifier(item.path, train, settings.data_dir))
                    evaluation.failure_mode_classification = evaluation.failure_mode_classifications[-1]
                else:
                    evaluation.causrca = evaluate_causrca(store, current_schema(store), item.path, limit,
                                                          causal_graph, settings.data_dir, keep=keep,
                                                          inputs=item.causrca)
                    evaluation.causrca_evaluations.append(evaluation.causrca)
        finally:
            if store is not None:
                store.close()

    if as_json:
        typer.echo(evaluation.model_dump_json(exclude={"causrca": {"rankings"},
                                                       "causrca_evaluations": {"__all__": {"rankings"}}}))
        return
    _print_tables(evaluation)


def _print_tables(evaluation) -> None:
    from rich.table import Table

    console = table_console()
    for result in evaluation.causrca_evaluations:
        table = Table(title=f"causRCA root cause, {result.data}: {_count(result.runs, 'fault run')} "
                            f"({len(result.skipped_runs)} skipped)")
        table.add_column("ranking")
        for metric in next(iter(result.recall.values())):
            table.add_column(f"Recall@{metric.k}", justify="right")
        for name, metrics in result.recall.items():
            table.add_row(name, *(f"{metric.value:.3f}" for metric in metrics))
        console.print(table)
        console.print(f"best Recall@1 possible (runs with several true causes): {result.recall_at_1_bound:.3f}")
        sources = {"input": "from the input", "option": "from --causal-graph",
                   "default": "the shared data set, because the input has none"}
        console.print(f"expert causal graph: {result.causal_graph}/expert_graph "
                      f"({sources.get(result.causal_graph_source, result.causal_graph_source)})")
        console.print("normal recordings: " + (f"{result.normal_recordings}/real_op" if result.normal_recordings
                                               else "none found, so deviations were not scored"))
        if result.skipped_runs:
            console.print(f"skipped {_count(len(result.skipped_runs), 'fault run')} that raised none of their "
                          f"scenario's alarms: {', '.join(result.skipped_runs)}", highlight=False)
        if result.skipped_files:
            listed = ", ".join(result.skipped_files[:10]) + (", ..." if len(result.skipped_files) > 10 else "")
            console.print(f"skipped {_count(len(result.skipped_files), 'file')} outside the fault runs "
                          f"(a run folder has causes.json and faultDataset_*.csv): {listed}", highlight=False)
        if result.graph_changes is not None:
            _print_graph_changes(console, result.graph_changes)
    for result in evaluation.ai4i_evaluations:
        console.print(f"AI4I rule predictor, {result.data}: accuracy {result.accuracy.value:.3f} "
                      f"({result.accuracy.correct}/{result.accuracy.cases} failed machines with a flag), "
                      f"{result.rule_mode_accuracy.value:.3f} on HDF/PWF/OSF machines")
        table = Table(title="AI4I failure modes")
        for column in ("mode", "precision", "recall", "support"):
            table.add_column(column, justify="left" if column == "mode" else "right")
        for mode in result.modes:
            table.add_row(mode.label, f"{mode.precision:.3f}", f"{mode.recall:.3f}", str(mode.support))
        console.print(table)
    for result in evaluation.failure_mode_classifications:
        console.print(f"MWO2KG failure-mode classifier, trained on {result.train_file} "
                      f"({_count(result.train_examples, 'example')}, {_count(result.train_labels, 'label')}), "
                      f"scored on {result.data} ({_count(result.scored_examples, 'example')}, "
                      f"{_count(result.scored_labels, 'label')}): "
                      f"accuracy {result.accuracy.value:.3f}, macro-F1 {result.macro_f1.value:.3f}; "
                      f"majority class '{result.baseline_label}': accuracy {result.baseline_accuracy.value:.3f}, "
                      f"macro-F1 {result.baseline_macro_f1.value:.3f}")
        if result.unseen_labels:
            console.print(f"  {result.unseen_label_examples} examples have labels that the training file lacks, "
                          f"counted as errors: {', '.join(result.unseen_labels)}")


def _count(number: int, noun: str) -> str:
    return f"{number} {noun}" if number == 1 else f"{number} {noun}s"


def _print_graph_changes(console, changes) -> None:
    added = f"{_count(changes.nodes_added, 'node')} and {_count(changes.relationships_added, 'relationship')}"
    if changes.kept:
        console.print(f"graph {changes.graph}: added {added}, kept because of --keep", highlight=False)
        return
    console.print(f"graph {changes.graph}: added {added} for the evaluation, then removed "
                  f"{_count(changes.nodes_removed, 'node')} and "
                  f"{_count(changes.relationships_removed, 'relationship')}; restored the properties of "
                  f"{_count(changes.nodes_restored, 'node')} and "
                  f"{_count(changes.relationships_restored, 'relationship')} that existed before "
                  "(pass --keep to keep the loaded data)", highlight=False)
