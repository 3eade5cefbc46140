"""Suggest the stored term name that a mistyped or look-alike name most likely means.

A name matches when it equals a known name after folding: Unicode NFKC (full-width Ｅ to E),
Cyrillic and Greek letters that look like ASCII letters mapped to those letters (Cyrillic Е to
E), and case folding. Without such a match, close spellings of the folded name are suggested.
"""

from __future__ import annotations

import difflib
import unicodedata
from collections.abc import Iterable
from typing import TYPE_CHECKING

from kg_service.errors import UnknownTermError
from kg_service.reasoning.lookup import shorten

if TYPE_CHECKING:
    from kg_service.ontology.schema import GraphSchema

# Cyrillic and Greek letters that most fonts draw like an ASCII letter.
_LOOK_ALIKES = str.maketrans({
    "А": "A", "В": "B", "Е": "E", "І": "I", "Ј": "J", "К": "K", "М": "M", "Н": "H", "О": "O",
    "Р": "P", "С": "C", "Ѕ": "S", "Т": "T", "У": "Y", "Х": "X", "а": "a", "е": "e", "і": "i", "ј": "j",
    "о": "o", "р": "p", "с": "c", "ѕ": "s", "у": "y", "х": "x", "һ": "h", "ԁ": "d", "ԛ": "q", "ԝ": "w",
    "Α": "A", "Β": "B", "Ε": "E", "Ζ": "Z", "Η": "H", "Ι": "I", "Κ": "K", "Μ": "M", "Ν": "N", "Ο": "O",
    "Ρ": "P", "Τ": "T", "Υ": "Y", "Χ": "X", "ο": "o", "ν": "v",
})
# Names longer than this get no suggestion, because no node label, relationship type or property name may be longer.
MAX_SUGGESTED_LENGTH = 256
# difflib ratio that a folded name must reach to count as a close spelling.
CLOSE_SPELLING_CUTOFF = 0.8


def fold_name(name: str) -> str:
    """Return `name` in the folded form that look-alike names share (NFKC, ASCII look-alikes, case folded)."""
    return unicodedata.normalize("NFKC", name).translate(_LOOK_ALIKES).casefold()


def closest_names(name: str, known: Iterable[str], limit: int = 3) -> list[str]:
    """Return up to `limit` names of `known` that `name` most likely means, best first.

    Names that fold to the same text come first. Only when there are none, names whose folded
    text is a close spelling follow. `name` itself is never returned.
    """
    if not isinstance(name, str) or not name or len(name) > MAX_SUGGESTED_LENGTH:
        return []
    by_folded: dict[str, set[str]] = {}
    for candidate in known:
        if candidate:
            by_folded.setdefault(fold_name(candidate), set()).add(candidate)
    folded = fold_name(name)
    same = sorted(by_folded.get(folded, set()) - {name})
    if same:
        return same[:limit]
    matches = difflib.get_close_matches(folded, list(by_folded), n=limit, cutoff=CLOSE_SPELLING_CUTOFF)
    return [candidate for match in matches for candidate in sorted(by_folded[match]) if candidate != name][:limit]


def did_you_mean(name: str, known: Iterable[str]) -> str:
    """Return "did you mean 'A' or 'B'?" for the closest known names, or "" when none is close."""
    names = closest_names(name, known)
    return f"did you mean {' or '.join(repr(candidate) for candidate in names)}?" if names else ""


def check_class_name(schema: GraphSchema, name: str, argument: str) -> str:
    """Return `name` when it is a node label of `schema`, else raise UnknownTermError.

    When a class name looks like `name` (Equipment for equipment, Cyrillic Еquipment or
    full-width Ｅｑｕｉｐｍｅｎｔ), the error names it. `argument` is the name of the
    argument that carried `name` (ofClass).
    """
    try:
        return schema.label(name)
    except UnknownTermError as error:
        suggestion = did_you_mean(name, schema.parents)
        if not suggestion:
            raise
        raise UnknownTermError(f"{argument} {shorten(name)} is not a class of the loaded ontologies; {suggestion} "
                               "Otherwise load an ontology that declares it ('kg-service ontology load FILE')") from error
