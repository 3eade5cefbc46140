"""Schema-guided extraction prompts and the JSON schema of the expected answer.

The system message lists each class in scope with its English and Chinese labels and
definition, and each relationship type with its domain, range and definition. One worked
example in the text's language follows as a user and an assistant turn. The answer is one JSON
object:

    {"entities": [{"text": "pump P-101", "type": "Equipment", "confidence": 0.9}, ...],
     "relations": [{"source": 1, "type": "PART_OF", "target": 0, "confidence": 0.8}, ...]}

`source` and `target` are 0-based positions in the `entities` list.
"""

from __future__ import annotations

import json
import re
from typing import Any

from kg_service.extraction.backend import ChatMessage
from kg_service.extraction.scope import ExtractionScope

_CJK = re.compile(r"[\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff]")

# One worked example per language: (text, entities as (text, class), relations as (source, type, target)).
_EXAMPLES: dict[str, tuple[str, list[tuple[str, str]], list[tuple[int, str, int]]]] = {
    "en": ("Replaced leaking mechanical seal on pump P-101; bearing worn due to lack of lubrication.",
           [("pump P-101", "Equipment"), ("mechanical seal", "Component"), ("leaking", "FailureMode"),
            ("bearing", "Component"), ("worn", "FailureMechanism"), ("lack of lubrication", "FailureCause"),
            ("Replaced", "MaintenanceAction")],
           [(1, "PART_OF", 0), (3, "PART_OF", 0)]),
    "zh": ("更换P-101泵泄漏的机械密封；轴承因缺少润滑而磨损。",
           [("P-101泵", "Equipment"), ("机械密封", "Component"), ("泄漏", "FailureMode"), ("轴承", "Component"),
            ("磨损", "FailureMechanism"), ("缺少润滑", "FailureCause"), ("更换", "MaintenanceAction")],
           [(1, "PART_OF", 0), (3, "PART_OF", 0)]),
}


def detect_language(text: str) -> str:
    """Return "zh" when at least a fifth of the letters are CJK ideographs, else "en"."""
    letters = [char for char in text if char.isalpha()]
    if not letters:
        return "en"
    cjk = sum(1 for char in letters if _CJK.match(char))
    return "zh" if cjk * 5 >= len(letters) else "en"


def answer_schema(scope: ExtractionScope) -> dict[str, Any]:
    """Return the JSON schema of an answer, with the class and relationship names in scope as enums."""
    confidence = {"type": "number", "minimum": 0, "maximum": 1}
    entity = {"type": "object",
              "properties": {"text": {"type": "string"}, "type": {"type": "string", "enum": sorted(scope.classes)},
                             "confidence": confidence},
              "required": ["text", "type"]}
    relation = {"type": "object",
                "properties": {"source": {"type": "integer", "minimum": 0},
                               "type": {"type": "string", "enum": sorted(scope.relationships) or ["NONE"]},
                               "target": {"type": "integer", "minimum": 0}, "confidence": confidence},
                "required": ["source", "type", "target"]}
    return {"type": "object",
            "properties": {"entities": {"type": "array", "items": entity},
                           "relations": {"type": "array", "items": relation}},
            "required": ["entities", "relations"]}


def worked_example(scope: ExtractionScope, lang: str) -> tuple[str, dict[str, Any]]:
    """Return the example text and its answer, keeping only the classes and relationships in scope."""
    text, entities, relations = _EXAMPLES["zh" if lang == "zh" else "en"]
    kept = [index for index, (_, class_name) in enumerate(entities) if class_name in scope.classes]
    position = {old: new for new, old in enumerate(kept)}
    answer_entities = [{"text": entities[index][0], "type": entities[index][1], "confidence": 0.9} for index in kept]
    answer_relations = [{"source": position[source], "type": type_, "target": position[target], "confidence": 0.8}
                        for source, type_, target in relations
                        if type_ in scope.relationships and source in position and target in position]
    return text, {"entities": answer_entities, "relations": answer_relations}


def _class_lines(scope: ExtractionScope) -> list[str]:
    lines = []
    for scope_class in scope.classes.values():
        labels = " / ".join(label for label in (scope_class.labels.get("en"), scope_class.labels.get("zh")) if label)
        aliases = [alias for values in scope_class.aliases.values() for alias in values]
        line = f"- {scope_class.name} ({labels}): {scope_class.definitions.get('en', '')}"
        if scope_class.definitions.get("zh"):
            line += f" {scope_class.definitions['zh']}"
        if aliases:
            line += f" Also called: {', '.join(aliases)}."
        lines.append(line)
    return lines


def _relationship_lines(scope: ExtractionScope) -> list[str]:
    lines = []
    for rel in scope.relationships.values():
        labels = " / ".join(label for label in (rel.labels.get("en"), rel.labels.get("zh")) if label)
        lines.append(f"- {rel.type} ({labels}) from {rel.domain or 'any class'} to {rel.range or 'any class'}: "
                     f"{rel.definitions.get('en', '')}")
    return lines


def build_messages(text: str, scope: ExtractionScope, lang: str | None = None) -> list[ChatMessage]:
    """Build the chat that asks for the entities and relations of `text`: instructions, the worked example, the text.

    The worked example is a user turn and an assistant turn, because small models copy the
    format of an earlier answer far more reliably than they follow a description of it.
    """
    lang = lang or detect_language(text)
    example_text, example_answer = worked_example(scope, lang)
    system = "\n".join([
        "You extract maintenance knowledge from text into a knowledge graph.",
        "Find every mention of the entity classes below. Copy each entity's text exactly as it appears in the "
        "text, in the text's own language (Chinese stays Chinese). Do not translate, invent or explain.",
        "Entity classes (use the name before the parenthesis as \"type\"):",
        *_class_lines(scope),
        "Relationship types (source and target are positions in the entities list, counted from 0; a relation "
        "must go from its first class to its second):",
        *(_relationship_lines(scope) or ["- none in scope: return an empty relations list"]),
        'Answer with one JSON object only: {"entities": [{"text": ..., "type": ..., "confidence": 0..1}], '
        '"relations": [{"source": ..., "type": ..., "target": ..., "confidence": 0..1}]}.',
    ])
    return [{"role": "system", "content": system},
            {"role": "user", "content": f"Text: {example_text}"},
            {"role": "assistant", "content": json.dumps(example_answer, ensure_ascii=False)},
            {"role": "user", "content": f"Text: {text}"}]


def retry_message(reason: str) -> ChatMessage:
    """Build the follow-up user message that asks again after a malformed answer."""
    return {"role": "user", "content": f"Your answer could not be used ({reason}). Answer again with exactly one JSON "
                                       'object of the form {"entities": [...], "relations": [...]} and nothing else.'}
