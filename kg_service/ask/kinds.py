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
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from kg_service.ask.messages import (BilingualNotFoundError, BilingualQueryError, english_article, entity_name,
                                     quoted, tagged_name)
from kg_service.graph.store import GraphStore

logger = logging.getLogger(__name__)

KIND_ROOT = "Equipment"
# The class whose subclasses name classes of parts in supplier questions ("bearings").
PART_ROOT = "Part"
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
WITH asset, collect(DISTINCT CASE WHEN located:ProductionLine THEN located END) AS lines,
     collect(DISTINCT CASE WHEN located:Site THEN located END) AS sites
WITH asset, CASE WHEN lines = [] THEN sites ELSE lines END AS located
RETURN asset.id AS id, labels(asset) AS labels, properties(asset) AS props,
       [place IN located | coalesce(place.nameEn, place.name)] AS places,
       [place IN located | coalesce(place.nameZh, place.nameEn, place.name)] AS placesZh
ORDER BY id
"""

# The equipment that a system, component or sensor is part of, nearest first.
OWNING_EQUIPMENT_QUERY = """
MATCH path = (:Entity {id: $asset})-[:PART_OF*1..6]->(owner:Equipment)
WITH owner, min(length(path)) AS depth
RETURN owner.id AS id, labels(owner) AS labels, properties(owner) AS props
ORDER BY depth, id
"""

MAX_NAMED_ASSETS = 5
MAX_LISTED_KINDS = 10

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

    def singular(self, lang: str) -> str:
        """Return the kind's name with an article in English ("a pump", "an industrial robot"); "泵" in Chinese."""
        if lang == "zh" and self.name_zh:
            return self.name_zh
        noun = self.name_en.lower()
        return f"{english_article(noun)} {noun}"

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
    """Read the Equipment subclasses of the stored ontologies, or an empty list when there are none."""
    return load_subclasses(store, KIND_ROOT)


def load_part_classes(store: GraphStore) -> list[EquipmentKind]:
    """Read the Part subclasses of the stored ontologies ("Bearing", "轴承"), named like kinds of equipment."""
    return load_subclasses(store, PART_ROOT)


def load_subclasses(store: GraphStore, root: str) -> list[EquipmentKind]:
    """Read the subclasses of the ontology class with node label `root`, each with the words that name it."""
    kinds = []
    for row in store.read(KINDS_QUERY, {"root": root}):
        name_en = row["en"] or row["label"]
        words_en = {word.strip().lower() for word in [name_en, *(row["altEn"] or [])] if word and word.strip()}
        words_zh = {word.strip() for word in [row["zh"], *(row["altZh"] or [])] if word and word.strip()}
        kinds.append(EquipmentKind(row["label"], frozenset(row["labels"]) | {row["label"]}, name_en, row["zh"],
                                   tuple(sorted(words_en)), tuple(sorted(words_zh))))
    logger.debug("read %d subclasses of %s from the ontology", len(kinds), root)
    return kinds


def find_kinds(question: str, kinds: list[EquipmentKind],
               excluded_spans: Sequence[tuple[int, int]] = ()) -> list[KindMention]:
    """Return every kind name in `question` outside `excluded_spans`, longest first, then by position.

    English words match whole words in any case, and Chinese words match anywhere. Shorter
    matches inside a longer one ("tools" in "machine tools") are left out.
    """
    lowered = question.lower()
    found: list[KindMention] = []
    for kind in kinds:
        for word in kind.question_words():
            # The question is matched lower-cased, so a Chinese word with Latin letters ("PLC柜") must be too.
            pattern = re.compile(re.escape(word.lower())) if _CJK.search(word) else _english_word(word)
            for match in pattern.finditer(lowered):
                if not any(start < match.end() and match.start() < end for start, end in excluded_spans):
                    found.append(KindMention(kind, match.start(), match.end()))
    found.sort(key=lambda mention: (-(mention.end - mention.start), mention.start))

    outermost: list[KindMention] = []
    for mention in found:
        if not any(other.start <= mention.start and mention.end <= other.end for other in outermost):
            outermost.append(mention)
    return outermost


def find_kind(question: str, kinds: list[EquipmentKind],
              excluded_spans: Sequence[tuple[int, int]] = ()) -> KindMention | None:
    """Return the longest kind name in `question` outside `excluded_spans` (entity names), else None."""
    found = find_kinds(question, kinds, excluded_spans)
    return found[0] if found else None


