"""Kinds of equipment in questions ("the pumps", "压缩机"), read from the Equipment subclasses of the ontology.

A kind is a class under Equipment in the ontologies stored in Neo4j (`kg-service ontology load`
or an ontology edit), named by its rdfs:label and skos:altLabel in English and Chinese. A
question names a kind by one of those labels, in English also in the plural ("pumps"). Kinds
and their node labels come only from the stored ontology, never from the question's text.

An asset is of a kind when it is Equipment and either carries the class's node label (or a
subclass's), or has an English or Chinese name that contains one of the kind's labels
("Coolant Pump P-101", "P-101冷却液泵"). The name rule exists because work-order loaders label
equipment only `Equipment`.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass
from typing import Any

from kg_service.errors import NotFoundError, QueryError
from kg_service.graph.store import GraphStore
from kg_service.reasoning.lookup import display_name, shorten

logger = logging.getLogger(__name__)

KIND_ROOT = "Equipment"
MAX_HIERARCHY_DEPTH = 10

KINDS_QUERY = f"""
MATCH (kind:OntologyClass)-[:SUBCLASS_OF*1..{MAX_HIERARCHY_DEPTH}]->(:OntologyClass {{nodeLabel: $root}})
WHERE coalesce(kind.deprecated, false) = false
OPTIONAL MATCH (sub:OntologyClass)-[:SUBCLASS_OF*0..{MAX_HIERARCHY_DEPTH}]->(kind)
RETURN kind.nodeLabel AS label, kind.label_en AS en, kind.label_zh AS zh, kind.altLabels_en AS altEn,
       kind.altLabels_zh AS altZh, collect(DISTINCT sub.nodeLabel) AS labels
ORDER BY label
"""

# Equipment with its names, labels and lines (else sites), inside a place when `$place` is set.
EQUIPMENT_QUERY = """
MATCH (asset:Equipment)
WHERE $place IS NULL OR EXISTS { MATCH (asset)-[:PART_OF*1..6]->(:Entity {id: $place}) }
OPTIONAL MATCH (asset)-[:PART_OF*1..6]->(located)
WHERE located:ProductionLine OR located:Site
WITH asset, collect(DISTINCT CASE WHEN located:ProductionLine THEN coalesce(located.nameEn, located.name) END) AS lines,
     collect(DISTINCT CASE WHEN located:Site THEN coalesce(located.nameEn, located.name) END) AS sites
RETURN asset.id AS id, labels(asset) AS labels, properties(asset) AS props,
       CASE WHEN lines = [] THEN sites ELSE lines END AS places
ORDER BY id
"""

# The equipment that a system, component or sensor is part of.
OWNING_EQUIPMENT_QUERY = """
MATCH (:Entity {id: $asset})-[:PART_OF*1..6]->(owner:Equipment)
RETURN owner.id AS id, labels(owner) AS labels, properties(owner) AS props
"""
MAX_NAMED_ASSETS = 5

_CJK = re.compile(r"[\u3400-\u9fff]")


def english_plural(noun: str) -> str:
    """Return the plural of an English noun phrase by its last word ("air compressor" -> "air compressors")."""
    if re.search(r"(s|x|z|ch|sh)$", noun):
        return noun + "es"
    if re.search(r"[^aeiou]y$", noun):
        return noun[:-1] + "ies"
    return noun + "s"


def _english_word(word: str) -> re.Pattern[str]:
    return re.compile(rf"(?<![a-z0-9]){re.escape(word)}(?![a-z0-9])")


@dataclass(frozen=True)
class EquipmentKind:
    """An Equipment subclass of the ontology with the words that name it."""

    label: str
    labels: frozenset[str]
    name_en: str
    name_zh: str | None
    words_en: tuple[str, ...]
    words_zh: tuple[str, ...]

    def plural(self, lang: str) -> str:
        """Return the kind's name for a group of assets: "pumps" in English, "泵" in Chinese."""
        if lang == "zh" and self.name_zh:
            return self.name_zh
        return english_plural(self.name_en.lower())

    def question_words(self) -> list[str]:
        """Return the words that name the kind in a question, singular and plural, longest first."""
        words = set(self.words_zh)
        for word in self.words_en:
            words.update({word, english_plural(word)})
        return sorted(words, key=len, reverse=True)

    def includes(self, labels: list[str], properties: dict[str, Any]) -> bool:
        """Return whether an Equipment node with these labels and properties is of this kind."""
        if self.labels & set(labels):
            return True
        english = " ".join(str(properties.get(key) or "") for key in ("nameEn", "name")).lower()
        if any(_english_word(word).search(english) for word in self.words_en):
            return True
        chinese = str(properties.get("nameZh") or "")
        return any(word in chinese for word in self.words_zh)


@dataclass(frozen=True)
class KindMention:
    """A span of a question that names a kind of equipment."""

    kind: EquipmentKind
    start: int
    end: int


