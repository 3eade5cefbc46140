"""Answer a natural-language question: map it to a tool call, run the query, write the answer.

    from kg_service.ask import Asker
    asker = Asker.from_settings(store, settings)      # keyword rules, then the configured model
    answer = asker.ask("为什么3号空压机停机？")
    answer.text, answer.tool, answer.arguments, answer.citations
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from datetime import date
from typing import Any, Literal, Protocol

from pydantic import BaseModel, Field
from pydantic_settings import BaseSettings, SettingsConfigDict

from kg_service.ask import answer as answers
from kg_service.ask.entities import ASSET_CLASSES, EntityIndex, has_cjk
from kg_service.ask.execute import ToolResult, run_tool
from kg_service.ask.kinds import resolve_kind
from kg_service.ask.prompt import ModelMapper
from kg_service.ask.messages import BilingualQueryError, error_message
from kg_service.ask.rules import (RuleMapper, joined_subjects, names_no_subject, unknown_joined_run,
                                  unknown_joined_tags, unknown_kind_word)
from kg_service.ask.timespans import find_time_window, unreadable_time_phrase
from kg_service.ask.tools import (FailureHistoryCall, PlantFailuresCall, RootCausesCall, ToolCall, UnmappableCall,
                                  call_arguments)
from kg_service.config import Settings
from kg_service.errors import ConfigurationError, KGServiceError, NotFoundError, QueryError, ToolCallError
from kg_service.extraction.backend import LLMBackend
from kg_service.graph.store import GraphStore
from kg_service.jsonable import to_jsonable
from kg_service.reasoning.lookup import check_language

logger = logging.getLogger(__name__)

MAX_QUESTION_LENGTH = 500
MAPPER_NAMES = ("auto", "rules", "transformers", "openai", "llama-cpp")


class QuestionMapper(Protocol):
    """Anything that maps a question to a tool call: `ModelMapper` or `RuleMapper`."""

    name: str
    model_id: str

    def map(self, question: str, index: EntityIndex) -> ToolCall: ...


class AnswerCitation(BaseModel):
    """A graph node or document that the answer rests on."""

    id: str
    kind: Literal["entity", "work_order", "document", "chunk", "event"]
    label: str | None = None


class AskAnswer(BaseModel):
    """The answer to one question with the query it ran and the facts it cites."""

    question: str
    lang: Literal["en", "zh"]
    status: Literal["answered", "unmappable", "failed"] = Field(
        description="answered; unmappable (no query fits); failed (the query could not run, see text)")
    tool: str | None = Field(description="The query the question was mapped to")
    arguments: dict[str, Any] = Field(default_factory=dict, description="The tool call's arguments as mapped")
    resolved: dict[str, str] = Field(default_factory=dict, description="Graph keys the entity arguments resolved to")
    text: str
    citations: list[AnswerCitation] = Field(default_factory=list)
    suggestions: list[str] = Field(default_factory=list, description="Questions the service can answer instead")
    rows: list[dict[str, Any]] = Field(default_factory=list, description="The query result as a table")
    mapped_by: str = Field(description="Mapper that produced the tool call: a backend name or 'rules'")
    mapping_error: str | None = Field(default=None, description="Why the model's tool call was rejected, when the "
                                                                "rules mapped the question instead")
    seconds: float = 0.0


def detect_language(question: str) -> str:
    """Return "zh" when the question contains Chinese characters, else "en"."""
    return "zh" if has_cjk(question) else "en"


def check_question(question: str, lang: str | None) -> str:
    """Validate the question and language; return the language to answer in."""
    if not question or not question.strip():
        raise QueryError("question must not be empty; ask, for example, 'Why does AC-3 overheat?'")
    if len(question) > MAX_QUESTION_LENGTH:
        raise QueryError(f"question is {len(question)} characters long; ask with at most {MAX_QUESTION_LENGTH}")
    if lang is not None:
        return check_language(lang)
    return detect_language(question)


class AskSettings(BaseSettings):
    """Settings of questions only: `KG_ASK_BACKEND` and `KG_ASK_MODEL` override the extraction backend's."""

    model_config = SettingsConfigDict(env_prefix="KG_ASK_", env_file=".env", env_file_encoding="utf-8",
                                      extra="ignore")

    backend: str | None = Field(default=None, description="Question mapper: auto, rules, transformers, openai or "
                                                          "llama-cpp; unset uses KG_LLM_BACKEND")
    model: str | None = Field(default=None, description="Model of a model backend; unset uses KG_LLM_MODEL")


