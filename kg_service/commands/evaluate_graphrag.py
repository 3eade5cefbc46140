"""`kg-service evaluate extraction-graphrag --gold FILE`: our extraction against neo4j-graphrag's SimpleKGPipeline."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Optional

import typer

from kg_service.commands.evaluate import evaluate_app, table_console
from kg_service.commands.evaluate_extraction import (BACKEND_OPTION, DEPTH_OPTION, GOLD_OPTION, MODEL_OPTION,
                                                     SCRIPTED_NOTE, system_name)


@evaluate_app.command("extraction-graphrag")
def evaluate_extraction_graphrag_command(
        gold: Path = GOLD_OPTION,
        limit: Optional[int] = typer.Option(None, min=1, help="Compare on the first N examples only"),
        depth: int = DEPTH_OPTION,
        backend: Optional[str] = BACKEND_OPTION,
        model: Optional[str] = MODEL_OPTION,
        max_new_tokens: int = typer.Option(384, min=16, help="Maximum new tokens of one model response, for both "
                                                             "systems"),
        batch_size: Optional[int] = typer.Option(None, min=1, help="Texts that our extraction decodes together "
                                                                   "(default: KG_LLM_BATCH_SIZE)"),
        prefix_slots: int = typer.Option(2, min=1, help="Prompt prefixes that llama.cpp keeps cached, so that the "
                                                        "two systems' alternating prompts keep theirs"),
        as_json: bool = typer.Option(False, "--json", help="Print one JSON object instead of a table")) -> None:
    """Run our extraction and SimpleKGPipeline on the same texts with the same model; report F1 and speed.

    Our extraction takes the texts in batches; SimpleKGPipeline runs once per text.

    SimpleKGPipeline writes into the configured Neo4j (NEO4J_URI, else the local server of
    KG_STATE_DIR and KG_BOLT_PORT): the command deletes the nodes it wrote (label __KGBuilder__)
    before each text and after the last one, and drops graphrag's index unless it existed before.
    It does not start on a graph that already has __KGBuilder__ nodes.
    """
    from kg_service.cli import _errors, _store
    from kg_service.config import get_settings
    from kg_service.evaluation.extraction import load_gold
    from kg_service.extraction.backends import create_backend
    from kg_service.extraction.scope import ExtractionScope, core_schema

    settings = get_settings()
    overrides = {key: value for key, value in (("backend", backend), ("model", model)) if value is not None}
    # neo4j-graphrag logs each pipeline run's whole schema at INFO.
    logging.getLogger("neo4j_graphrag").setLevel(max(logging.WARNING, logging.getLogger().level))
    with _errors():
        from kg_service.evaluation.graphrag_comparison import compare_with_graphrag

        gold_set = load_gold(gold, limit)
        store = _store(settings, start_local=True)
        try:
            llm = create_backend(settings, **overrides)
            scope = ExtractionScope.from_schema(core_schema())
            comparison = compare_with_graphrag(gold_set, llm, scope, store, depth=depth,
                                               max_new_tokens=max_new_tokens,
                                               batch_size=batch_size or settings.llm_batch_size,
                                               prefix_slots=prefix_slots)
        finally:
            store.close()

    if as_json:
        typer.echo(comparison.model_dump_json())
        return
    _print_table(comparison)


def _print_table(comparison) -> None:
    from rich.table import Table

    table = Table(title=f"{comparison.gold_file}: {comparison.examples} {comparison.lang} texts, "
                        f"{system_name(comparison.backend, comparison.model)}")
    for column in ("system", f"entity F1 at depth {comparison.depth}", "entity span F1", "relation F1",
                   "texts/s", "s per text", "model s", "answer tokens", "no span", "failed texts"):
        table.add_column(column, justify="left" if column == "system" else "right")
    for scores in (comparison.ours, comparison.graphrag):
        table.add_row(scores.system, f"{scores.entity_at_depth.f1:.3f}", f"{scores.entity_span.f1:.3f}",
                      f"{scores.relation_at_depth.f1:.3f}", f"{scores.texts_per_second:.3f}",
                      f"{scores.seconds_per_text:.1f}", f"{scores.model_seconds:.1f}", str(scores.completion_tokens),
                      str(scores.entities_without_span), str(scores.failed_texts))
    console = table_console()
    console.print(table)
    console.print(f"peak RSS {comparison.peak_rss_bytes / 2**30:.2f} GiB; F1 goal (ours >= graphrag) "
                  f"{'met' if comparison.f1_goal_met else 'not met'}; throughput goal (ours >= 2x graphrag) "
                  f"{'met' if comparison.throughput_goal_met else 'not met'}")
    console.print(f"SimpleKGPipeline wrote into {comparison.graph}; the {comparison.graphrag_nodes_deleted} "
                  "__KGBuilder__ nodes it wrote were deleted again", highlight=False)
    if comparison.backend == "scripted":
        console.print(SCRIPTED_NOTE)
