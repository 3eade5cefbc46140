"""The GBNF grammar of an extraction answer, for backends that decode under a grammar (llama.cpp).

The answer is the object that `prompt.answer_schema` describes:

    {"entities": [{"text": "hydraulic pump", "type": "Equipment"}, {"text": "motor", "type": "Component"}],
     "relations": [{"source": 1, "target": 0, "type": "PART_OF"}]}

A JSON schema can bound a relation end only by a fixed number. Qwen2.5-Coder-1.5B gave an end
past the entity list for 11 of the 63 relations it proposed on 20 English and 20 Chinese MaintIE
texts, and in a trial of a shorter answer form it kept counting positions ([1, "HAS_BOM_ITEM",
17], [1, "HAS_BOM_ITEM", 18] …) until its token limit. This grammar counts instead: after k
entities, the relation ends it allows are 0 to k-1, and the relation list contains at most 2k
items (and never more than `max_relations`). The separators are fixed to those of the worked example (", " and ": "),
so no token is spent on optional whitespace.

    grammar = answer_grammar(scope)   # a string; LlamaCppBackend decodes under it
"""

from __future__ import annotations

import json

from kg_service.extraction.scope import ExtractionScope

MAX_ENTITIES = 48
"""Maximum number of entities in one answer. An estimate: the English MaintIE dev texts have 2 to 6 gold
entities each, and a chunk of 384 tokens (the default chunk size) contains about 30 such lines.

NOTE: a denser chunk (a parts list) may name more; the grammar then closes the list at this count."""

MAX_RELATIONS = 48
"""Maximum number of relations in one answer."""

RELATIONS_PER_ENTITY = 2
"""Maximum number of relations per listed entity. The MaintIE dev files have at most 1.2 gold relations per entity
in a text, and a model that loops through positions ([0, PART_OF, 1], [0, PART_OF, 2] …) stops here."""

# A JSON string of at least one character: no raw quote, backslash or control character, or an escape.
_STRING_RULE = r'''string ::= "\"" char+ "\""
char ::= [^"\\\x7F\x00-\x1F] | "\\" (["\\/bfnrt] | "u" [0-9a-fA-F] [0-9a-fA-F] [0-9a-fA-F] [0-9a-fA-F])'''


def _literal(value: str) -> str:
    """Return a GBNF literal that matches `value` as a JSON string, quotes included."""
    return json.dumps(json.dumps(value, ensure_ascii=False), ensure_ascii=False)


def _alternatives(values: list[str]) -> str:
    return " | ".join(_literal(value) for value in values)


def answer_grammar(scope: ExtractionScope, *, max_entities: int = MAX_ENTITIES,
                   max_relations: int = MAX_RELATIONS) -> str:
    """Return the GBNF grammar of an answer whose relation ends are positions in its own entity list."""
    if max_entities < 1:
        raise ValueError(f"max_entities must be at least 1, got {max_entities}")
    if max_relations < 0:
        raise ValueError(f"max_relations must be at least 0, got {max_relations}")
    relationship_types = sorted(scope.relationships)
    lines = ['root ::= "{\\"entities\\": [" ents-0',
             'ents-0 ::= "]" rels-0 | entity ents-1']

    # ents-k follows the k-th entity: close the list (relations may then use positions 0 to k-1) or add one more.
    for count in range(1, max_entities + 1):
        more = f' | ", " entity ents-{count + 1}' if count < max_entities else ""
        lines.append(f'ents-{count} ::= "]" rels-{count}{more}')

    empty_relations = '", \\"relations\\": []}"'
    lines.append(f"rels-0 ::= {empty_relations}")
    for count in range(1, max_entities + 1):
        if not relationship_types or max_relations == 0:
            lines.append(f"rels-{count} ::= {empty_relations}")
            continue
        relation_limit = min(max_relations, RELATIONS_PER_ENTITY * count)
        lines.append(f'rels-{count} ::= ", \\"relations\\": [" (rel-{count} (", " rel-{count})'
                     f'{{0,{relation_limit - 1}}})? "]}}"')
        lines.append(f'rel-{count} ::= "{{\\"source\\": " pos-{count} ", \\"target\\": " pos-{count} '
                     f'", \\"type\\": " relationship "}}"')
        lines.append(f"pos-{count} ::= " + " | ".join(f'"{position}"' for position in range(count)))

    lines.append('entity ::= "{\\"text\\": " string ", \\"type\\": " class "}"')
    lines.append(f"class ::= {_alternatives(sorted(scope.classes))}")
    if relationship_types:
        lines.append(f"relationship ::= {_alternatives(relationship_types)}")
    lines.append(_STRING_RULE)
    return "\n".join(lines) + "\n"