class RulesFirstMapper:
    """A question mapper that tries the keyword rules first and a language model only where they find no query.

    The default backend `auto` maps this way. The rules map the usual questions in milliseconds
    and score best on the question sets, while a small model on a CPU takes 30 to 60 seconds per
    question. The model, loaded on its first use, reads only what the rules leave unmapped. A
    backend named explicitly (transformers, openai, llama-cpp) maps every question with the model.

    Usage::

        mapper = RulesFirstMapper(lambda: load_question_model(settings))
        call, mapped_by, model_error = mapper.map_with_source(question, index)
    """

    name = "auto"
    model_id = "keyword rules, then a language model"

    def __init__(self, load_model: Callable[[], QuestionMapper]) -> None:
        self.rules = RuleMapper()
        self._load_model = load_model
        self._model: QuestionMapper | None = None
        self._lock = threading.Lock()

    def model(self) -> QuestionMapper | None:
        """Return the model mapper, loading it once; None when no model is available."""
        with self._lock:
            if self._model is None:
                self._model = self._load_model()
                logger.info("questions that the keyword rules cannot map go to %s (%s)", self._model.name,
                            self._model.model_id)
        return None if isinstance(self._model, RuleMapper) else self._model

    def map_with_source(self, question: str, index: EntityIndex) -> tuple[ToolCall, str, str | None]:
        """Return the tool call, the name of the mapper that produced it and the model's error, if any."""
        rules_call = self.rules.map(question, index)
        if not isinstance(rules_call, UnmappableCall):
            return rules_call, self.rules.name, None

        if not any(character.isalnum() for character in question):
            # Punctuation alone ("?") names nothing a model could map, so it does not wait for one.
            return rules_call, self.rules.name, None
        model = self.model()
        if model is None:
            return rules_call, self.rules.name, None
        try:
            return model.map(question, index), model.name, None
        except ToolCallError as error:
            logger.info("neither the keyword rules nor the model mapped %r: %s", question[:80], error)
            return rules_call, self.rules.name, str(error)

    def map(self, question: str, index: EntityIndex) -> ToolCall:
        return self.map_with_source(question, index)[0]


def create_mapper(settings: Settings, backend: str | None = None, model: str | None = None) -> QuestionMapper:
    """Return the mapper for `backend` and `model`.

    Unset, they come from KG_ASK_BACKEND and KG_ASK_MODEL, else from the extraction settings
    KG_LLM_BACKEND and KG_LLM_MODEL.

    "rules" is the keyword mapper. "auto" is a `RulesFirstMapper`: the keyword rules, then the
    configured model (when one is installed) for the questions the rules cannot map. Any other
    name must load, or ConfigurationError is raised.
    """
    ask_settings = AskSettings()
    name = backend or ask_settings.backend or settings.llm_backend
    model = model or ask_settings.model
    if name not in MAPPER_NAMES:
        raise ConfigurationError(f"question backend {name!r} is invalid; use one of {', '.join(MAPPER_NAMES)}")
    if name == "rules":
        return RuleMapper()
    if name == "auto":
        return RulesFirstMapper(lambda: _model_mapper(settings, name, model))
    return _model_mapper(settings, name, model)


def _model_mapper(settings: Settings, name: str, model: str | None) -> QuestionMapper:
    """Load the model mapper of backend `name`; for "auto", return the keyword rules when no model loads."""
    try:
        from kg_service.extraction.backends import create_backend
    except ImportError as error:
        if name == "auto":
            logger.info("no language-model backends are installed (%s); questions use the keyword rules", error)
            return RuleMapper()
        raise ConfigurationError(f"the {name} backend is not available ({error}); install the model backends with "
                                 "pip install 'kg-service[llm]' or ask with --backend rules") from None
    try:
        overrides = {"model": model} if model else {}
        if name != "auto":
            overrides["backend"] = name
        language_model = create_backend(settings, **overrides)
    except KGServiceError as error:
        if name == "auto":
            logger.info("no language model could be loaded (%s); questions use the keyword rules", error)
            return RuleMapper()
        raise
    return ModelMapper(language_model)


