"""A keyword mapper from questions to tool calls, used when no language model is installed.

It picks the query from keywords in English and Chinese and fills its arguments from the
entities that the question names (see `EntityIndex.mentions`), from the place it names
(see `kg_service.ask.places`) and from the kind of equipment it names (see
`kg_service.ask.kinds`). It is also the fallback when a model's output is not a valid tool call.
"""

from __future__ import annotations

import re

from kg_service.ask.categories import find_category
from kg_service.ask.entities import ASSET_CLASSES, DESIGN_TARGET_CLASSES, EntityIndex, IndexedEntity, Mention
from kg_service.ask.kinds import KindMention, find_kind, find_kinds
from kg_service.ask.places import PLACE_CLASSES, find_place_phrases, matching_places
from kg_service.ask.parts import PARTS_TARGET_CLASSES
from kg_service.ask.targets import choose_target
from kg_service.ask.tools import (DesignConstraintsCall, FailureHistoryCall, LookupCall, PartsCall, PlantFailuresCall,
                                  RankSuppliersCall, RootCausesCall, ToolCall, UnmappableCall)

# Keywords per query; English ones match whole words (lower case), Chinese ones anywhere.
SUPPLIER_WORDS = ("supplier", "suppliers", "vendor", "vendors", "supply", "supplies", "supplied", "supplying", "source",
                  "sourcing", "供应", "供货", "货源", "采购")
REPLACE_WORDS = ("replace", "replacement", "alternative", "alternatives", "instead", "switch", "second source",
                 "替换", "替代", "换掉", "备选", "取代")
DESIGN_WORDS = ("constraint", "constraints", "specification", "specifications", "spec", "specs", "requirement",
                "requirements", "design rule", "design rules", "约束", "规格", "设计要求", "技术要求", "限制")
# Words of a question about the parts of an asset or product: its systems, components or bill of materials.
PARTS_WORDS = ("parts of", "components of", "made of", "bom", "bill of materials", "which parts", "what parts",
               "which components", "what components", "consist of", "consists of", "composed of", "零部件",
               "由哪些部件组成", "哪些部件", "物料清单", "组成", "构成")
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


# Two to five capital letters standing alone ("DX"), a tag when an equipment word comes before it.
CAPITAL_CODE = re.compile(r"(?<![A-Za-z0-9-])[A-Z]{2,5}(?![A-Za-z0-9-])")


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


# Classes of the parts of equipment, whose names also serve as modifiers of a kind ("coolant pumps").
PART_CLASSES = ("Component", "System", "Part")


def read_subjects(question: str, index: EntityIndex) -> tuple[list[Mention], KindMention | None]:
    """Return the entity mentions of a question and the kind of equipment it names outside place phrases.

    A whole kind phrase wins over three kinds of entity mention, and those mentions are dropped.
    The first covers only part of the phrase ("tools" of a component "Tool" in "machine tools").
    The second matches the same words less exactly ("lathes" for an asset "Lathe"). The third is
    the name of a component, system or part right before the phrase ("coolant" of a component
    "Coolant" in "coolant pumps"). An entity name that reaches past the kind phrase ("Air
    Compressor 3") or equals it exactly ("Lathe") wins, and the kind is not read there.
    """
    mentions = index.mentions(question)
    place_spans = [(phrase.start, phrase.end) for phrase in find_place_phrases(question)]
    for kind in find_kinds(question, index.kinds, place_spans):
        overlapping = [mention for mention in mentions if mention.start < kind.end and kind.start < mention.end]
        if any(_entity_wins(mention, kind, question) for mention in overlapping):
            continue
        dropped = {(mention.start, mention.end) for mention in overlapping}
        dropped |= {(mention.start, mention.end) for mention in mentions if _modifies(mention, kind, question)}
        return [mention for mention in mentions if (mention.start, mention.end) not in dropped], kind
    standalone = _standalone_tag(question, index, mentions, place_spans)
    return sorted(mentions + [standalone], key=lambda mention: mention.start) if standalone else mentions, None


