"""Place phrases in questions ("line 2", "二号线", "3号车间", "Suzhou Plant"), resolved to graph places.

A place is a ProductionLine or Site node. A phrase is a kind word with a number: line, area or
plant in English (also production line, workshop, site, factory), and 线/产线/生产线,
车间 or 工厂/厂区 in Chinese, with Arabic or Chinese numerals ("line 2", "line two", "2号线",
"二号线", "第二车间"). A phrase names the place whose English or Chinese name contains the same
kind and number, so "line 2" and "二号线" both name "Line 2 Assembly" (二号装配线). A place
may also be named by its full name, which the entity index finds like any other entity.
Matching a phrase reads only the names that the entity index already holds.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass
from typing import Any

from kg_service.ask.entities import EntityIndex, IndexedEntity
from kg_service.ask.messages import BilingualNotFoundError, BilingualQueryError, entity_name, join_names, quoted
from kg_service.errors import NotFoundError
from kg_service.graph.store import GraphStore
from kg_service.reasoning.lookup import resolve_entity

logger = logging.getLogger(__name__)

PLACE_CLASSES = ["ProductionLine", "Site"]

# Kind words and the kind each names. The patterns try longer words first, so "production line 3" is one phrase.
ENGLISH_KINDS = {"production line": "line", "assembly line": "line", "line": "line", "area": "area",
                 "workshop": "area", "hall": "area", "plant": "plant", "site": "plant", "factory": "plant"}
CHINESE_KINDS = {"生产线": "line", "产线": "line", "线": "line", "车间": "area", "工厂": "plant", "厂区": "plant",
                 "分厂": "plant"}
ENGLISH_NUMBERS = {"one": 1, "two": 2, "three": 3, "four": 4, "five": 5, "six": 6, "seven": 7, "eight": 8,
                   "nine": 9, "ten": 10, "eleven": 11, "twelve": 12}
CHINESE_DIGITS = {"零": 0, "〇": 0, "一": 1, "二": 2, "两": 2, "三": 3, "四": 4, "五": 5, "六": 6, "七": 7, "八": 8,
                  "九": 9}
# Characters allowed between 号 and the kind word, as in 二号装配线 ("No. 2 assembly line").
MAX_CHINESE_FILLER = 4

_ENGLISH_KIND = "|".join(re.escape(word) for word in sorted(ENGLISH_KINDS, key=len, reverse=True))
_CHINESE_KIND = "|".join(re.escape(word) for word in sorted(CHINESE_KINDS, key=len, reverse=True))
_ENGLISH_NUMBER = r"\d+|" + "|".join(ENGLISH_NUMBERS)
_CHINESE_NUMBER = r"\d+|[零〇一二两三四五六七八九十]+"
ENGLISH_PHRASE = re.compile(rf"(?<![a-z0-9])({_ENGLISH_KIND})\s*(?:no\.?\s*|#\s*)?({_ENGLISH_NUMBER})(?![a-z0-9])")
# 第二车间, 2号线, 二号装配线 (filler only after 号) and 产线2.
CHINESE_PHRASE = re.compile(
    rf"第?({_CHINESE_NUMBER})(?:号[\u3400-\u9fff]{{0,{MAX_CHINESE_FILLER}}}?|号?)({_CHINESE_KIND})")
CHINESE_KIND_FIRST = re.compile(rf"({_CHINESE_KIND})\s*(\d+)(?!\d)")


@dataclass(frozen=True)
class PlacePhrase:
    """A kind word with a number in a text, such as "line 2" (kind "line", number 2)."""

    text: str
    kind: str
    number: int
    start: int
    end: int


def chinese_number(text: str) -> int | None:
    """Return the value of Arabic digits or a Chinese numeral below 100 (二 -> 2, 十二 -> 12); None otherwise."""
    if text.isdigit():
        return int(text)
    if "十" not in text:
        if len(text) == 1 and text in CHINESE_DIGITS:
            return CHINESE_DIGITS[text]
        return None
    tens, _, units = text.partition("十")
    if any(len(part) > 1 or (part and part not in CHINESE_DIGITS) for part in (tens, units)):
        return None
    tens_value = CHINESE_DIGITS[tens] if tens else 1
    units_value = CHINESE_DIGITS[units] if units else 0
    return tens_value * 10 + units_value


def find_place_phrases(text: str) -> list[PlacePhrase]:
    """Return the place phrases in `text`, in order of position."""
    lowered = text.lower()
    found: list[PlacePhrase] = []
    for match in ENGLISH_PHRASE.finditer(lowered):
        word, number = match.groups()
        value = int(number) if number.isdigit() else ENGLISH_NUMBERS[number]
        found.append(PlacePhrase(text[match.start():match.end()], ENGLISH_KINDS[word], value, match.start(),
                                 match.end()))
    for match in CHINESE_PHRASE.finditer(text):
        number, word = match.groups()
        value = chinese_number(number)
        if value is not None:
            found.append(PlacePhrase(match.group(0), CHINESE_KINDS[word], value, match.start(), match.end()))
    for match in CHINESE_KIND_FIRST.finditer(text):
        word, number = match.groups()
        found.append(PlacePhrase(match.group(0), CHINESE_KINDS[word], int(number), match.start(), match.end()))
    found.sort(key=lambda phrase: (phrase.start, -phrase.end))
    result: list[PlacePhrase] = []
    for phrase in found:
        if not result or phrase.start >= result[-1].end:
            result.append(phrase)
    return result


def _place_keys(entity: IndexedEntity) -> set[tuple[str, int]]:
    return {(phrase.kind, phrase.number) for name in entity.properties.values()
            for phrase in find_place_phrases(name)}


def places(index: EntityIndex) -> list[IndexedEntity]:
    """Return the indexed production lines and sites."""
    return [entity for entity in index.entities if entity.has_class(PLACE_CLASSES)]


def matching_places(index: EntityIndex, phrase: PlacePhrase) -> list[IndexedEntity]:
    """Return the places whose names contain the phrase's kind and number."""
    return [entity for entity in places(index) if (phrase.kind, phrase.number) in _place_keys(entity)]