def with_time_window(call: ToolCall, question: str, today: date) -> ToolCall:
    """Return `call` narrowed to the date window that the question names, for the calls that take one.

    The window read from the question's words replaces dates that a model wrote, because small
    models get date arithmetic wrong. A question without a time expression keeps the call as it is.
    """
    if not isinstance(call, (RootCausesCall, FailureHistoryCall, PlantFailuresCall)):
        return call
    window = find_time_window(question, today)
    if window is None:
        return call
    logger.debug("question %r names the window %s to %s (%r)", question[:80], window.since, window.until,
                 window.phrase)
    return call.model_copy(update={"since": window.since, "until": window.until})


def split_subjects(call: ToolCall, question: str, index: EntityIndex) -> list[ToolCall]:
    """Return one call per subject when the question joins several ("Why did AC-3 and the pumps fail?").

    A call has one asset and one kind, and a kind beside an asset only checks the asset's kind
    ("pump AC-3" fails for a compressor). Joined by "and", "和", "与", "及", a comma or a similar
    joiner (see `SUBJECT_JOINER`), assets and kinds are separate subjects ("AC-3 and AC-1", "泵和压缩机",
    "AC-3和所有泵"). Each asset is asked about without the kind, and also without the place when a kind
    is joined too. Each kind is asked about without the asset. The calls follow the question's order.
    The call is returned alone when the question joins no subjects or its subject is not among them.
    When any call fails, the whole answer fails with that call's error.
    """
    # NOTE: only subjects that the entity index or the kinds recognize are joined. An unknown tag joined to a
    # known asset ("AC-3 and AC-99") gets no call, and `unknown_joined_note` names it in the answer. A kind
    # that qualifies one of several joined assets ("pump AC-3 and P-101") is not checked.
    if not isinstance(call, (RootCausesCall, FailureHistoryCall)) or (call.asset is None
                                                                      and call.equipment_kind is None):
        return [call]
    subjects = joined_subjects(question, index)
    if subjects is None or not _call_subject_joined(call, subjects, index):
        return [call]

    has_kind = any(subject == "kind" for subject, _ in subjects)
    parts = []
    for subject, reference in subjects:
        if subject == "asset":
            update: dict[str, Any] = {"asset": reference, "equipment_kind": None}
            if has_kind:
                update["place"] = None
        else:
            update = {"asset": None, "equipment_kind": reference}
        parts.append(call.model_copy(update=update))
    logger.debug("question %r joins %s, so each is answered separately", question[:80],
                 ", ".join(reference for _, reference in subjects))
    return parts


def _call_subject_joined(call: RootCausesCall | FailureHistoryCall, subjects: list[tuple[str, str]],
                         index: EntityIndex) -> bool:
    """Return whether the call's asset or kind is one of the joined subjects.

    A model writes a name ("AC-3") or a key for the asset, so both are compared with the subjects' keys.
    """
    keys = {reference for subject, reference in subjects if subject == "asset"}
    labels = {reference for subject, reference in subjects if subject == "kind"}
    if call.asset is not None:
        if call.asset in keys:
            return True
        named = {entity.id for mention in index.mentions(call.asset) for entity in mention.entities}
        if named & keys:
            return True
    if call.equipment_kind is not None:
        try:
            return resolve_kind(index.kinds, call.equipment_kind).label in labels
        except NotFoundError:
            return False
    return False


def unknown_joined_note(call: ToolCall, question: str, index: EntityIndex, lang: str) -> str:
    """Return a sentence naming the joined tags that no entity has ("AC-3 and AC-99"), else "".

    Only the known subjects get a call (see `split_subjects`), so the answer text names the tags that get no call.
    """
    if not isinstance(call, (RootCausesCall, FailureHistoryCall)):
        return ""
    unknown, known = unknown_joined_tags(question, index)
    if not unknown or not _call_subject_joined(call, [subject for _, subject in known], index):
        return ""
    return answers.unknown_tags_text(unknown, [text for text, _ in known], lang)