def _standalone_tag(question: str, index: EntityIndex, mentions: list[Mention],
                    place_spans: list[tuple[int, int]]) -> Mention | None:
    """Return a one-character asset tag that is the only subject of a question about failures ("Why does D leak?").

    A lookup ("What is D?") counts too, so that the answers can suggest it.

    The question must name no other asset, place or kind and contain no other one-character token that could be
    a tag. `EntityIndex.short_tags` leaves out the article "A" at a sentence start and the pronoun "I".
    """
    if place_spans or not _has(question.lower(), CAUSE_WORDS + SUBJECT_NEEDED_WORDS + LOOKUP_WORDS):
        return None
    if any(entity.has_class(ASSET_CLASSES) for mention in mentions for entity in mention.entities):
        return None
    covered = [(mention.start, mention.end) for mention in mentions]
    tags = [tag for tag in index.short_tags(question)
            if not any(left < tag.end and tag.start < right for left, right in covered)]
    if len(tags) != 1 or not tags[0].entities:
        return None
    tag = tags[0]
    return Mention(tag.token.lower(), tag.start, tag.end, tag.entities)


def unknown_short_tags(question: str, index: EntityIndex) -> list[str]:
    """Return the tokens of a question that look like asset tags but name no asset ("F", or "DX" in "excavator DX").

    Tags with a digit ("AC-99") are left to `unknown_tags`.
    """
    covered = [(phrase.start, phrase.end) for phrase in find_place_phrases(question)]
    covered += [(mention.start, mention.end) for mention in read_subjects(question, index)[0]]
    covered += [(kind.start, kind.end) for kind in find_kinds(question, index.kinds, covered)]
    unknown = [(tag.start, tag.token) for tag in index.short_tags(question)
               if tag.token.isalpha() and not tag.entities
               and not any(left < tag.end and tag.start < right for left, right in covered)]
    # A capitalised code after an equipment word ("excavator DX") is a tag too, because EQUIPMENT_TAG needs a digit.
    for match in CAPITAL_CODE.finditer(question):
        if (index.after_equipment_word(question, match.start(), match.end())
                and not any(left < match.end() and match.start() < right for left, right in covered)):
            unknown.append((match.start(), match.group(0)))
    return [token for _, token in sorted(unknown)]


def _entity_wins(mention: Mention, kind: KindMention, question: str) -> bool:
    if mention.start < kind.start or mention.end > kind.end:
        return True
    return (mention.start, mention.end) == (kind.start, kind.end) and mention.exact(question)


def _modifies(mention: Mention, kind: KindMention, question: str) -> bool:
    """Return whether a part's name comes right before the kind, as "coolant" in "coolant pumps"."""
    if mention.end > kind.start or question[mention.end:kind.start] not in ("", " ", "-"):
        return False
    return all(entity.has_class(list(PART_CLASSES)) and not entity.has_class(["Equipment"])
               for entity in mention.entities)


def _kind(question: str, index: EntityIndex) -> KindMention | None:
    """Return the kind of equipment the question names outside entity names and place phrases."""
    return read_subjects(question, index)[1]


def names_no_subject(question: str, index: EntityIndex) -> bool:
    """Return whether a question about failures or maintenance names no entity, place, kind or equipment tag.

    Such a question ("What failed last quarter?", "最近三个月有哪些故障？") cannot be mapped,
    because the queries need an asset, a place or a kind to read work orders from.
    """
    if not _has(question.lower(), SUBJECT_NEEDED_WORDS):
        return False
    if index.mentions(question) or find_place_phrases(question) or EQUIPMENT_TAG.search(question):
        return False
    if read_subjects(question, index)[0] or unknown_short_tags(question, index):
        # A one-character tag ("What failed on D?") is a subject, and an unknown one ("F") is reported as unknown.
        return False
    return _kind(question, index) is None


# Verbs of failure that may end the first subject before a comma ("Why did AC-3 fail, and the pumps?").
JOINED_FAILURE_VERBS = (r"(?:fail|failed|fails|stop|stopped|stops|break|broke|breaks|break\s+down|broke\s+down"
                        r"|trip|tripped)")
# Text between two subjects that makes them two subjects: an asset and a kind ("AC-3 and every pump",
# "AC-3和所有泵", "the pumps, AC-3"), two assets ("AC-3 and AC-1") or two kinds ("泵和压缩机"). A kind right
# beside an asset ("pump AC-3", "the AC-3 pump", "泵AC-3") has no joiner between them, so it qualifies the asset.
SUBJECT_JOINER = re.compile(
    rf"\s*(?:(?:{JOINED_FAILURE_VERBS}\s*)?,\s*(?:and\s+)?|，\s*(?:还有|以及)?|、|and|&|以及|还有|和|与|及|跟)\s*"
    r"(?:(?:all|every|each|both)\s+(?:of\s+)?)?(?:(?:the|our)\s+)?(?:(?:所有|全部|每个|每台|各)的?)?\s*",
    re.IGNORECASE)
