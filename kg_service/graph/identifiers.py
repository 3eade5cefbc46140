"""Safe Cypher identifiers for labels, relationship types and property names.

Cypher cannot take a label or a relationship type as a parameter, so these names are the
only text that kg-service splices into a query. Two rules keep that safe:

1. every name must come from the loaded ontology (see `kg_service.ontology.schema.GraphSchema`),
   never from request text or model output;
2. every name is quoted with backticks, with backticks inside it doubled, as the Cypher
   grammar defines for escaped symbolic names.

Backslashes are rejected: Neo4j 5.26 reads the six characters `\u0060` inside a quoted name as a
backtick, so a name with a backslash could close the quoting and inject Cypher.
"""

from __future__ import annotations

import re
import unicodedata

from kg_service.errors import UnknownTermError

MAX_IDENTIFIER_LENGTH = 256
_PLAIN = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


def check_identifier(name: str, kind: str = "identifier") -> str:
    """Return `name` when it can be a Cypher identifier, else raise UnknownTermError."""
    if not isinstance(name, str) or not name:
        raise UnknownTermError(f"{kind} must be a non-empty string, got {name!r}")
    if len(name) > MAX_IDENTIFIER_LENGTH:
        raise UnknownTermError(f"{kind} {name[:40]!r}... is {len(name)} characters long; "
                               f"the limit is {MAX_IDENTIFIER_LENGTH}")
    if "\\" in name:
        raise UnknownTermError(f"{kind} {name!r} contains a backslash, which Cypher reads as an escape; "
                               "rename the term without it")
    for char in name:
        if unicodedata.category(char) in {"Cc", "Cs", "Co", "Cn"}:
            raise UnknownTermError(f"{kind} {name!r} contains the control or unassigned character {char!r}")
    return name


def quote(name: str, kind: str = "identifier") -> str:
    """Return `name` as an escaped Cypher symbolic name: `name`, with inner backticks doubled."""
    check_identifier(name, kind)
    return "`" + name.replace("`", "``") + "`"


def is_plain(name: str) -> bool:
    """True when `name` needs no quoting (ASCII letters, digits and underscores)."""
    return bool(_PLAIN.match(name))


def quote_labels(labels: list[str] | tuple[str, ...]) -> str:
    """Return `:`A`:`B`` for a label list, each quoted."""
    return "".join(":" + quote(label, "label") for label in labels)
