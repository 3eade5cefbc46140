"""`kg-service ask "..."` and `kg-service evaluate ask`: natural-language questions on the graph."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Optional

import typer

from kg_service.cli import app
from kg_service.commands.evaluate import evaluate_app, table_console

BACKEND_HELP = ("Question mapper: auto (keyword rules first, then the configured model for questions the rules "
                "cannot map), rules (keyword rules only), transformers, openai or llama-cpp (the model maps every "
                "question); default KG_ASK_BACKEND, else KG_LLM_BACKEND")
MODEL_HELP = ("Model of a model backend: smollm2-135m, qwen2.5-coder-1.5b, a model folder, GGUF file or served "
              "model name; default KG_ASK_MODEL, else KG_LLM_MODEL, else the best installed model")


@app.command("ask")
def ask(question: str = typer.Argument(..., help="A question in English or Chinese, in quotes"),
        lang: Optional[str] = typer.Option(None, help="Answer language, en or zh; default the question's language"),
        backend: Optional[str] = typer.Option(None, help=BACKEND_HELP),
        model: Optional[str] = typer.Option(None, help=MODEL_HELP),
        as_json: bool = typer.Option(False, "--json", help="Print the whole answer as one JSON object")) -> None:
    """Answer a question with the root-cause, history, supplier, design or lookup queries."""
    from kg_service.ask import Asker
    from kg_service.cli import _errors, _store
    from kg_service.config import get_settings
    from kg_service.logging_setup import quiet_info_logs

    quiet_info_logs()
    settings = get_settings()
    with _errors():
        store = _store(settings)
        try:
            answer = Asker.from_settings(store, settings, backend, model).ask(question, lang)
        finally:
            store.close()
    if as_json:
        typer.echo(answer.model_dump_json())
        return
    typer.echo(answer.text)
    for item in answer.suggestions:
        typer.echo(f"  - {item}")
    typer.echo(f"[{answer.tool} {json.dumps(answer.arguments, ensure_ascii=False)}, mapped by {answer.mapped_by}]",
               err=True)
    if answer.status == "failed":
        raise typer.Exit(2)


@evaluate_app.command("ask")
def evaluate_ask(
        backend: list[str] = typer.Option(["rules"], "--backend", "-b", help=BACKEND_HELP + "; repeat to compare"),
        model: Optional[str] = typer.Option(None, help=MODEL_HELP + "; applies to every model backend given"),
        questions: Optional[Path] = typer.Option(None, help="Question set (YAML); default the sample-plant set "
                                                            "kg_service/ask/questions.yaml"),
        as_json: bool = typer.Option(False, "--json", help="Print one JSON object instead of tables")) -> None:
    """Measure the share of questions mapped onto the expected query and arguments, per backend.

    Needs the sample plant with designs.ttl loaded, because entity arguments are compared after
    resolution to graph keys.
    """
    from kg_service.ask.evaluation import QUESTIONS_FILE, evaluate_mapper, load_questions
    from kg_service.ask.service import create_mapper
    from kg_service.cli import _errors, _store
    from kg_service.config import get_settings

    settings = get_settings()
    reports = []
    with _errors():
        cases = load_questions(questions or QUESTIONS_FILE)
        store = _store(settings)
        try:
            for name in backend:
                reports.append(evaluate_mapper(store, create_mapper(settings, name, model), cases))
        finally:
            store.close()
    if as_json:
        typer.echo(json.dumps([report.model_dump(exclude={"cases"}) | {"failures": [
            case.model_dump() for case in report.cases if not case.correct]} for report in reports],
            ensure_ascii=False))
        return
    _print_reports(reports)


def _print_reports(reports) -> None:
    from rich.table import Table

    console = table_console()
    table = Table(title="Questions mapped onto the expected query and arguments")
    for column in ("mapper", "model", "questions", "correct", "share", "tool correct", "en", "zh",
                   "invalid outputs", "seconds per question"):
        table.add_column(column, justify="left" if column in ("mapper", "model") else "right")
    for report in reports:
        table.add_row(report.mapper, report.model_id, str(report.questions), str(report.correct),
                      f"{report.share:.3f}", f"{report.tool_share:.3f}", f"{report.share_en:.3f}",
                      f"{report.share_zh:.3f}", str(report.invalid_outputs), f"{report.seconds_per_question:.2f}")
    console.print(table)
    for report in reports:
        for case in report.cases:
            if not case.correct:
                console.print(f"[{report.mapper}] {case.question!r}: expected {case.expected}, got {case.got}"
                              + (f" ({case.error})" if case.error else ""), highlight=False)