def load_kinds(store: GraphStore) -> list[EquipmentKind]:
    """Return the Equipment subclasses of the stored ontologies; an empty list when there are none."""
    kinds = []
    for row in store.read(KINDS_QUERY, {"root": KIND_ROOT}):
        name_en = row["en"] or row["label"]
        words_en = {word.strip().lower() for word in [name_en, *(row["altEn"] or [])] if word and word.strip()}
        words_zh = {word.strip() for word in [row["zh"], *(row["altZh"] or [])] if word and word.strip()}
        kinds.append(EquipmentKind(row["label"], frozenset(row["labels"]) | {row["label"]}, name_en, row["zh"],
                                   tuple(sorted(words_en)), tuple(sorted(words_zh))))
    logger.debug("read %d kinds of equipment from the ontology", len(kinds))
    return kinds


def find_kind(question: str, kinds: list[EquipmentKind],
              excluded_spans: list[tuple[int, int]] = ()) -> KindMention | None:
    """Return the longest kind name in `question` outside `excluded_spans` (entity names), else None.

    English words match whole words in any case; Chinese words match anywhere.
    """
    lowered = question.lower()
    found: list[KindMention] = []
    for kind in kinds:
        for word in kind.question_words():
            pattern = re.compile(re.escape(word)) if _CJK.search(word) else _english_word(word)
            for match in pattern.finditer(lowered):
                if not any(start < match.end() and match.start() < end for start, end in excluded_spans):
                    found.append(KindMention(kind, match.start(), match.end()))
    if not found:
        return None
    return min(found, key=lambda mention: (-(mention.end - mention.start), mention.start))


def resolve_kind(kinds: list[EquipmentKind], reference: str) -> EquipmentKind:
    """Return the kind that `reference` names: its node label, or a label in English (singular or plural) or Chinese.

    Raises NotFoundError listing the known kinds when none matches.
    """
    text = reference.strip()
    for kind in kinds:
        if text.lower() == kind.label.lower() or text.lower() in kind.question_words() or text in kind.words_zh:
            return kind
    if not kinds:
        raise NotFoundError(f"no kind of equipment named {shorten(reference)}: the ontology defines no subclass of "
                            f"{KIND_ROOT}. Add one with the GraphQL mutation addClass or load an ontology that declares "
                            "one (kg-service ontology load FILE), or ask about an asset or a place")
    raise NotFoundError(f"no kind of equipment named {shorten(reference)} in the ontology; known kinds: "
                        f"{known_kinds_text(kinds)}. Ask again with one of them, or without a kind")


def known_kinds_text(kinds: list[EquipmentKind]) -> str:
    """Return the kinds as "Pump (pumps, 泵)" items, for messages."""
    return ", ".join(f"{kind.label} ({kind.plural('en')}, {kind.plural('zh')})" for kind in kinds[:10])


def equipment_of_kind(store: GraphStore, kind: EquipmentKind, place: str | None = None) -> list[dict[str, Any]]:
    """Return the graph rows ({id, labels, props, places}) of the equipment of `kind`, within `place` when given."""
    # NOTE: this reads every piece of equipment of the place (of the plant without one) and matches names in
    # Python, which is fine for thousands of assets but not tuned for much larger graphs.
    rows = store.read(EQUIPMENT_QUERY, {"place": place})
    return [row for row in rows if kind.includes(row["labels"], row["props"])]


def _asset_names(rows: list[dict[str, Any]]) -> str:
    names = [display_name(row["props"], "en") or row["id"] for row in rows[:MAX_NAMED_ASSETS]]
    more = len(rows) - len(names)
    return ", ".join(names) + (f" and {more} more" if more > 0 else "")


def scope_equipment(store: GraphStore, kind: EquipmentKind, place: dict[str, Any] | None) -> list[dict[str, Any]]:
    """Return the equipment of `kind` in `place` ({id, props}), or in the whole plant without one.

    Raises QueryError when there is none, naming the places that do have equipment of the kind.
    """
    rows = equipment_of_kind(store, kind, place["id"] if place else None)
    if rows:
        return rows
    plural = kind.plural("en")
    if place is None:
        raise QueryError(f"the graph has no {plural}: no equipment is labeled {kind.label} or has "
                         f"{' or '.join(repr(word) for word in kind.words_en + kind.words_zh)} in its name; ask "
                         "about an asset or a place instead")
    place_name = display_name(place["props"], "en") or place["id"]
    elsewhere = equipment_of_kind(store, kind)
    if not elsewhere:
        raise QueryError(f"{place_name} has no {plural}, and neither has any other place in the graph; ask about "
                         f"{place_name} without the kind of equipment")
    places = sorted({name for row in elsewhere for name in row["places"]})
    where = f"on {', '.join(places)}" if places else "in no recorded line or site"
    raise QueryError(f"{place_name} has no {plural}; the {plural} in the graph are {where} "
                     f"({_asset_names(elsewhere)}). Ask about {plural} without the place, or about {place_name} "
                     "without the kind of equipment")


def check_asset_kind(store: GraphStore, kind: EquipmentKind, asset: dict[str, Any]) -> None:
    """Raise QueryError unless `asset` is equipment of `kind` or part of such equipment."""
    if "Equipment" in asset["labels"]:
        owners = [asset]
    else:
        owners = store.read(OWNING_EQUIPMENT_QUERY, {"asset": asset["id"]})
    if any(kind.includes(row["labels"], row["props"]) for row in owners):
        return
    name = display_name(asset["props"], "en") or asset["id"]
    raise QueryError(f"{name} is not one of the {kind.plural('en')} and is not part of one; ask about {name} "
                     f"without the kind of equipment, or about the {kind.plural('en')}")