def check_joined_tags_known(store: GraphStore, call: ToolCall, question: str, index: EntityIndex) -> None:
    """Raise NotFoundError naming every joined tag when none of them names an asset ("AC-98 and AC-99").

    Without this check the call's asset, the first tag, would fail alone and the answer would name
    only that tag. A tag that resolves after all (by a close name) leaves the call to run as it is.
    """
    if not isinstance(call, (RootCausesCall, FailureHistoryCall)) or call.asset is None:
        return
    tags = unknown_joined_run(question, index)
    if call.asset.strip().lower() not in {tag.lower() for tag in tags}:
        return
    for tag in tags:
        try:
            index.resolve(store, tag, ASSET_CLASSES, "asset")
        except NotFoundError:
            continue
        return
    raise index.not_found_error(tags, ASSET_CLASSES, "asset")


# The events among those a ranking observed that record a given failure mode.
CONDITION_EVENTS_QUERY = """
MATCH (event:Event)-[:HAS_FAILURE_MODE]->(:FailureMode {id: $mode})
WHERE event.id IN $events
RETURN count(DISTINCT event) AS events
"""


def add_condition_event_count(store: GraphStore, result: ToolResult) -> None:
    """Store in `condition_events` how many observed events record the failure mode a ranking chose from them.

    A ranking that picked its failure mode as the most frequent among the window's events
    ("window events") is explained by that event count, not by the mode's work orders.
    """
    facts = result.facts
    if result.tool != "root_causes" or facts.get("condition_counted") != "window events" or not facts.get("condition"):
        return
    rows = store.read(CONDITION_EVENTS_QUERY, {"mode": facts["condition"]["id"], "events": facts["observed_events"]})
    facts["condition_events"] = rows[0]["events"] if rows else 0


def _merged_resolved(results: list[ToolResult]) -> dict[str, str]:
    """Merge the resolved keys of several results. A name that resolved to different keys lists them all."""
    merged: dict[str, str] = {}
    for result in results:
        for name, key in result.resolved.items():
            if name not in merged:
                merged[name] = key
            elif key not in merged[name].split(", "):
                merged[name] = f"{merged[name]}, {key}"
    return merged


def _check_time_words(question: str) -> None:
    """Raise BilingualQueryError when the question has date-like text that gives no date window.

    Such text ("Which pumps failed in 2100?", "since 2024-02-30") would otherwise be ignored,
    so the answer would silently cover all time.
    """
    phrase = unreadable_time_phrase(question)
    if phrase is None:
        return
    raise BilingualQueryError(
        f"'{phrase}' is not a date or period that can be read; write a day as YYYY-MM-DD, a month as "
        "YYYY-MM or May 2024, a quarter as Q2 2024, and years from 1900 to 2099",
        f"无法识别时间“{phrase}”；日期请写成 YYYY-MM-DD，月份写成 2024-05 或 2024年5月，季度写成 2024年第二季度，"
        "年份须在 1900 到 2099 之间")


