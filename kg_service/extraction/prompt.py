"""Schema-guided extraction prompts and the JSON schema of the expected answer.

The system message lists each class in scope with its English and Chinese labels and
definition, and each relationship type with the classes in scope that it may join. One worked
example in the text's language follows as a user and an assistant turn. The answer is one JSON
object:

    {"entities": [{"text": "pump P-101", "type": "Equipment"}, ...],
     "relations": [{"source": 1, "target": 0, "type": "PART_OF"}, ...]}

`source` and `target` are 0-based positions in the `entities` list (`grammar.answer_grammar`
keeps them within the list under llama.cpp). The schema has no
per-item confidence, because each one costs several output tokens, and Qwen2.5-Coder-1.5B only
copied the worked example's 0.9 and 0.8 when the schema had one. The answer parser derives the
confidence from how the type and the span were matched instead.
"""

from __future__ import annotations

import json
import re
from typing import Any

from kg_service.extraction.backend import ChatMessage
from kg_service.extraction.scope import ExtractionScope

_CJK = re.compile(r"[\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff]")

# One worked example per language: (text, entities as (text, class), relations as (source, type, target)).
# The texts are short work-order lines like most maintenance records: a compound asset name to be split
# into its parts, a failure mode and an action, each with the relation that joins it to its asset.
_EXAMPLES: dict[str, tuple[str, list[tuple[str, str]], list[tuple[int, str, int]]]] = {
    "en": ("<id> hydraulic pump motor overheating, replace bearing",
           [("hydraulic pump", "Equipment"), ("motor", "Component"), ("overheating", "FailureMode"),
            ("replace", "MaintenanceAction"), ("bearing", "Component")],
           [(1, "PART_OF", 0), (1, "SHOWS_FAILURE_MODE", 2), (3, "PERFORMED_ON", 4), (4, "PART_OF", 1)]),
    "zh": ("<id>液压泵电机过热，更换轴承",
           [("液压泵", "Equipment"), ("电机", "Component"), ("过热", "FailureMode"), ("更换", "MaintenanceAction"),
            ("轴承", "Component")],
           [(1, "PART_OF", 0), (1, "SHOWS_FAILURE_MODE", 2), (3, "PERFORMED_ON", 4), (4, "PART_OF", 1)]),
}


def detect_language(text: str) -> str:
    """Return "zh" when at least a fifth of the letters are CJK ideographs, else "en"."""
    letters = [char for char in text if char.isalpha()]
    if not letters:
        return "en"
    cjk = sum(1 for char in letters if _CJK.match(char))
    return "zh" if cjk * 5 >= len(letters) else "en"


def answer_schema(scope: ExtractionScope) -> dict[str, Any]:
    """Return the JSON schema of an answer, with the class and relationship names in scope as enums.

    NOTE: a schema cannot tie a relation's end positions to the length of the entity list. Under
    llama.cpp, `grammar.answer_grammar` does; an OpenAI-compatible endpoint or transformers may
    still return an end past the list, which the parser drops with its reason.
    """
    entity = {"type": "object",
              "properties": {"text": {"type": "string"}, "type": {"type": "string", "enum": sorted(scope.classes)}},
              "required": ["text", "type"]}
    relation = {"type": "object",
                "properties": {"source": {"type": "integer", "minimum": 0},
                               "target": {"type": "integer", "minimum": 0},
                               "type": {"type": "string", "enum": sorted(scope.relationships) or ["NONE"]}},
                "required": ["source", "target", "type"]}
    return {"type": "object",
            "properties": {"entities": {"type": "array", "items": entity},
                           "relations": {"type": "array", "items": relation}},
            "required": ["entities", "relations"]}


def worked_example(scope: ExtractionScope, lang: str) -> tuple[str, dict[str, Any]]:
    """Return the example text and its answer, keeping only the classes and relationships in scope."""
    text, entities, relations = _EXAMPLES["zh" if lang == "zh" else "en"]
    kept = [index for index, (_, class_name) in enumerate(entities) if class_name in scope.classes]
    position = {old: new for new, old in enumerate(kept)}
    answer_entities = [{"text": entities[index][0], "type": entities[index][1]} for index in kept]
    answer_relations = [{"source": position[source], "target": position[target], "type": type_}
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


def _classes_under(scope: ExtractionScope, ancestor: str | None) -> str:
    """Name the classes in scope that are `ancestor` or below it, joined by "or"."""
    if ancestor is None:
        return "any class"
    names = [name for name in scope.classes if scope.schema.is_a(name, ancestor)]
    return " or ".join(names) if names else ancestor


def _relationship_lines(scope: ExtractionScope) -> list[str]:
    """Describe each relationship type with the classes in scope that its source and target may have.

    With the abstract names alone, Qwen2.5-Coder-1.5B often used a type outside its domain, such
    as HAS_FAILURE_MODE from an Equipment (the domain is Occurrence), so the line names the
    concrete classes too.
    """
    lines = []
    for rel in scope.relationships.values():
        labels = " / ".join(label for label in (rel.labels.get("en"), rel.labels.get("zh")) if label)
        line = f"- {rel.type} ({labels}) from {rel.domain or 'any class'} to {rel.range or 'any class'}"
        sources, targets = _classes_under(scope, rel.domain), _classes_under(scope, rel.range)
        if (sources, targets) != (rel.domain, rel.range):
            line += f", that is from {sources} to {targets}"
        lines.append(f"{line}: {rel.definitions.get('en', '')}")
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
        "Find every mention of the entity classes below, in the order they appear. Copy each entity's text "
        "exactly as it appears in the text, in the text's own language (Chinese stays Chinese). Do not translate, "
        "invent or explain. Placeholders such as <id> are not entities.",
        "Split a compound name into the assets it names: \"hydraulic pump motor\" is the equipment \"hydraulic "
        "pump\" and its component \"motor\", and \"液压泵电机\" is \"液压泵\" and \"电机\". A word for a state or "
        "fault (not working, leaking, 不工作, 漏油) and a word for a maintenance activity (replace, 更换) are "
        "entities too.",
        "Entity classes (use the name before the parenthesis as \"type\"):",
        *_class_lines(scope),
        "Relationship types (source and target are positions in the entities list, counted from 0; a relation "
        "must go from its first class to its second):",
        *(_relationship_lines(scope) or ["- none in scope: return an empty relations list"]),
        "Link every asset to the asset it belongs to, every failure mode or symptom to its asset and every "
        "maintenance action to the asset it works on.",
        'Answer with one JSON object only: {"entities": [{"text": ..., "type": ...}], '
        '"relations": [{"source": ..., "target": ..., "type": ...}]}.',
    ])
    return [{"role": "system", "content": system},
            {"role": "user", "content": f"Text: {example_text}"},
            {"role": "assistant", "content": json.dumps(example_answer, ensure_ascii=False)},
            {"role": "user", "content": f"Text: {text}"}]


def retry_message(reason: str) -> ChatMessage:
    """Build the follow-up user message that asks again after a malformed answer."""
    return {"role": "user", "content": f"Your answer could not be used ({reason}). Answer again with exactly one JSON "
                                       'object of the form {"entities": [...], "relations": [...]} and nothing else.'}