def resolve_kind(kinds: list[EquipmentKind], reference: str) -> EquipmentKind:
    """Return the kind that `reference` names: its node label, or a label in English (singular or plural) or Chinese.

    Raises NotFoundError listing the known kinds when none matches.
    """
    text = reference.strip()
    for kind in kinds:
        if text.lower() == kind.label.lower() or text.lower() in kind.question_words() or text in kind.words_zh:
            return kind
    if not kinds:
        raise BilingualNotFoundError(
            f"no kind of equipment named {quoted(reference, 'en')}: the ontology defines no subclass of {KIND_ROOT}. "
            "Add one with the GraphQL mutation addClass or load an ontology that declares one "
            "(kg-service ontology load FILE), or ask about an asset or a place",
            f"没有名为{quoted(reference, 'zh')}的设备类型：本体中没有 {KIND_ROOT} 的子类。请用 GraphQL 变更 addClass "
            "添加一个，或导入声明了设备类型的本体（kg-service ontology load FILE），或改问某台设备或某个地点")
    raise BilingualNotFoundError(
        f"no kind of equipment named {quoted(reference, 'en')} in the ontology; known kinds: "
        f"{known_kinds_text(kinds, 'en')}. Ask again with one of them, or without a kind",
        f"本体中没有名为{quoted(reference, 'zh')}的设备类型；已知的设备类型：{known_kinds_text(kinds, 'zh')}。"
        "请用其中一个类型重新提问，或去掉设备类型")


def known_kinds_text(kinds: list[EquipmentKind], lang: str = "en") -> str:
    """Format the first `MAX_LISTED_KINDS` kinds for messages: "Pump (pumps, 泵)" in English, "泵（Pump）" in Chinese.

    An English item leaves out the Chinese name when the kind has none, so it never repeats the plural.
    """
    listed = kinds[:MAX_LISTED_KINDS]
    if lang == "zh":
        return "、".join(f"{kind.plural('zh')}（{kind.label}）" for kind in listed)

    items = []
    for kind in listed:
        names = [kind.plural("en")]
        if kind.name_zh:
            names.append(kind.name_zh)
        items.append(f"{kind.label} ({', '.join(names)})")
    return ", ".join(items)


def kinds_of(kinds: list[EquipmentKind], labels: list[str], properties: dict[str, Any]) -> list[EquipmentKind]:
    """Return the kinds that an Equipment node with these labels and properties is of."""
    return [kind for kind in kinds if kind.includes(labels, properties)]


def equipment_of_kind(store: GraphStore, kind: EquipmentKind, place: str | None = None) -> list[dict[str, Any]]:
    """Return the graph rows ({id, labels, props, places}) of the equipment of `kind`, within `place` when given."""
    # NOTE: this reads every piece of equipment of the place (of the plant without one) and matches names in
    # Python, which is fine for thousands of assets but not tuned for much larger graphs.
    rows = store.read(EQUIPMENT_QUERY, {"place": place})
    return [row for row in rows if kind.includes(row["labels"], row["props"])]


def _asset_names(rows: list[dict[str, Any]], lang: str) -> str:
    names = [entity_name(row["props"], row["id"], lang) for row in rows[:MAX_NAMED_ASSETS]]
    more = len(rows) - len(names)
    if lang == "zh":
        return "、".join(names) + (f" 等 {len(rows)} 台" if more > 0 else "")
    return ", ".join(names) + (f" and {more} more" if more > 0 else "")