class Asker:
    """Answer questions on one graph with one mapper; a model's invalid output falls back to the rules."""

    def __init__(self, store: GraphStore, mapper: QuestionMapper | LLMBackend | None = None,
                 fallback: bool = True, today: Callable[[], date] = date.today) -> None:
        self.store = store
        # The day that relative times in questions ("last month", "上周") count from.
        self.today = today
        if mapper is None:
            mapper = RuleMapper()
        elif not hasattr(mapper, "map"):
            mapper = ModelMapper(mapper)
        self.mapper: QuestionMapper = mapper
        self.fallback = RuleMapper() if fallback and not isinstance(mapper, RuleMapper) else None

    @classmethod
    def from_settings(cls, store: GraphStore, settings: Settings, backend: str | None = None,
                      model: str | None = None) -> "Asker":
        return cls(store, create_mapper(settings, backend, model))

    def map(self, question: str, index: EntityIndex) -> tuple[ToolCall, str, str | None]:
        """Return the tool call, the name of the mapper that produced it and the model's error, if any.

        With a fallback, an invalid model output is mapped by the rules instead. So is a model's
        `unmappable` call when the rules find a query, because small models often give up on
        questions they could map. A `RulesFirstMapper` tries the rules first itself.
        """
        if isinstance(self.mapper, RulesFirstMapper):
            return self.mapper.map_with_source(question, index)
        try:
            call = self.mapper.map(question, index)
        except ToolCallError as error:
            if self.fallback is None:
                raise
            logger.info("falling back to the keyword rules for %r: %s", question[:80], error)
            return self.fallback.map(question, index), self.fallback.name, str(error)
        if isinstance(call, UnmappableCall) and self.fallback is not None:
            rules_call = self.fallback.map(question, index)
            if not isinstance(rules_call, UnmappableCall):
                logger.info("the model found no query for %r but the keyword rules did", question[:80])
                return rules_call, self.fallback.name, "the model returned an unmappable call"
        return call, self.mapper.name, None

    def ask(self, question: str, lang: str | None = None) -> AskAnswer:
        """Answer one question in `lang` (default: the question's language)."""
        started = time.perf_counter()
        lang = check_question(question, lang)
        index = EntityIndex.load(self.store)
        try:
            call, mapped_by, mapping_error = self.map(question, index)
        except ToolCallError as error:
            call, mapped_by, mapping_error = UnmappableCall(tool="unmappable", reason=None), self.mapper.name, str(error)
        call = with_time_window(call, question, self.today())
        base = {"question": question, "lang": lang, "tool": call.tool, "arguments": to_jsonable(call_arguments(call)),
                "mapped_by": mapped_by, "mapping_error": mapping_error}

        if isinstance(call, UnmappableCall):
            # An equipment word that is no kind ("turbines") makes the answer list the kinds the ontology has.
            unknown = unknown_kind_word(question, index)
            kinds_note = answers.unknown_kind_text(unknown, index.kinds, lang) if unknown else ""
            if names_no_subject(question, index):
                examples = answers.subject_examples(index, lang)
                closest = answers.subject_suggestions(examples, lang)
                text = answers.subject_needed_text(lang, examples) + kinds_note
            else:
                closest = answers.suggestions(question, index, lang)
                text = answers.unmappable_text(lang, call.reason, closest, kinds_note)
            return AskAnswer(**base, status="unmappable", text=text, suggestions=closest,
                             seconds=time.perf_counter() - started)
        try:
            if isinstance(call, (RootCausesCall, FailureHistoryCall, PlantFailuresCall)):
                _check_time_words(question)
                check_joined_tags_known(self.store, call, question, index)
            results = [run_tool(self.store, index, part, question) for part in split_subjects(call, question, index)]
            for result in results:
                add_condition_event_count(self.store, result)
        except QueryError as error:
            # An unknown entity or an unusable argument is part of the answer, not a failure of the request.
            logger.info("question %r mapped to %s failed: %s", question[:80], call.tool, error)
            return AskAnswer(**base, status="failed",
                             text=answers.error_text(lang, error_message(error, lang), str(error)),
                             suggestions=answers.suggestions(question, index, lang, call, self.today()),
                             seconds=time.perf_counter() - started)
        text = answers.render_all(results, lang)
        note = unknown_joined_note(call, question, index, lang)
        if note:
            text = f"{note}{text}" if lang == "zh" else f"{note} {text}"
        if isinstance(call, (RootCausesCall, FailureHistoryCall)) and call.equipment_kind is None:
            # "Why did the turbines on line 1 fail?" is answered for the whole line, so the text says that
            # "turbines" names no kind.
            unknown = unknown_kind_word(question, index)
            if unknown:
                note = answers.unknown_kind_text(unknown, index.kinds, lang).strip()
                if lang == "zh":
                    text = f"{text}{note} 因此回答涵盖所有设备。"
                else:
                    text = f"{text} {note} The answer therefore covers every asset."
        # Each key is cited once, at its first place, as in the answer's list of sources.
        citations: dict[str, AnswerCitation] = {}
        for result in results:
            for item in result.citations:
                citations.setdefault(item.id, AnswerCitation(id=item.id, kind=item.kind, label=item.label))
        return AskAnswer(**base, status="answered", resolved=_merged_resolved(results), text=text,
                         citations=list(citations.values()),
                         # With two subjects, the second one's rows follow the first one's and rank from 1 again.
                         rows=to_jsonable([row for result in results for row in result.rows]),
                         seconds=time.perf_counter() - started)