# Classes of an entity mention that can be the asset of a joined subject.
JOINED_ASSET_CLASSES = ["Equipment", "System", "Component"]


def joined_subjects(question: str, index: EntityIndex) -> list[tuple[str, str]] | None:
    """Return the subjects that a question joins, in question order ("AC-3 and the pumps", "AC-3 and AC-1", "泵和压缩机").

    Each subject is ("asset", entity key) or ("kind", kind label). Returns None unless at least two
    such subjects follow one another with only a joiner between them, where an unknown tag ("AC-3,
    AC-99 and AC-1") may stand between them. A kind right beside an asset ("pump AC-3") qualifies
    that asset, so it starts no subject of its own.
    """
    known = [subject for _, subject in _joined_run(question, index) if subject[0] != "unknown"]
    return known if len(known) >= 2 else None


def unknown_joined_tags(question: str, index: EntityIndex) -> tuple[list[str], list[tuple[str, tuple[str, str]]]]:
    """Return the equipment tags joined to known subjects that name no entity ("AC-99" in "AC-3 and AC-99").

    Also returns the known subjects of that run as (question text, subject), so an answer can say
    which subjects it covers. Both lists are empty unless the run has an unknown tag and a known subject.
    """
    run = _joined_run(question, index)
    unknown = [text for text, subject in run if subject[0] == "unknown"]
    known = [(text, subject) for text, subject in run if subject[0] != "unknown"]
    if not unknown or not known:
        return [], []
    return unknown, known


def unknown_tags(question: str, index: EntityIndex) -> list[str]:
    """Return the equipment tags of a question that no entity name, kind or place phrase covers ("AC-99")."""
    covered = [(phrase.start, phrase.end) for phrase in find_place_phrases(question)]
    covered += [(mention.start, mention.end) for mention in index.mentions(question)]
    covered += [(kind.start, kind.end) for kind in find_kinds(question, index.kinds, covered)]
    return [tag.group(1) for tag in EQUIPMENT_TAG.finditer(question)
            if not any(left < tag.end() and tag.start() < right for left, right in covered)]


def unknown_joined_run(question: str, index: EntityIndex) -> list[str]:
    """Return the joined equipment tags of a question when none of them names an entity ("AC-98 and AC-99").

    Returns an empty list unless the question's longest run of joined subjects consists of unknown tags only.
    """
    run = _joined_run(question, index)
    if not run or any(subject[0] != "unknown" for _, subject in run):
        return []
    return [subject[1] for _, subject in run]


def _joined_run(question: str, index: EntityIndex) -> list[tuple[str, tuple[str, str]]]:
    """Return the longest run of joined subjects as (question text, subject), with at least two subjects or none.

    A subject is ("asset", entity key), ("kind", kind label) or ("unknown", tag) for an equipment
    tag that no entity, kind or place phrase covers, as "AC-99" in "Why did AC-3 and AC-99 fail?".
    """
    mentions, first_kind = read_subjects(question, index)
    spans: list[tuple[int, int, tuple[str, str]]] = []
    for mention in mentions:
        entities = list(mention.entities)
        asset = _first(entities, ["Equipment"]) or _first(entities, JOINED_ASSET_CLASSES[1:])
        if asset is not None:
            spans.append((mention.start, mention.end, ("asset", asset.id)))
    place_spans = [(phrase.start, phrase.end) for phrase in find_place_phrases(question)]
    entity_spans = [(mention.start, mention.end) for mention in mentions]
    kind_spans = []
    if first_kind is not None:
        for kind in find_kinds(question, index.kinds, place_spans + entity_spans):
            spans.append((kind.start, kind.end, ("kind", kind.kind.label)))
            kind_spans.append((kind.start, kind.end))
    covered = place_spans + kind_spans + [(mention.start, mention.end) for mention in index.mentions(question)]
    for tag in EQUIPMENT_TAG.finditer(question):
        if not any(left < tag.end() and tag.start() < right for left, right in covered):
            spans.append((tag.start(), tag.end(), ("unknown", tag.group(1))))
    spans.sort()

    # Subjects with a joiner between each pair form a run ("AC-3, AC-1 and the pumps"), and the longest run wins.
    best: list[tuple[str, tuple[str, str]]] = []
    run: list[tuple[str, tuple[str, str]]] = []
    previous_end = None
    for start, end, subject in spans:
        joined = previous_end is not None and previous_end <= start
        if joined and SUBJECT_JOINER.fullmatch(question[previous_end:start]):
            if subject not in [item for _, item in run]:
                run.append((question[start:end], subject))
        else:
            run = [(question[start:end], subject)]
        if len(run) > len(best):
            best = list(run)
        previous_end = end
    return best if len(best) >= 2 else []