def scope_equipment(store: GraphStore, kind: EquipmentKind, place: dict[str, Any] | None) -> list[dict[str, Any]]:
    """Return the equipment of `kind` in `place` ({id, props}), or in the whole plant without one.

    Raises QueryError, in English and Chinese, when there is none, naming the places that do
    have equipment of the kind.
    """
    rows = equipment_of_kind(store, kind, place["id"] if place else None)
    if rows:
        return rows
    plural, plural_zh = kind.plural("en"), kind.plural("zh")
    if place is None:
        words = kind.words_en + kind.words_zh
        raise BilingualQueryError(
            f"the graph has no {plural}: no equipment is labeled {kind.label} or has "
            f"{' or '.join(repr(word) for word in words)} in its name; ask about an asset or a place instead",
            f"图谱中没有{plural_zh}：没有设备带有 {kind.label} 标签，名称中也不含"
            f"{'或'.join(f'“{word}”' for word in words)}；请改问某台设备或某个地点")
    place_en, place_zh = entity_name(place["props"], place["id"], "en"), entity_name(place["props"], place["id"], "zh")
    elsewhere = equipment_of_kind(store, kind)
    if not elsewhere:
        raise BilingualQueryError(
            f"{place_en} has no {plural}, and neither has any other place in the graph; ask about {place_en} "
            "without the kind of equipment",
            f"{place_zh}没有{plural_zh}，图谱中的其他地点也没有；请去掉设备类型再问{place_zh}")
    places_en = sorted({name for row in elsewhere for name in row["places"]})
    places_zh = sorted({name for row in elsewhere for name in row["placesZh"]})
    where_en = f"on {', '.join(places_en)}" if places_en else "in no recorded line or site"
    where_zh = f"在{'、'.join(places_zh)}" if places_zh else "不在任何已记录的产线或厂区"
    raise BilingualQueryError(
        f"{place_en} has no {plural}; the {plural} in the graph are {where_en} ({_asset_names(elsewhere, 'en')}). "
        f"Ask about {plural} without the place, or about {place_en} without the kind of equipment",
        f"{place_zh}没有{plural_zh}；图谱中的{plural_zh}{where_zh}（{_asset_names(elsewhere, 'zh')}）。"
        f"请去掉地点再问{plural_zh}，或去掉设备类型再问{place_zh}")


def check_asset_kind(store: GraphStore, kinds: list[EquipmentKind], kind: EquipmentKind,
                     asset: dict[str, Any]) -> None:
    """Raise QueryError, in English and Chinese, unless `asset` is equipment of `kind` or part of such equipment.

    The message names the kind of the asset's equipment when the ontology's kinds cover it.
    """
    if "Equipment" in asset["labels"]:
        owners = [asset]
    else:
        owners = store.read(OWNING_EQUIPMENT_QUERY, {"asset": asset["id"]})
    if any(kind.includes(row["labels"], row["props"]) for row in owners):
        return
    texts = {}
    for lang in ("en", "zh"):
        name = tagged_name(asset["props"], asset["id"], lang)
        tag = asset["props"].get("name") or name
        if owners and owners[0]["id"] == asset["id"]:
            actual = kinds_of(kinds, asset["labels"], asset["props"])
            texts[lang] = _not_of_kind(lang, name, tag, kind, [item.singular(lang) for item in actual])
        else:
            owner = owners[0] if owners else None
            owner_name = tagged_name(owner["props"], owner["id"], lang) if owner else None
            actual = kinds_of(kinds, owner["labels"], owner["props"]) if owner else []
            texts[lang] = _not_part_of_kind(lang, name, tag, kind, owner_name,
                                            [item.singular(lang) for item in actual])
    raise BilingualQueryError(texts["en"], texts["zh"])


def _not_of_kind(lang: str, name: str, tag: str, kind: EquipmentKind, actual: list[str]) -> str:
    if lang == "zh":
        is_kind = f"，而是{'、'.join(actual)}" if actual else ""
        return (f"{name}不是{kind.singular('zh')}{is_kind}；请去掉设备类型再问 {tag}，"
                f"或改问{kind.plural('zh')}")
    is_kind = f"; it is {' and '.join(actual)}" if actual else ""
    return (f"{name} is not {kind.singular('en')}{is_kind}. Ask about {tag} without the kind of equipment, or about "
            f"the {kind.plural('en')}")


def _not_part_of_kind(lang: str, name: str, tag: str, kind: EquipmentKind, owner: str | None,
                      actual: list[str]) -> str:
    if lang == "zh":
        part_of = ""
        if owner:
            part_of = f"；它属于{owner}" + (f"（{'、'.join(actual)}）" if actual else "")
        return (f"{name}不属于任何{kind.plural('zh')}{part_of}。请去掉设备类型再问 {tag}，"
                f"或改问{kind.plural('zh')}")
    part_of = ""
    if owner:
        part_of = f"; it is part of {owner}" + (f", {' and '.join(actual)}" if actual else "")
    return (f"{name} is not part of {kind.singular('en')}{part_of}. Ask about {tag} without the kind of equipment, "
            f"or about the {kind.plural('en')}")
