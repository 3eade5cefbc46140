"""The prompt that asks a language model to map a question onto one tool call, and the model mapper."""

from __future__ import annotations

import json
import logging

from kg_service.ask.categories import find_category
from kg_service.ask.entities import EntityIndex, IndexedEntity
from kg_service.ask.rules import read_subjects
from kg_service.ask.places import find_place_phrases, matching_places
from kg_service.errors import ToolCallError
from kg_service.ask.tools import ToolCall, parse_tool_call, tool_call_schema
from kg_service.extraction.backend import ChatMessage, GenerationRequest, LLMBackend
from kg_service.reasoning.suppliers import KPI_NAMES

logger = logging.getLogger(__name__)

# Enough for the longest tool call (rank_suppliers with every criterion) with some slack.
MAX_CALL_TOKENS = 160
MAX_HINTS = 6

SYSTEM_PROMPT = f"""You map questions about a manufacturing plant's knowledge graph onto exactly one tool call.
Answer with one JSON object and nothing else. The tools and their arguments:
- root_causes: why a failure happens. Arguments: asset, place, equipment_kind, failure_mode or symptom (at
  least one), limit (1-20), since and until (ISO dates, optional).
- failure_history: past work orders of an asset, a place or a kind of equipment. Arguments: asset, place or
  equipment_kind (at least one), failures_only (true/false), limit (1-50), since and until (ISO dates, optional).
- rank_suppliers: which supplier to choose or to switch to. Arguments: part, category, place, replace_current
  (true when the question asks for an alternative to the current supplier of the part), method (TOPSIS, VIKOR
  or WSM), criteria (some of {", ".join(KPI_NAMES)}). A category is a product group of parts that the question
  limits the suppliers to ("for ARV", "ARV suppliers", "ARV类供应商"); use the name listed under "Entities" as
  (category), else the question's word.
A place is the production line, area or site the question limits the answer to ("line 2", "二号线").
An equipment_kind is a kind of equipment the question limits the answer to ("the pumps", "泵"); use the class
name listed under "Entities" (such as Pump), and leave it out when the question names an asset.
- design_constraints: constraints or specifications of a product, design or part. Arguments: target.
- parts: the systems, components or parts of an asset, product or design (its bill of materials). Arguments:
  target.
- plant_failures: the most frequent failures of the whole plant, for a question about failures that names no
  asset, place or kind of equipment. Arguments: limit (1-20).
- lookup: what or where an entity is. Arguments: text, of_class.
- unmappable: anything else. Arguments: reason.
Name entities by the keys listed under "Entities" when one fits, else by the words of the question.
Never write Cypher or SQL."""

EXAMPLES: list[tuple[str, str, dict]] = [
    ("Why does Air Compressor 3 overheat?", "AC-3 = equipment:sample-plant:ac-3 (Equipment); "
     "Overheating = failure-mode:overheating (FailureMode)",
     {"tool": "root_causes", "asset": "equipment:sample-plant:ac-3", "failure_mode": "failure-mode:overheating"}),
    ("P-101冷却液泵的维修记录", "P-101 = equipment:sample-plant:p-101 (Equipment)",
     {"tool": "failure_history", "asset": "equipment:sample-plant:p-101"}),
    ("Which supplier should replace the supplier of the fan impeller?",
     "Fan impeller = part:sample-plant:fan-impeller (Part)",
     {"tool": "rank_suppliers", "part": "part:sample-plant:fan-impeller", "replace_current": True}),
    ("冷却模块有哪些设计约束？", "AC-3-CM = product:sample-plant:ac-3-cooling-module (Product)",
     {"tool": "design_constraints", "target": "product:sample-plant:ac-3-cooling-module"}),
    ("What is the weather tomorrow?", "none", {"tool": "unmappable", "reason": "not about the plant"}),
]


def _class_label(entity: IndexedEntity) -> str:
    return next((name for name in entity.labels if name not in ("Entity", "Asset", "Occurrence")), entity.labels[0])


def entity_hints(question: str, index: EntityIndex) -> str:
    """Return the entities, places and kinds of equipment that the question names, one `name = key (class)` per item.

    Returns "none" when the question names none of them.
    """
    hints = []
    # The same mentions and kind as the keyword rules read, so "machine tools" is a kind here too.
    mentions, kind = read_subjects(question, index)
    for mention in mentions:
        for entity in mention.entities[:2]:
            hints.append(f"{question[mention.start:mention.end]} = {entity.id} ({_class_label(entity)})")
    for phrase in find_place_phrases(question):
        for entity in matching_places(index, phrase)[:2]:
            hints.append(f"{phrase.text} = {entity.id} ({_class_label(entity)}, place)")
    if kind is not None:
        hints.append(f"{question[kind.start:kind.end]} = {kind.kind.label} (equipment_kind)")
    category = find_category(question, index.categories)
    if category is not None and category in index.categories:
        hints.append(f"{category} = {category} (category)")
    return "; ".join(hints[:MAX_HINTS]) or "none"


def _user_turn(question: str, hints: str) -> str:
    return f"Question: {question}\nEntities: {hints}\nTool call:"


def build_messages(question: str, index: EntityIndex) -> list[ChatMessage]:
    """Return the chat messages: the tool list, worked examples and the question with its entities."""
    messages: list[ChatMessage] = [{"role": "system", "content": SYSTEM_PROMPT}]
    for example, hints, call in EXAMPLES:
        messages.append({"role": "user", "content": _user_turn(example, hints)})
        messages.append({"role": "assistant", "content": json.dumps(call, ensure_ascii=False)})
    messages.append({"role": "user", "content": _user_turn(question, entity_hints(question, index))})
    return messages


class ModelMapper:
    """Map questions to tool calls with a language model backend."""

    def __init__(self, backend: LLMBackend) -> None:
        self.backend = backend
        self.name = backend.name
        self.model_id = backend.model_id

    def map(self, question: str, index: EntityIndex) -> ToolCall:
        """Ask the model for a tool call; raise ToolCallError when its output is not a valid one."""
        result = self.map_many([question], index)[0]
        if isinstance(result, ToolCallError):
            raise result
        return result

    def map_many(self, questions: list[str], index: EntityIndex) -> list[ToolCall | ToolCallError]:
        """Map a batch of questions; an invalid output gives its ToolCallError in place of a call."""
        requests = [GenerationRequest(messages=build_messages(question, index), max_new_tokens=MAX_CALL_TOKENS,
                                      json_schema=tool_call_schema(), temperature=0.0) for question in questions]
        generations = self.backend.generate(requests)
        results: list[ToolCall | ToolCallError] = []
        for question, generation in zip(questions, generations):
            try:
                results.append(parse_tool_call(generation.text))
            except ToolCallError as error:
                logger.info("model %s gave no valid tool call for %r: %s", self.model_id, question[:80], error)
                results.append(error)
        return results