# A machine number right after a kind ("compressor 99", "pump #3"), not a year or a date ("泵2024年").
NUMBER_AFTER_KIND = re.compile(r"\s*(?:no\.?\s*|#\s*)?([0-9]{1,5})(?![0-9A-Za-z年月日季])", re.IGNORECASE)
# A machine number right before a kind ("No. 3 compressor", "99号空压机").
NUMBER_BEFORE_KIND = re.compile(r"(?:(?:no\.?\s*|#\s*)[0-9]{1,5}\s*|[0-9]{1,5}\s*号\s*)$", re.IGNORECASE)
YEARS = range(1900, 2101)


def _numbered_kind(question: str, mention: KindMention) -> str | None:
    """Return "compressor 99", "No. 3 compressor" or "99号空压机" when a number names one machine, else None."""
    before = NUMBER_BEFORE_KIND.search(question[:mention.start])
    if before is not None:
        return question[before.start():mention.end].strip()
    after = NUMBER_AFTER_KIND.match(question, mention.end)
    if after is not None and not (len(after.group(1)) == 4 and int(after.group(1)) in YEARS):
        return question[mention.start:after.end()].strip()
    return None


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
        mentions, kind_mention = read_subjects(question, index)
        named = [entity for mention in mentions for entity in mention.entities]
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
            if tag is not None:
                asset_ref = tag.group(1)
            else:
                unknown = unknown_short_tags(question, index)
                asset_ref = unknown[0] if unknown else None
        elif asset is None:
            # Beside a failure mode or a place ("Why did AC-99 overheat?"), an unknown tag goes to the query too,
            # so that the answer reports it instead of covering the whole plant or place.
            unknown = unknown_tags(question, index) or unknown_short_tags(question, index)
            asset_ref = unknown[0] if unknown else None
        numbered = _numbered_kind(question, kind_mention) if kind_mention is not None and asset is None else None
        if numbered is not None:
            # "compressor 99" or "99号空压机" names one machine that the graph lacks, not every compressor,
            # so it goes to the query as an asset, which reports it with the closest names.
            asset_ref, kind_mention = numbered, None
        # With a named asset, the kind ("pump AC-3") only checks that the asset is of that kind.
        kind = kind_mention.kind.label if kind_mention else None
        subject = asset_ref is not None or place is not None or kind is not None
        mode = _first(named, ["FailureMode"])
        symptom = _first(named, ["Symptom"])
        part = _first(named, ["Part"])

        if _has(text, SUPPLIER_WORDS):
            # A class of parts ("bearings", "轴承") requests the suppliers of its parts, limited to the named kind.
            part_class = None if _has(text, REPLACE_WORDS) else find_kind(question, index.part_classes)
            if part_class is not None and (kind is not None or place is None):
                return RankSuppliersCall(tool="rank_suppliers", part_class=part_class.kind.label,
                                         equipment_kind=kind, place=place)
            part_ref = part.id if part else self._part_word(question, index)
            replace_current = bool(part_ref) and _has(text, REPLACE_WORDS)
            # A product group ("for ARV", "ARV类供应商") limits the ranking to suppliers of its parts.
            category = None if replace_current else find_category(question, index.categories)
            return RankSuppliersCall(tool="rank_suppliers", part=part_ref, category=category, place=place,
                                     replace_current=replace_current)
        if _has(text, DESIGN_WORDS):
            # `choose_target` prefers an exact name, then the entity the words cover best, in either language.
            choice = choose_target(question, index, DESIGN_TARGET_CLASSES)
            target = choice.entity.id if choice.entity else choice.kind_word or choice.words
            if target is not None:
                return DesignConstraintsCall(tool="design_constraints", target=target)
        if _has(text, PARTS_WORDS) and not _has(text, FAILURES_ONLY_WORDS + CAUSE_WORDS + HISTORY_WORDS + STOP_WORDS):
            choice = choose_target(question, index, PARTS_TARGET_CLASSES)
            target = choice.entity.id if choice.entity else choice.kind_word or choice.words
            if target is not None:
                return PartsCall(tool="parts", target=target)
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
        no_subject = names_no_subject(question, index) and unknown_kind_word(question, index) is None
        if no_subject and not _has(text, CAUSE_WORDS):
            # "What failed most last month?" names no subject, so it is answered for the whole plant.
            return PlantFailuresCall(tool="plant_failures")
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


