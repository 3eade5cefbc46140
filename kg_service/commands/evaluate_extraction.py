"""`kg-service evaluate extraction --gold FILE`: entity and relation F1 of LLM extraction on gold files."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Optional

import typer

from kg_service.commands.evaluate import evaluate_app, table_console


# Options that `evaluate extraction-graphrag` shares.
GOLD_OPTION = typer.Option(..., "--gold", "-g", help="Gold file: MaintIE JSON (English or Chinese) or MWO2KG NER "
                                                     "JSON lines")
DEPTH_OPTION = typer.Option(1, min=1, help="Type-path depth of the hierarchical scores (1 = top-level type)")
BACKEND_OPTION = typer.Option(None, help="Backend: auto, transformers, openai, llama-cpp or scripted (default "
                                         "KG_LLM_BACKEND)")
MODEL_OPTION = typer.Option(None, help="Model folder, GGUF file, hub id, endpoint model name or a short name "
                                       "(smollm2-135m, qwen2.5-coder-1.5b); default KG_LLM_MODEL")


@evaluate_app.command("extraction")
def evaluate_extraction_command(
        gold: Path = GOLD_OPTION,
        limit: Optional[int] = typer.Option(None, min=1, help="Score only the first N examples"),
        depth: int = DEPTH_OPTION,
        backend: Optional[str] = BACKEND_OPTION,
        model: Optional[str] = MODEL_OPTION,
        batch_size: Optional[int] = typer.Option(None, min=1, help="Texts per backend batch (default "
                                                                   "KG_LLM_BATCH_SIZE)"),
        max_new_tokens: int = typer.Option(384, min=16, help="Maximum new tokens of one model response"),
        predictions: Optional[Path] = typer.Option(None, help="Also write each text's extraction as JSON lines "
                                                              "to this file"),
        as_json: bool = typer.Option(False, "--json", help="Print one JSON object instead of a table")) -> None:
    """Extract from the gold texts and report entity and relation precision, recall and F1.

    A progress bar on stderr counts the texts as each batch finishes, and each batch gets a log line.
    """
    from kg_service.cli import _errors, _progress
    from kg_service.config import get_settings
    from kg_service.evaluation.extraction import evaluate_extraction, load_gold
    from kg_service.extraction.backends import create_backend
    from kg_service.extraction.scope import ExtractionScope, core_schema

    settings = get_settings()
    overrides = {key: value for key, value in (("backend", backend), ("model", model)) if value is not None}
    with _errors():
        gold_set = load_gold(gold, limit)
        llm = create_backend(settings, **overrides)
        scope = ExtractionScope.from_schema(core_schema())
        with _progress("extracting gold texts") as progress:
            evaluation, extractions = evaluate_extraction(gold_set, llm, scope, depth=depth,
                                                          batch_size=batch_size or settings.llm_batch_size,
                                                          max_new_tokens=max_new_tokens, progress=progress)
    if predictions is not None:
        with predictions.open("w", encoding="utf-8") as handle:
            for extraction in extractions:
                handle.write(json.dumps(extraction.to_dict(), ensure_ascii=False, default=str) + "\n")

    if as_json:
        typer.echo(evaluation.model_dump_json())
        return
    _print_table(evaluation)


def _print_table(evaluation) -> None:
    from rich.table import Table

    scores = evaluation.scores
    table = Table(title=f"{evaluation.gold_file}: {evaluation.examples} {evaluation.lang} texts, "
                        f"{system_name(evaluation.backend, evaluation.model)}")
    for column in ("measure", "precision", "recall", "F1", "matched", "predicted", "gold"):
        table.add_column(column, justify="left" if column == "measure" else "right")
    rows = (("entities, exact span and type", scores.entity_exact),
            (f"entities, type at depth {scores.depth}", scores.entity_at_depth),
            ("entities, span only", scores.entity_span),
            ("relations, exact type", scores.relation_exact),
            (f"relations, type at depth {scores.depth}", scores.relation_at_depth))
    for name, metric in rows:
        table.add_row(name, f"{metric.precision:.3f}", f"{metric.recall:.3f}", f"{metric.f1:.3f}",
                      str(metric.true_positives), str(metric.predicted), str(metric.gold))
    console = table_console()
    console.print(table)
    console.print(f"{evaluation.seconds:.1f} s, {evaluation.texts_per_second:.3f} texts/s, "
                  f"{evaluation.quarantined} quarantined, {evaluation.dropped_items} dropped items")
    if evaluation.backend == "scripted":
        console.print(SCRIPTED_NOTE)


SCRIPTED_NOTE = ("the scripted backend replays canned answers (an empty extraction for every text), so these "
                 "scores check the scoring, not the quality of a model; pass --backend and --model to score a model")


def system_name(backend: str, model: str) -> str:
    """Return "backend model", or the backend alone when the model id repeats it (the scripted backend)."""
    return backend if model == backend else f"{backend} {model}"
