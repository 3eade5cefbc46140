"""GraphQL field `ask`: a question in English or Chinese, answered from the reasoning queries.

The configured backend (KG_LLM_BACKEND) maps the question onto one validated tool call; with
no model installed, keyword rules do. The mapper is created on the first question and shared
by later requests, because loading a model takes seconds.
"""

from __future__ import annotations

import asyncio
import logging
import threading
from typing import Any

import strawberry
from strawberry.scalars import JSON
from strawberry.types import Info

from kg_service.api.context import request_store
from kg_service.api.execution import PURE_RESOLVER
from kg_service.api.limits import Cost
from kg_service.api.paging import Connection, connection, fingerprint
from kg_service.ask.names import ClassLabels
from kg_service.ask.service import AskAnswer, Asker, QuestionMapper, create_mapper
from kg_service.config import get_settings
from kg_service.graph.store import GraphStore
from kg_service.reasoning.lookup import LANGUAGES, check_language, display_name

logger = logging.getLogger(__name__)

_mapper_lock = threading.Lock()
_shared_mapper: QuestionMapper | None = None

# Citations of these kinds are graph nodes with names in both languages; chunks and events have none.
NAMED_CITATION_KINDS = ("entity", "document")

CITED_NODES_QUERY = """
MATCH (n:Entity) WHERE n.id IN $keys
RETURN n.id AS id, labels(n) AS labels, properties(n) AS props
"""


def _mapper() -> QuestionMapper:
    global _shared_mapper
    with _mapper_lock:
        if _shared_mapper is None:
            _shared_mapper = create_mapper(get_settings())
            logger.info("questions are mapped by %s (%s)", _shared_mapper.name, _shared_mapper.model_id)
        return _shared_mapper


@strawberry.type(description="A graph node or document that an answer rests on")
class AnswerCitation:
    id: str = strawberry.field(description="Node key (entity, work order, event) or document or chunk key")
    kind: str = strawberry.field(description="entity, work_order, document, chunk or event")
    label_texts: strawberry.Private[dict[str, str | None]]
    answer_lang: strawberry.Private[str]

    @strawberry.field(description="Name of the node or document in the requested language ('en' or 'zh', any "
                                  "case), as the answer text names it. Without `lang`, the language of the answer",
                      metadata={PURE_RESOLVER: True})
    def label(self, lang: str | None = None) -> str | None:
        return self.label_texts.get(check_language(lang) if lang is not None else self.answer_lang)


@strawberry.type(description="Relay-style page of the citations of an answer")
class AnswerCitationConnection(Connection[AnswerCitation]):
    pass


# Default page size of `citations`; `first` goes up to 200.
CITATION_PAGE = 20


@strawberry.type(description="The answer to a natural-language question, with the query it ran and its citations")
class AskResult:
    question: str
    lang: str = strawberry.field(description="Language of the answer: en or zh")
    status: str = strawberry.field(description="answered; unmappable (no query fits the question); failed (the "
                                               "query could not run, for example an unknown entity)")
    tool: str | None = strawberry.field(description="The query the question was mapped to: root_causes, "
                                                    "failure_history, plant_failures, rank_suppliers, "
                                                    "design_constraints, parts, lookup or unmappable")
    arguments: JSON = strawberry.field(description="The validated arguments of the tool call")
    resolved: JSON = strawberry.field(description="Graph keys that the entity arguments resolved to")
    text: str = strawberry.field(description="The answer in the requested language, ending with the keys it cites")
    citation_items: strawberry.Private[list[AnswerCitation]]
    suggestions: list[str] = strawberry.field(description="Questions the service can answer, for an unmappable "
                                                          "or failed question")
    rows: JSON = strawberry.field(description="The query result as a list of rows")
    mapped_by: str = strawberry.field(description="Backend that produced the tool call, or 'rules'")
    mapping_error: str | None = strawberry.field(description="Why the model's tool call was rejected, when the "
                                                             "keyword rules mapped the question instead")

    @strawberry.field(description="The graph nodes and documents the answer rests on, in the order the answer "
                                  "found them. A cursor is valid only while the question maps onto the same "
                                  "tool call, because each page answers the question again",
                      metadata={PURE_RESOLVER: True})
    def citations(self, first: int = CITATION_PAGE, after: str | None = None) -> AnswerCitationConnection:
        scope = fingerprint("AskResult.citations", {"question": self.question, "lang": self.lang, "tool": self.tool,
                                                    "arguments": self.arguments})
        return connection(AnswerCitationConnection, self.citation_items, first, after, scope, "citations")


def citation_labels(store: GraphStore, answer: AskAnswer) -> dict[str, dict[str, str | None]]:
    """Return the label of each cited node in every language, by key.

    The answer cites entities and documents by their English names. The Chinese label is the name
    that a Chinese answer uses (see `ClassLabels.chinese_name`). A citation that is no graph node
    keeps its English label in both languages.
    """
    keys = [item.id for item in answer.citations if item.kind in NAMED_CITATION_KINDS]
    rows = store.read(CITED_NODES_QUERY, {"keys": keys}) if keys else []
    class_labels = ClassLabels.load(store) if rows else None
    found = {row["id"]: row for row in rows}
    labels: dict[str, dict[str, str | None]] = {}
    for item in answer.citations:
        row = found.get(item.id) if item.kind in NAMED_CITATION_KINDS else None
        if row is None:
            labels[item.id] = {language: item.label for language in LANGUAGES}
            continue
        chinese = (class_labels.chinese_name(row["props"], row["labels"]) if item.kind == "entity"
                   else display_name(row["props"], "zh"))
        labels[item.id] = {"en": item.label, "zh": chinese or item.label}
    return labels


def _result(answer: AskAnswer, labels: dict[str, dict[str, Any]]) -> AskResult:
    return AskResult(question=answer.question, lang=answer.lang, status=answer.status, tool=answer.tool,
                     arguments=answer.arguments, resolved=answer.resolved, text=answer.text,
                     citation_items=[AnswerCitation(id=item.id, kind=item.kind, label_texts=labels[item.id],
                                                    answer_lang=answer.lang)
                                     for item in answer.citations],
                     suggestions=answer.suggestions, rows=answer.rows, mapped_by=answer.mapped_by,
                     mapping_error=answer.mapping_error)


@strawberry.type
class AskQuery:
    @strawberry.field(description="Answer a question in English or Chinese by mapping it onto root causes, failure "
                                  "history, supplier ranking, design constraints or an entity lookup; `lang` "
                                  "(en or zh) defaults to the question's language",
                      directives=[Cost(weight=500)])
    async def ask(self, info: Info, question: str, lang: str | None = None) -> AskResult:
        mapper = await asyncio.to_thread(_mapper)
        store = request_store(info)
        answer = await asyncio.to_thread(Asker(store, mapper).ask, question, lang)
        labels = await asyncio.to_thread(citation_labels, store, answer)
        return _result(answer, labels)


query_type = AskQuery
