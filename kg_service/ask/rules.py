"""A keyword mapper from questions to tool calls, used when no language model is installed.

It picks the query from keywords in English and Chinese and fills its arguments from the
entities that the question names (see `EntityIndex.mentions`), from the place it names
(see `kg_service.ask.places`) and from the kind of equipment it names (see
`kg_service.ask.kinds`). It is also the fallback when a model's output is not a valid tool call.
"""

from __future__ import annotations

import re

from kg_service.ask.entities import DESIGN_TARGET_CLASSES, EntityIndex, IndexedEntity
from kg_service.ask.kinds import KindMention, find_kind
from kg_service.ask.places import PLACE_CLASSES, find_place_phrases, matching_places
from kg_service.ask.tools import (DesignConstraintsCall, FailureHistoryCall, LookupCall, RankSuppliersCall,
                                  RootCausesCall, ToolCall, UnmappableCall)

# Keywords per query; English ones match whole words (lower case), Chinese ones anywhere.
SUPPLIER_WORDS = ("supplier", "suppliers", "vendor", "vendors", "supply", "source", "sourcing", "供应商", "供货", "货源",
                  "采购")
REPLACE_WORDS = ("replace", "replacement", "alternative", "alternatives", "instead", "switch", "second source",
                 "替换", "替代", "换掉", "备选", "取代")
DESIGN_WORDS = ("constraint", "constraints", "specification", "specifications", "spec", "specs", "requirement",
                "requirements", "design rule", "design rules", "约束", "规格", "设计要求", "技术要求", "限制")
HISTORY_WORDS = ("history", "work order", "work orders", "maintenance record", "maintenance records", "how many",
                 "how often", "when did", "when was", "past failures", "previous failures", "failures of",
                 "历史", "工单", "维修记录", "维护记录", "多少次", "几次", "什么时候", "记录")
CAUSE_WORDS = ("why", "cause", "causes", "caused", "root cause", "reason", "reasons", "explain", "keep", "keeps",
               "为什么", "为何", "原因", "根因", "怎么回事", "导致", "老是", "总是")
LOOKUP_WORDS = ("what is", "what's", "who is", "find", "look up", "lookup", "search", "where is", "which line",
                "is there", "show me", "是什么", "查找", "查询", "搜索", "在哪", "哪条线", "有没有", "是哪个")
FAILURES_ONLY_WORDS = ("failure", "failures", "failed", "breakdown", "breakdowns", "broke down", "故障", "失效",
                       "坏了")
# A stop is a failure of unknown mode: root causes of the asset's failure events and history.
STOP_WORDS = ("stop", "stopped", "stops", "shut down", "shutdown", "trip", "tripped", "down", "停机", "停车", "跳闸",
              "停了", "宕机")
# Words of a question about failures or maintenance, which needs an asset, a place or a kind to answer.
# "down" is left out because it is common outside failures ("write down").
MAINTENANCE_WORDS = ("history", "work order", "work orders", "maintenance record", "maintenance records",
                     "历史", "工单", "维修记录", "维护记录")
SUBJECT_NEEDED_WORDS = FAILURES_ONLY_WORDS + MAINTENANCE_WORDS + tuple(word for word in STOP_WORDS if word != "down")


# An equipment tag such as "AC-99" or "P101"; quarters and halves ("Q2", "H1") are times, not tags.
EQUIPMENT_TAG = re.compile(r"(?<![A-Za-z0-9-])(?![QqHh][1-4](?![0-9]))([A-Za-z]{1,5}-?[0-9]{1,5})(?![A-Za-z0-9-])")


def _has(text: str, words: tuple[str, ...]) -> bool:
    for word in words:
        if re.search(r"[\u3400-\u9fff]", word):
            if word in text:
                return True
        elif re.search(rf"(?<![a-z0-9]){re.escape(word)}(?![a-z0-9])", text):
            return True
    return False


def _place(question: str, index: EntityIndex, named: list[IndexedEntity]) -> tuple[str | None, IndexedEntity | None]:
    """Return the reference of the place a question names and its entity when the index resolves it.

    A place named in full is its key. A phrase such as "line 2" becomes the key of the one place
    it matches, and otherwise stays text, so that running the call reports the unknown place.
    """
    named_place = _first(named, PLACE_CLASSES)
    if named_place is not None:
        return named_place.id, named_place
    phrases = find_place_phrases(question)
    if not phrases:
        return None, None
    matches = matching_places(index, phrases[0])
    if len(matches) == 1:
        return matches[0].id, matches[0]
    return phrases[0].text, None


def _kind(question: str, index: EntityIndex) -> KindMention | None:
    """Return the kind of equipment the question names outside entity names and place phrases."""
    excluded_spans = [(mention.start, mention.end) for mention in index.mentions(question)]
    excluded_spans += [(phrase.start, phrase.end) for phrase in find_place_phrases(question)]
    return find_kind(question, index.kinds, excluded_spans)


