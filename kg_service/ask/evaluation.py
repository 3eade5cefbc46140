"""Measure how often a mapper turns a question into the expected tool call.

A case is correct when the tool is the expected one and every expected argument matches after
entity references are resolved to graph keys, the way `ask` resolves them. Arguments the case
does not list are not compared. An expected value may be a list of acceptable values.
"""

from __future__ import annotations

import logging
import time
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, Field, ValidationError

from kg_service.ask.entities import ASSET_CLASSES, CONDITION_CLASSES, DESIGN_TARGET_CLASSES, EntityIndex
from kg_service.ask.execute import supplier_parts
from kg_service.ask.places import resolve_place
from kg_service.ask.prompt import ModelMapper
from kg_service.ask.tools import TOOL_NAMES, ToolCall, call_arguments
from kg_service.errors import InputDataError, QueryError, ToolCallError
from kg_service.graph.store import GraphStore

logger = logging.getLogger(__name__)

QUESTIONS_FILE = Path(__file__).resolve().parent / "questions.yaml"
MODEL_BATCH = 8

# Argument -> classes its entity reference resolves to; "part" resolves like a supplier question does,
# and "place" like a place phrase ("line 2") does.
ENTITY_ARGUMENTS = {"asset": ASSET_CLASSES, "failure_mode": ["FailureMode"], "symptom": CONDITION_CLASSES,
                    "target": DESIGN_TARGET_CLASSES}


class QuestionCase(BaseModel):
    """One question with the tool call it should map to."""

    question: str
    lang: Literal["en", "zh"]
    tool: Literal[TOOL_NAMES]  # type: ignore[valid-type]
    arguments: dict[str, Any] = Field(default_factory=dict)


class CaseResult(BaseModel):
    question: str
    lang: str
    expected: dict[str, Any]
    got: dict[str, Any] | None
    tool_correct: bool
    correct: bool
    error: str | None = None


class MapperReport(BaseModel):
    """Share of questions mapped correctly by one mapper, overall and per language."""

    mapper: str
    model_id: str
    questions: int
    correct: int
    share: float
    tool_share: float
    share_en: float
    share_zh: float
    invalid_outputs: int = Field(description="Questions whose model output was not a valid tool call")
    seconds_per_question: float
    cases: list[CaseResult]


def load_questions(path: Path) -> list[QuestionCase]:
    """Read a question set; raise InputDataError naming the file and the first invalid case."""
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError) as error:
        raise InputDataError(f"cannot read the question set: {error}", path=str(path)) from None
    if not isinstance(raw, dict) or not isinstance(raw.get("questions"), list):
        raise InputDataError("expected a mapping with a 'questions' list", path=str(path))
    cases = []
    for position, item in enumerate(raw["questions"], start=1):
        try:
            cases.append(QuestionCase.model_validate(item))
        except ValidationError as error:
            raise InputDataError(f"question {position} is invalid: {error.errors(include_url=False)[0]['msg']}",
                                 path=str(path)) from None
    return cases


def _resolve_value(store: GraphStore, index: EntityIndex, name: str, value: Any) -> Any:
    if not isinstance(value, str):
        return value
    try:
        if name in ENTITY_ARGUMENTS:
            return index.resolve(store, value, ENTITY_ARGUMENTS[name], name)["id"]
        if name == "place":
            return resolve_place(store, index, value)["id"]
        if name == "part":
            return sorted(row["id"] for row in supplier_parts(store, index, value))
        if name == "text":
            return index.resolve(store, value, sorted({label for entity in index.entities for label in entity.labels}),
                                 "entity")["id"]
    except QueryError:
        return f"unresolved:{value}"
    return value


def _matches(expected: Any, got: Any) -> bool:
    if isinstance(expected, list) and not isinstance(got, list):
        return got in expected
    if isinstance(expected, list) and isinstance(got, list):
        return sorted(expected) == sorted(got) or any(sorted(option) == sorted(got) for option in expected
                                                      if isinstance(option, list))
    return expected == got


def score_case(store: GraphStore, index: EntityIndex, case: QuestionCase, call: ToolCall | None,
               error: str | None = None) -> CaseResult:
    """Compare one mapped call with the expected tool and arguments."""
    expected = {"tool": case.tool, **case.arguments}
    if call is None:
        return CaseResult(question=case.question, lang=case.lang, expected=expected, got=None, tool_correct=False,
                          correct=False, error=error)
    arguments = call_arguments(call)
    resolved = {name: _resolve_value(store, index, name, value) for name, value in arguments.items()}
    got = {"tool": call.tool, **resolved}
    tool_correct = call.tool == case.tool
    correct = tool_correct and all(_matches(value, resolved.get(name)) for name, value in case.arguments.items())
    return CaseResult(question=case.question, lang=case.lang, expected=expected, got=got, tool_correct=tool_correct,
                      correct=correct, error=error)


def _share(results: list[CaseResult], lang: str | None = None) -> float:
    chosen = [result for result in results if lang is None or result.lang == lang]
    return sum(result.correct for result in chosen) / len(chosen) if chosen else 0.0


def evaluate_mapper(store: GraphStore, mapper, cases: list[QuestionCase]) -> MapperReport:
    """Map every question with `mapper` (no fallback to the rules) and score the calls."""
    index = EntityIndex.load(store)
    started = time.perf_counter()
    calls: list[ToolCall | None] = []
    errors: list[str | None] = []
    if isinstance(mapper, ModelMapper):
        for start in range(0, len(cases), MODEL_BATCH):
            batch = cases[start:start + MODEL_BATCH]
            for outcome in mapper.map_many([case.question for case in batch], index):
                failed = isinstance(outcome, ToolCallError)
                calls.append(None if failed else outcome)
                errors.append(str(outcome) if failed else None)
    else:
        for case in cases:
            try:
                calls.append(mapper.map(case.question, index))
                errors.append(None)
            except ToolCallError as error:
                calls.append(None)
                errors.append(str(error))
    elapsed = time.perf_counter() - started

    results = [score_case(store, index, case, call, error) for case, call, error in zip(cases, calls, errors)]
    correct = sum(result.correct for result in results)
    report = MapperReport(mapper=mapper.name, model_id=mapper.model_id, questions=len(cases), correct=correct,
                          share=_share(results), tool_share=sum(r.tool_correct for r in results) / max(len(results), 1),
                          share_en=_share(results, "en"), share_zh=_share(results, "zh"),
                          invalid_outputs=sum(call is None for call in calls),
                          seconds_per_question=elapsed / max(len(cases), 1), cases=results)
    logger.info("mapper %s (%s): %d of %d questions correct", mapper.name, mapper.model_id, correct, len(cases))
    return report
