"""Entity mentions in questions: names and aliases in English and Chinese, resolved to graph keys.

A reference such as "3号空压机", "compressor 3" or "AC3" is resolved in three steps:
`kg_service.reasoning.lookup.resolve_entity` (exact key or name in either language), then the
aliases built here from the stored names, then the best word or character overlap with the
names. Every name is read from Neo4j with fixed queries; a reference only ever reaches Cypher
as a parameter.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass, field
from typing import Any

from kg_service.ask.categories import load_categories
from kg_service.ask.kinds import EquipmentKind, load_kinds, load_part_classes
from kg_service.ask.messages import BilingualNotFoundError, BilingualQueryError, quoted
from kg_service.errors import NotFoundError, QueryError
from kg_service.graph.store import GraphStore
from kg_service.reasoning.lookup import display_name, resolve_entity

logger = logging.getLogger(__name__)

ASSET_CLASSES = ["Equipment", "System", "Component", "ProductionLine", "Site", "Asset"]
CONDITION_CLASSES = ["FailureMode", "Symptom"]
DESIGN_TARGET_CLASSES = ["Product", "Design", "Part", "Component"]
INDEXED_CLASSES = ["Equipment", "System", "Component", "ProductionLine", "Site", "FailureMode", "Symptom", "Part",
                   "Supplier", "Product", "Design", "Material", "Document"]
# NOTE: a graph with more named entities than this gets aliases for the first ones by key only.
MAX_INDEXED_ENTITIES = 50_000
# Names listed when nothing in the graph is close to an unknown reference.
MAX_LISTED_NAMES = 3
# A fuzzy match needs at least this share of a name's words (or Chinese character pairs) in the text.
MIN_OVERLAP = 0.5

INDEX_QUERY = """
MATCH (n:Entity)
WHERE any(label IN labels(n) WHERE label IN $classes)
  AND (n.name IS NOT NULL OR n.nameEn IS NOT NULL OR n.nameZh IS NOT NULL)