def known_places_text(index: EntityIndex, lang: str = "en") -> str:
    """Return the graph's places as "name (key)" items, for error messages."""
    listed = [f"{entity.label(lang)}（{entity.id}）" if lang == "zh" else f"{entity.label(lang)} ({entity.id})"
              for entity in places(index)[:10]]
    if listed:
        return join_names(listed, lang)
    return "无（请先导入带有厂区或产线列的工单）" if lang == "zh" else "none (load work orders with a site or line column first)"


def resolve_place(store: GraphStore, index: EntityIndex, reference: str) -> dict[str, Any]:
    """Return the graph row ({id, labels, props}) of the place that `reference` names.

    Raises NotFoundError listing the graph's places when no place matches, and QueryError when
    several do, both with English and Chinese messages.
    """
    phrases = find_place_phrases(reference)
    if phrases:
        candidates = matching_places(index, phrases[0])
        if len(candidates) == 1:
            return resolve_entity(store, candidates[0].id, candidates[0].labels)
        if len(candidates) > 1:
            keys = ", ".join(entity.id for entity in candidates[:6])
            raise BilingualQueryError(
                f"place {quoted(reference, 'en')} names several places ({keys}); name one of them",
                f"地点{quoted(reference, 'zh')}对应多个地点（{keys}），请指明其中一个")
    else:
        try:
            return index.resolve(store, reference, PLACE_CLASSES, "place")
        except NotFoundError:
            pass
    raise BilingualNotFoundError(
        f"no production line or site named {quoted(reference, 'en')} in the graph; known places: "
        f"{known_places_text(index, 'en')}. Ask again with one of them, or without a place for the whole plant",
        f"图谱中没有名为{quoted(reference, 'zh')}的产线或厂区；已知的地点：{known_places_text(index, 'zh')}。"
        "请用其中一个地点重新提问，或去掉地点以查询整个工厂")


CONTAINED_QUERY = """
MATCH (asset:Entity {id: $asset}), (place:Entity {id: $place})
OPTIONAL MATCH (asset)-[:PART_OF*1..6]->(other)
WHERE other:ProductionLine OR other:Site
RETURN asset = place OR EXISTS { (asset)-[:PART_OF*1..6]->(place) } AS inside,
       collect(DISTINCT coalesce(other.nameEn, other.name, other.id)) AS places,
       collect(DISTINCT coalesce(other.nameZh, other.nameEn, other.name, other.id)) AS placesZh
"""


def check_within(store: GraphStore, asset: dict[str, Any], place: dict[str, Any]) -> None:
    """Raise QueryError, in English and Chinese, when `asset` is not `place` and not part of it by PART_OF links."""
    row = store.read(CONTAINED_QUERY, {"asset": asset["id"], "place": place["id"]})[0]
    if row["inside"]:
        return
    asset_en, asset_zh = (entity_name(asset["props"], asset["id"], lang) for lang in ("en", "zh"))
    place_en, place_zh = (entity_name(place["props"], place["id"], lang) for lang in ("en", "zh"))
    where_en = ", ".join(sorted(row["places"])) or "no recorded line or site"
    where_zh = f"它属于{'、'.join(sorted(row['placesZh']))}" if row["placesZh"] else "图谱没有记录它所在的产线或厂区"
    raise BilingualQueryError(
        f"{asset_en} is not part of {place_en} (it is part of {where_en}); ask about {asset_en} without the place, "
        f"or name equipment of {place_en}",
        f"{asset_zh}不属于{place_zh}（{where_zh}）；请去掉地点再问{asset_zh}，或改问{place_zh}的设备")