# Words before a plural noun that make it the subject of a question ("the turbines", "which boilers").
SUBJECT_DETERMINERS = ("the", "which", "all", "our", "these", "those", "my", "any", "many", "some", "both")
# Verbs after a plural noun that make it a failing thing ("turbines fail", "boilers overheated").
FAILURE_VERBS = ("fail", "failed", "fails", "stop", "stopped", "break", "broke", "overheat", "overheated", "leak",
                 "leaked", "trip", "tripped", "vibrate", "vibrated")
# Plural nouns that are not equipment or name all equipment without a kind, and verbs ending in "s" ("does").
NON_EQUIPMENT_WORDS = {"things", "questions", "answers", "results", "records", "orders", "items", "years", "months",
                       "weeks", "days", "hours", "quarters", "times", "people", "workers", "operators", "lines",
                       "sites", "plants", "areas", "parts", "machines", "assets", "devices", "units", "does"}
# Endings of Chinese nouns of equipment: 涡轮机, 锅炉, 换热器, 发电机组, 离心泵.
CHINESE_EQUIPMENT_ENDINGS = ("机组", "机", "泵", "器", "炉")
# Characters that end a Chinese noun when read backwards from its ending.
CHINESE_NOUN_BREAKS = set("的些台个条是有么哪了在号和与把被这那各所为什么")
# Chinese words with an equipment ending that name no kind of equipment, and stops (停机) inside a longer noun.
CHINESE_NON_EQUIPMENT = ("机器", "设备", "机组", "时机", "手机")
CHINESE_STOP_WORDS = ("停机", "宕机")
MAX_CHINESE_NOUN = 5
_CJK_CHARACTER = re.compile(r"[\u3400-\u9fff]")


def unknown_kind_word(question: str, index: EntityIndex) -> str | None:
    """Return a noun of the question that looks like equipment but is not a kind ("turbines", "涡轮机"), else None.

    English nouns count when plural and placed as a subject: after "the", "which" and similar
    words, or before a verb of failure. Chinese nouns count when they end like equipment (机组,
    机, 泵, 器, 炉). Nouns inside entity names, place phrases and kind names are skipped.
    """
    covered = [(mention.start, mention.end) for mention in index.mentions(question)]
    covered += [(phrase.start, phrase.end) for phrase in find_place_phrases(question)]
    covered += [(kind.start, kind.end) for kind in find_kinds(question, index.kinds)]

    def is_free(start: int, end: int) -> bool:
        return not any(left < end and start < right for left, right in covered)

    lowered = question.lower()
    words = list(re.finditer(r"[a-z][a-z-]*", lowered))
    for position, match in enumerate(words):
        word = match.group(0)
        if len(word) < 4 or not word.endswith("s") or word.endswith(("ss", "us", "is")):
            continue
        if word in NON_EQUIPMENT_WORDS or _has(word, SUBJECT_NEEDED_WORDS + CAUSE_WORDS + SUPPLIER_WORDS
                                               + DESIGN_WORDS + REPLACE_WORDS):
            continue
        before = words[position - 1].group(0) if position > 0 else ""
        after = words[position + 1].group(0) if position + 1 < len(words) else ""
        if (before in SUBJECT_DETERMINERS or after in FAILURE_VERBS) and is_free(match.start(), match.end()):
            return question[match.start():match.end()]
    for ending in CHINESE_EQUIPMENT_ENDINGS:
        for match in re.finditer(re.escape(ending), question):
            start = match.start()
            while (start > 0 and match.end() - start < MAX_CHINESE_NOUN and _CJK_CHARACTER.match(question[start - 1])
                   and question[start - 1] not in CHINESE_NOUN_BREAKS):
                start -= 1
            noun = question[start:match.end()]
            if noun == ending or noun in CHINESE_NON_EQUIPMENT or any(word in noun for word in CHINESE_STOP_WORDS):
                continue
            if is_free(start, match.end()):
                return noun
    return None