RETURN n.id AS id, labels(n) AS labels, n.name AS name, n.nameEn AS nameEn, n.nameZh AS nameZh
ORDER BY id LIMIT $max
"""

# Chinese words for the roles that `EntityIndex.resolve` names in its messages; other roles read 实体 (entity).
ROLES_ZH = {"asset": "设备", "place": "地点", "failure mode": "故障模式", "failure_mode": "故障模式", "symptom": "症状",
            "part": "零件", "entity": "实体", "target": "产品、设计或零件", "product, design or part": "产品、设计或零件"}

_CJK = re.compile(r"[\u3400-\u9fff]")
# A one-character tag ("D" of the excavators A to E): an upper-case letter or a digit standing alone.
SHORT_TAG = re.compile(r"(?<![A-Za-z0-9-])([A-Z0-9])(?![A-Za-z0-9-])")
# Words of equipment that may come before a one-character tag ("excavator D", "D号挖掘机") besides the kinds
# of the ontology, because work-order exports rarely come with an ontology class for their machines.
EQUIPMENT_WORDS_EN = ("excavator", "machine", "asset", "equipment", "unit", "truck", "loader", "crane", "vehicle",
                      "robot")
EQUIPMENT_WORDS_ZH = ("挖掘机", "装载机", "设备", "机器", "机组", "卡车", "车辆")
_SENTENCE_END = ".!?。！？"
_WORD = re.compile(r"[a-z0-9]+(?:-[a-z0-9]+)*")
_STOP_WORDS = {"the", "a", "an", "of", "for", "on", "in", "at", "to", "and", "is", "are", "does", "did", "do", "why",
               "what", "which", "who", "how", "with", "from", "by", "our", "my", "its", "it", "that", "this", "me",
               "show", "list", "all", "can", "be", "has", "have", "there", "any"}


def has_cjk(text: str) -> bool:
    """Return whether the text contains Chinese characters."""
    return bool(_CJK.search(text))


def _words(text: str) -> set[str]:
    return {word for word in _WORD.findall(text.lower()) if word not in _STOP_WORDS and len(word) > 1}


def _cjk_pairs(text: str) -> set[str]:
    characters = [char for char in text if _CJK.match(char)]
    return {a + b for a, b in zip(characters, characters[1:])}


@dataclass
class IndexedEntity:
    """A named entity with the aliases a question may use for it."""

    id: str
    labels: list[str]
    properties: dict[str, Any]
    aliases: set[str] = field(default_factory=set)

    def label(self, lang: str) -> str:
        return display_name(self.properties, lang) or self.id

    def has_class(self, classes: list[str]) -> bool:
        return bool(set(self.labels) & set(classes))


@dataclass(frozen=True)
class ShortTag:
    """A one-character token of a question that may be an asset tag, with the assets whose tag it is."""

    token: str
    start: int
    end: int
    # Whether an equipment word comes right before ("excavator D") or after ("D号挖掘机") the token.
    after_equipment_word: bool
    entities: tuple["IndexedEntity", ...]


@dataclass(frozen=True)
class Mention:
    """A span of the question that names entities, with the alias that matched."""

    alias: str
    start: int
    end: int
    entities: tuple[IndexedEntity, ...]

    def exact(self, text: str) -> bool:
        """Return whether the matched words of `text` are a whole name of an entity, with no suffix added."""
        if text[self.start:self.end].lower() != self.alias:
            return False
        return any(self.alias == str(name).strip().lower() for entity in self.entities
                   for name in entity.properties.values())


# Words that factory engineers use in Chinese for a failure mode with one of these names: a question
# saying "漏油" means the failure mode 泄漏. Only a failure mode stored with the name gets them.
ZH_FAILURE_MODE_WORDS: dict[str, tuple[str, ...]] = {
    "泄漏": ("漏油", "渗油", "漏水", "漏气"),
    "过热": ("发烫", "过烫", "超温", "温度过高"),
    "噪声": ("噪音", "异响"),
    "振动": ("震动", "抖动"),
    "无法启动": ("启动不了", "不能启动", "起动不了"),
    "压力低": ("压力不足", "欠压"),
}


def _aliases(name: str | None, name_en: str | None, name_zh: str | None, labels: list[str]) -> set[str]:
    aliases: set[str] = set()
    if "FailureMode" in labels:
        for text in (name, name_zh):
            aliases.update(ZH_FAILURE_MODE_WORDS.get((text or "").strip(), ()))
    for text in (name, name_en, name_zh):
        if not text:
            continue
        lowered = text.strip().lower()
        aliases.add(lowered)
        words = lowered.split()
        # "air compressor 3" is also "compressor 3"; "coolant pump p-101" is also "pump p-101". Longer
        # names are descriptions, whose tails ("... the ac-3 cooling module") would name other things.
        for start in range(1, len(words) - 1 if len(words) <= 4 else 1):
            aliases.add(" ".join(words[start:]))
        if re.fullmatch(r"[a-z]+-\d+", lowered):
            letters, number = lowered.split("-")
            aliases.update({f"{letters}{number}", f"{letters} {number}", f"{letters}{int(number)}"})
        if "FailureMode" in labels and " " not in lowered:
            # "overheating" is also "overheat(s)", "vibration" also "vibrat(es|ing)", for the keyword rules.
            for suffix, stem_end in (("ing", ""), ("ation", "at")):
                if lowered.endswith(suffix) and len(lowered) > len(suffix) + 3:
                    aliases.add(lowered[: -len(suffix)] + stem_end)
        zh_number = re.fullmatch(r"(\d+)号(.+)", text.strip())
        if zh_number:
            number, noun = zh_number.groups()
            aliases.update({f"{noun}{number}号", f"{number}#{noun}", f"{noun}{number}"})
    return {alias for alias in aliases if len(alias) >= 2}


class EntityIndex:
    """Aliases of the named entities of the graph, read once per question.

    Usage:
        index = EntityIndex.load(store)
        index.mentions("为什么3号空压机停机？")        # -> [Mention(alias='3号空压机', ...)]
        index.resolve(store, "compressor 3", ASSET_CLASSES)  # -> the row of AC-3
    """

    def __init__(self, entities: list[IndexedEntity], kinds: list[EquipmentKind] | None = None,
                 part_classes: list[EquipmentKind] | None = None, categories: list[str] | None = None) -> None:
        self.entities = entities
        # The kinds of equipment (Equipment subclasses of the ontology) that questions may name.
        self.kinds = kinds or []
        # The classes of parts (Part subclasses such as Bearing) that supplier questions may name.
        self.part_classes = part_classes or []
        # The product groups of parts ("ARV"), the categories that supplier questions may name.
        self.categories = categories or []
        self._by_alias: dict[str, list[IndexedEntity]] = {}
        for entity in entities:
            for alias in entity.aliases:
                self._by_alias.setdefault(alias, []).append(entity)
        # Longest aliases first, so "air compressor 3" wins over "compressor 3" at the same place.
        self._aliases = sorted(self._by_alias, key=len, reverse=True)
        # One-character tags are no aliases, because "a" or "I" would match ordinary words; see `short_tags`.
        self._short_tags: dict[str, list[IndexedEntity]] = {}
        for entity in entities:
            if not entity.has_class(ASSET_CLASSES):
                continue
            for name in {str(name).strip() for name in entity.properties.values()}:
                if SHORT_TAG.fullmatch(name):
                    self._short_tags.setdefault(name, []).append(entity)

    @classmethod
    def load(cls, store: GraphStore, classes: list[str] | None = None) -> "EntityIndex":
        rows = store.read(INDEX_QUERY, {"classes": classes or INDEXED_CLASSES, "max": MAX_INDEXED_ENTITIES})
        entities = []
        for row in rows:
            properties = {name: row[name] for name in ("name", "nameEn", "nameZh") if row[name]}
            entities.append(IndexedEntity(row["id"], row["labels"], properties,
                                          _aliases(row["name"], row["nameEn"], row["nameZh"], row["labels"])))
        logger.debug("indexed %d named entities for questions", len(entities))
        return cls(entities, load_kinds(store), load_part_classes(store), load_categories(store))

    def mentions(self, text: str) -> list[Mention]:
        """Return the non-overlapping alias matches in `text`, longest alias first at each place."""
        lowered = text.lower()
        covered = [False] * len(lowered)
        found: list[Mention] = []
        for alias in self._aliases:
            for match in self._find(alias, lowered):
                start, end = match
                if any(covered[start:end]):
                    continue
                for position in range(start, end):
                    covered[position] = True
                found.append(Mention(alias, start, end, tuple(self._by_alias[alias])))
        for tag in self.short_tags(text):
            # A one-character tag counts here only after an equipment word ("excavator D"). `read_subjects` of
            # the keyword rules also takes one that is the only subject of a question about failures.
            if tag.after_equipment_word and tag.entities and not any(covered[tag.start:tag.end]):
                found.append(Mention(tag.token.lower(), tag.start, tag.end, tag.entities))
        return sorted(found, key=lambda mention: mention.start)

    def short_tags(self, text: str) -> list[ShortTag]:
        """Return the one-character tokens of `text` that may be asset tags, known or not.

        A token is an upper-case letter or a digit standing alone as a word. The article "A" at the
        start of a sentence and the pronoun "I" count only right after an equipment word.
        """
        found = []
        for match in SHORT_TAG.finditer(text):
            token, start, end = match.group(1), match.start(), match.end()
            after_word = self.after_equipment_word(text, start, end)
            before = text[:start].rstrip()
            # "A pump failed" starts with the article; "A的维修记录" starts with the tag A.
            article = (token == "A" and (not before or before[-1] in _SENTENCE_END)
                       and re.match(r"\s+[A-Za-z]", text[end:]) is not None)
            if not after_word and (token == "I" or article):
                continue
            found.append(ShortTag(token, start, end, after_word, tuple(self._short_tags.get(token, ()))))
        return found

    def after_equipment_word(self, text: str, start: int, end: int) -> bool:
        """Return whether an equipment word or kind comes right before ("excavator D") or after ("D号挖掘机") a span."""
        words = {word for kind in self.kinds for word in kind.question_words()}
        words |= set(EQUIPMENT_WORDS_ZH) | set(EQUIPMENT_WORDS_EN) | {f"{word}s" for word in EQUIPMENT_WORDS_EN}
        english = "|".join(re.escape(word) for word in sorted(words, key=len, reverse=True) if not has_cjk(word))
        chinese = "|".join(re.escape(word) for word in sorted(words, key=len, reverse=True) if has_cjk(word))
        if re.search(rf"(?<![a-z0-9])(?:{english})\s*(?:no\.?\s*|#\s*)?$", text[:start].lower()):
            return True
        return bool(chinese) and bool(re.search(rf"(?:{chinese})\s*$", text[:start])
                                      or re.match(rf"\s*号?\s*(?:{chinese})", text[end:]))

    @staticmethod
    def _find(alias: str, text: str) -> list[tuple[int, int]]:
        if has_cjk(alias):
            return [(match.start(), match.end()) for match in re.finditer(re.escape(alias), text)]
        # Latin aliases match whole words; a failure-mode stem may take a suffix ("overheats").
        pattern = rf"(?<![a-z0-9]){re.escape(alias)}(?:s|e|es|ed|ing)?(?![a-z0-9])"
        return [(match.start(), match.end()) for match in re.finditer(pattern, text)]

    def candidates(self, text: str, classes: list[str]) -> list[IndexedEntity]:
        """Return the entities of `classes` that `text` names by alias, in order of mention."""
        result: list[IndexedEntity] = []
        for mention in self.mentions(text):
            for entity in mention.entities:
                if entity.has_class(classes) and entity not in result:
                    result.append(entity)
        return result

    def closest(self, text: str, classes: list[str], limit: int = 3) -> list[tuple[float, IndexedEntity]]:
        """Return entities of `classes` ranked by the share of their name's words found in `text`."""
        words, pairs = _words(text), _cjk_pairs(text)
        scored = []
        for entity in self.entities:
            if not entity.has_class(classes):
                continue
            best = 0.0
            for name in entity.properties.values():
                name_words, name_pairs = _words(name), _cjk_pairs(name)
                if name_words:
                    best = max(best, len(words & name_words) / len(name_words))
                if name_pairs:
                    best = max(best, len(pairs & name_pairs) / len(name_pairs))
            if best > 0:
                scored.append((best, entity))
        scored.sort(key=lambda item: (-item[0], item[1].id))
        return scored[:limit]

    def resolve(self, store: GraphStore, reference: str, classes: list[str], role: str) -> dict[str, Any]:
        """Return the graph row ({id, labels, props}) that `reference` names, of one of `classes`.

        Raises NotFoundError with the closest names when nothing matches, and QueryError when the
        reference names several entities equally well, both with English and Chinese messages.
        """
        role_zh = ROLES_ZH.get(role, "实体")
        by_alias = [entity for entity in self._by_alias.get(reference.strip().lower(), []) if entity.has_class(classes)]
        try:
            return resolve_entity(store, reference, classes)
        except NotFoundError:
            pass
        except QueryError:
            # Several entities have this exact name; the alias index has the same names in lower case.
            if len(by_alias) <= 1:
                raise
        if not by_alias:
            by_alias = self.candidates(reference, classes)
        if len(by_alias) == 1:
            return self._row(store, by_alias[0])
        if len(by_alias) > 1:
            keys = ", ".join(entity.id for entity in by_alias[:6])
            raise BilingualQueryError(
                f"{role} {quoted(reference, 'en')} names several entities ({keys}); name one of them",
                f"{role_zh}{quoted(reference, 'zh')}对应多个实体（{keys}），请指明其中一个")

        closest = self.closest(reference, classes)
        if closest and closest[0][0] >= MIN_OVERLAP and (len(closest) == 1 or closest[0][0] > closest[1][0]):
            return self._row(store, closest[0][1])
        raise self.not_found_error([reference], classes, role)

    def not_found_error(self, references: list[str], classes: list[str], role: str) -> BilingualNotFoundError:
        """Return the error for references that name no entity of `classes`, with the closest names of each.

        Several references read "no asset named 'AC-98' or 'AC-99' in the graph".
        """
        closest: dict[str, IndexedEntity] = {}
        for reference in references:
            for _, entity in self.closest(reference, classes):
                closest.setdefault(entity.id, entity)
        if not closest:
            for reference in references:
                for entity in self.similar_tags(reference, classes):
                    closest.setdefault(entity.id, entity)
        examples = sorted((entity for entity in self.entities if entity.has_class(classes)),
                          key=lambda entity: not entity.has_class(["Equipment"]))[:MAX_LISTED_NAMES]
        hint_en = ", ".join(f"{entity.label('en')} ({entity.id})" for entity in closest.values())
        hint_zh = "、".join(f"{entity.label('zh')}（{entity.id}）" for entity in closest.values())
        named_en = [quoted(reference, "en") for reference in references]
        named_zh = [quoted(reference, "zh") for reference in references]
        if len(references) > 1:
            named_en = [f"{', '.join(named_en[:-1])} or {named_en[-1]}"]
            named_zh = [f"{'、'.join(named_zh[:-1])}或{named_zh[-1]}"]
        # The message reaches users of `kg-service ask` too, so it lists names of the graph, not a GraphQL query.
        return BilingualNotFoundError(
            f"no {role} named {named_en[0]} in the graph"
            + (f"; closest names: {hint_en}" if hint_en else f"; {_listed_names_en(examples, role)}"),
            f"图谱中没有名为{named_zh[0]}的{ROLES_ZH.get(role, '实体')}"
            + (f"；最接近的名称：{hint_zh}" if hint_zh else f"；{_listed_names_zh(examples, role)}"))

    def similar_tags(self, reference: str, classes: list[str], limit: int = 3) -> list[IndexedEntity]:
        """Return entities of `classes` whose tag has the letters that start `reference` ("AC-1" for "AC-99").

        A one-character reference ("F") gets the one-character tags of the graph ("A", "B").
        """
        text = reference.strip()
        if SHORT_TAG.fullmatch(text):
            found = [entity for entities in self._short_tags.values() for entity in entities]
        else:
            prefix = re.match(r"[A-Za-z]{2,}", text)
            if prefix is None:
                return []
            pattern = re.compile(rf"{re.escape(prefix.group(0).lower())}(?![a-z])")
            found = [entity for entity in self.entities
                     if any(pattern.match(str(name).strip().lower()) for name in entity.properties.values())]
        found = [entity for entity in found if entity.has_class(classes)]
        # Equipment first, so "AC-1" comes before a component tagged "AC-3-CM-BRG-1".
        return sorted(found, key=lambda entity: (not entity.has_class(["Equipment"]), entity.id))[:limit]

    @staticmethod
    def _row(store: GraphStore, entity: IndexedEntity) -> dict[str, Any]:
        return resolve_entity(store, entity.id, entity.labels)



def _listed_names_en(entities: list[IndexedEntity], role: str) -> str:
    if not entities:
        return f"the graph has no {role} yet"
    return f"{role} names in the graph include {', '.join(entity.label('en') for entity in entities)}"


def _listed_names_zh(entities: list[IndexedEntity], role: str) -> str:
    if not entities:
        return f"图谱中还没有{ROLES_ZH.get(role, '实体')}"
    return f"图谱中的{ROLES_ZH.get(role, '实体')}有{'、'.join(entity.label('zh') for entity in entities)}等"