def names_no_subject(question: str, index: EntityIndex) -> bool:
    """Return whether a question about failures or maintenance names no entity, place, kind or equipment tag.

    Such a question ("What failed last quarter?", "最近三个月有哪些故障？") cannot be mapped,
    because the queries need an asset, a place or a kind to read work orders from.
    """
    if not _has(question.lower(), SUBJECT_NEEDED_WORDS):
        return False
    if index.mentions(question) or find_place_phrases(question) or EQUIPMENT_TAG.search(question):
        return False
    return _kind(question, index) is None


def _first(entities: list[IndexedEntity], classes: list[str]) -> IndexedEntity | None:
    for label in classes:
        for entity in entities:
            if label in entity.labels:
                return entity
    return None


class RuleMapper:
    """Map a question to a tool call with keyword rules and the entity index."""

    name = "rules"
    model_id = "keyword-rules"

    def map(self, question: str, index: EntityIndex) -> ToolCall:
        text = question.lower()
        named = [entity for mention in index.mentions(question) for entity in mention.entities]
        # The place and the kind of equipment ("the pumps") limit the answer. `Asker` adds the date window.
        place, place_entity = _place(question, index, named)
        if place_entity is not None and place_entity not in named:
            named.append(place_entity)
        asset = _first(named, ["Equipment"]) or _first(named, ["System", "Component"])
        asset_ref = asset.id if asset else None
        if asset is None and place is None and not named:
            # A tag that names no entity ("Why did AC-99 stop?") still goes to the query. The query then
            # reports the unknown asset with the closest names, which helps more than "no query fits".
            tag = EQUIPMENT_TAG.search(question)
            asset_ref = tag.group(1) if tag else None
        # A named asset is the subject itself, so a kind is read only without one.
        kind_mention = _kind(question, index) if asset_ref is None else None
        kind = kind_mention.kind.label if kind_mention else None
        subject = asset_ref is not None or place is not None or kind is not None
        mode = _first(named, ["FailureMode"])
        symptom = _first(named, ["Symptom"])
        part = _first(named, ["Part"])

        if _has(text, SUPPLIER_WORDS):
            part_ref = part.id if part else self._part_word(question, index)
            return RankSuppliersCall(tool="rank_suppliers", part=part_ref, place=place,
                                     replace_current=bool(part_ref) and _has(text, REPLACE_WORDS))
        if _has(text, DESIGN_WORDS):
            target = _first(named, DESIGN_TARGET_CLASSES)
            if target is None:
                closest = index.closest(question, DESIGN_TARGET_CLASSES, limit=1)
                target = closest[0][1] if closest else None
            if target is not None:
                return DesignConstraintsCall(tool="design_constraints", target=target.id)
        # "AC-3 failures in 2024" maps like "AC-3 failure work orders", unless the question contains "why".
        asks_history = _has(text, HISTORY_WORDS) or (_has(text, FAILURES_ONLY_WORDS) and not (mode or symptom))
        if subject and asks_history and not _has(text, ("why", "为什么", "原因")):
            return FailureHistoryCall(tool="failure_history", asset=asset_ref, place=place, equipment_kind=kind,
                                      failures_only=_has(text, FAILURES_ONLY_WORDS))
        if _has(text, CAUSE_WORDS) or (subject and (mode or symptom or _has(text, STOP_WORDS))):
            if subject or mode or symptom:
                return RootCausesCall(tool="root_causes", asset=asset_ref, place=place, equipment_kind=kind,
                                      failure_mode=mode.id if mode else None,
                                      symptom=symptom.id if symptom and not mode else None)
        if named and (_has(text, LOOKUP_WORDS) or len(text) <= 40):
            return LookupCall(tool="lookup", text=named[0].id)
        # No reason: the answer text already states that no query fits, in the question's language.
        return UnmappableCall(tool="unmappable")

    @staticmethod
    def _part_word(question: str, index: EntityIndex) -> str | None:
        """Return a word of the question ("bearing", "轴承") that occurs in some part's name, else None."""
        names = [name.lower() for entity in index.entities if "Part" in entity.labels
                 for name in entity.properties.values()]
        ignored = set(SUPPLIER_WORDS) | set(REPLACE_WORDS) | {"which", "what", "could", "would", "should", "best"}
        words = [word for word in re.findall(r"[a-z][a-z0-9-]{3,}", question.lower()) if word not in ignored]
        characters = re.sub(r"[^\u3400-\u9fff]", " ", question)
        pairs = [characters[i:i + 2] for i in range(len(characters) - 1) if " " not in characters[i:i + 2]]
        for word in words + [pair for pair in pairs if not any(pair in keyword for keyword in ignored)]:
            if any(re.search(rf"(?<![a-z0-9]){re.escape(word)}", name) for name in names):
                return word
        return None
