"""The target of a design-constraint or parts question: the entity that the question's words name.

A question may name its target exactly ("the cooler housing", "3号空压机替换冷却模块"), by part of
a longer name ("the AC-3 cooling module"), or by a word that many entities share ("the
compressor", "空压机"). `choose_target` scores each entity of the wanted classes by how many words
of the text its names cover, in English and Chinese alike, so that both phrasings of one target
choose the same entity:

1. A Latin word counts when a name contains the same word. A Chinese character counts when a name
   contains it together with a neighbouring character of the text. Every character of an exact
   alias match ("AC-3", "3号空压机") counts when a name contains that alias.
2. The entity that covers the most wins. Among equals, an entity whose whole name or tag the text
   contains wins, then the class listed first. For design questions that is a product before its
   designs, parts and components, because the product's bill of materials includes them.
3. Entities that still tie are all returned, so that the answer can list them and ask which one.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass, field
from typing import Any

from kg_service.ask.entities import EntityIndex, IndexedEntity, Mention
from kg_service.ask.kinds import find_kinds
from kg_service.ask.messages import BilingualQueryError, quoted
from kg_service.errors import NotFoundError, QueryError
from kg_service.graph.store import GraphStore
from kg_service.reasoning.lookup import resolve_entity

logger = logging.getLogger(__name__)

# Words that name the kind of question, not an entity, so they never count towards a name.
TOPIC_WORDS = ("design constraints", "design constraint", "constraints", "constraint", "specifications",
               "specification", "specs", "spec", "requirements", "requirement", "design rules", "design",
               "apply", "applies", "limits", "parts", "part", "components", "component", "made of", "bom",
               "bill of materials", "assembly of", "consist", "consists", "composed",
               "设计约束", "约束", "规格", "设计要求", "技术要求", "要求", "限制", "适用", "设计", "零部件", "部件", "零件",
               "组成", "构成", "物料清单", "哪些", "什么", "有")
_LATIN_WORD = re.compile(r"[a-z0-9]+(?:-[a-z0-9]+)*")
_CJK = re.compile(r"[\u3400-\u9fff]")
_STOP_WORDS = {"the", "a", "an", "of", "for", "on", "in", "at", "to", "and", "is", "are", "does", "did", "do",
               "what", "which", "who", "how", "with", "from", "by", "our", "my", "its", "it", "that", "this", "me",
               "show", "list", "all", "can", "be", "has", "have", "there", "any"}


@dataclass
class TargetChoice:
    """The entities that best match a text, with the exact alias matches that the text contains.

    `entity` is the chosen entity, or None when no entity matches or `tied` lists several equally good ones.
    `literal` is an entity whose whole name or tag the text contains when another entity was chosen
    ("AC-3" in "the AC-3 cooling module"). `kind_word` is the kind word that the tied entities share,
    and `words` is the text of the words that the best entities cover.
    """

    entity: IndexedEntity | None = None
    tied: list[IndexedEntity] = field(default_factory=list)
    literal: IndexedEntity | None = None
    literal_text: str | None = None
    kind_word: str | None = None
    words: str | None = None


def _span_text(text: str, units: dict[int, str], covered: set[int]) -> str:
    """Return the text from the first to the last covered word ("cooling module"), to name tied entities by."""
    start = min(covered)
    end = max(position + len(units[position]) for position in covered)
    return text[start:end].strip()


def _units(text: str) -> dict[int, str]:
    """Return the words and Chinese characters of `text` that can name an entity, by start position."""
    lowered = text.lower()
    excluded: list[tuple[int, int]] = []
    for word in sorted(TOPIC_WORDS, key=len, reverse=True):
        pattern = re.escape(word) if _CJK.search(word) else rf"(?<![a-z0-9]){re.escape(word)}(?![a-z0-9])"
        excluded += [(match.start(), match.end()) for match in re.finditer(pattern, lowered)]

    def free(start: int, end: int) -> bool:
        return not any(left < end and start < right for left, right in excluded)

    units = {match.start(): match.group(0) for match in _LATIN_WORD.finditer(lowered)
             if match.group(0) not in _STOP_WORDS and free(match.start(), match.end())}
    units.update({position: char for position, char in enumerate(lowered)
                  if _CJK.match(char) and free(position, position + 1)})
    return units


def _names(entity: IndexedEntity) -> list[str]:
    return [str(name).strip().lower() for name in entity.properties.values() if name]


def _covered(entity: IndexedEntity, text: str, units: dict[int, str], mentions: list[Mention]) -> set[int]:
    """Return the positions of the units of `text` that the names of `entity` cover."""
    names = _names(entity)
    name_words = {word for name in names for word in _LATIN_WORD.findall(name)}
    covered = {position for position, unit in units.items() if not _CJK.match(unit) and unit in name_words}
    for position, unit in units.items():
        if not _CJK.match(unit):
            continue
        pairs = [text[position - 1:position + 1], text[position:position + 2]]
        if any(len(pair) == 2 and _CJK.match(pair[0]) and _CJK.match(pair[1]) and any(pair in name for name in names)
               for pair in pairs):
            covered.add(position)
    for mention in mentions:
        alias = text[mention.start:mention.end].lower()
        if mention.exact(text) and any(alias in name for name in names):
            covered |= {position for position in units if mention.start <= position < mention.end}
    return covered


def _exact(entity: IndexedEntity, text: str, mentions: list[Mention]) -> bool:
    """Return whether `text` contains the whole name or tag of `entity`."""
    return any(mention.exact(text) and entity in mention.entities for mention in mentions)


def choose_target(text: str, index: EntityIndex, classes: list[str]) -> TargetChoice:
    """Return the entity of `classes` that `text` names, or the entities it names equally well."""
    mentions = index.mentions(text)
    units = _units(text)
    scored = []
    for entity in index.entities:
        if not entity.has_class(classes):
            continue
        covered = _covered(entity, text.lower(), units, mentions)
        if covered:
            scored.append((len(covered), _exact(entity, text, mentions), entity, covered))
    if not scored:
        return TargetChoice()
    best = max(count for count, _, _, _ in scored)
    top = [item for item in scored if item[0] == best]
    exact = [entity for _, is_exact, entity, _ in top if is_exact]
    if len(exact) == 1:
        return TargetChoice(entity=exact[0])

    choice = TargetChoice(words=_span_text(text, units, top[0][3]))
    literal = _literal_mention(text, mentions, top[0][3])
    if literal is not None:
        choice.literal, choice.literal_text = literal
    choice.kind_word = _kind_word(text, index, top[0][3])
    if choice.kind_word is not None and len(top) > 1:
        # "the compressor" names a kind, so a product whose name contains "compressor" is only one of several.
        choice.tied = sorted((entity for _, _, entity, _ in top), key=lambda item: item.id)
        return choice
    rank = {label: position for position, label in enumerate(classes)}

    def class_rank(entity: IndexedEntity) -> int:
        return min((rank[label] for label in entity.labels if label in rank), default=len(classes))

    first = min(class_rank(entity) for _, _, entity, _ in top)
    preferred = sorted((entity for _, _, entity, _ in top if class_rank(entity) == first), key=lambda item: item.id)
    if len(preferred) == 1:
        choice.entity = preferred[0]
    else:
        choice.tied = preferred
    logger.debug("target of %r: %s (tied: %s)", text[:80], choice.entity.id if choice.entity else None,
                 [entity.id for entity in choice.tied])
    return choice


def _literal_mention(text: str, mentions: list[Mention], covered: set[int]) -> tuple[IndexedEntity, str] | None:
    """Return the entity and text of the first exact alias match inside the covered words ("AC-3"), if any."""
    for mention in mentions:
        inside = any(mention.start <= position < mention.end for position in covered)
        if mention.exact(text) and inside:
            entities = sorted(mention.entities, key=lambda entity: (not entity.has_class(["Equipment"]), entity.id))
            return entities[0], text[mention.start:mention.end]
    return None


def _kind_word(text: str, index: EntityIndex, covered: set[int]) -> str | None:
    """Return the kind of equipment word ("compressor", "空压机") when every covered word lies inside it."""
    for kind in find_kinds(text, index.kinds):
        if all(kind.start <= position < kind.end for position in covered):
            return text[kind.start:kind.end]
    return None


MAX_LISTED_TARGETS = 6


def resolve_target(store: GraphStore, index: EntityIndex, reference: str, classes: list[str], role: tuple[str, str],
                   question: str | None = None, not_found_role: str = "entity") -> tuple[dict[str, Any], TargetChoice]:
    """Return the graph row of the target that `reference` names, and how the words chose it.

    An exact key or name wins. Other words go through `choose_target`, and entities that tie raise
    BilingualQueryError listing them, so that the user names one. `role` names the classes in
    English and Chinese ("products, designs, parts and components"), and `not_found_role` names
    the target in the error for an unknown reference. With `question`, the returned choice
    explains a target that differs from the question's literal words.
    """
    choice = TargetChoice()
    try:
        row = resolve_entity(store, reference, classes)
    except NotFoundError:
        row = None
    except QueryError:
        row = None
    if row is None:
        choice = choose_target(reference, index, classes)
        if choice.tied:
            raise _ambiguous_error(reference, choice, role)
        if choice.entity is None:
            raise index.not_found_error([reference], classes, not_found_role)
        row = resolve_entity(store, choice.entity.id, choice.entity.labels)
    if question is not None and not (choice.literal or choice.kind_word):
        asked = choose_target(question, index, classes)
        if asked.entity is not None and asked.entity.id == row["id"]:
            choice = asked
    return row, choice


def _ambiguous_error(reference: str, choice: TargetChoice, role: tuple[str, str]) -> BilingualQueryError:
    listed = choice.tied[:MAX_LISTED_TARGETS]
    more_en = f" and {len(choice.tied) - len(listed)} more" if len(choice.tied) > len(listed) else ""
    more_zh = f"等 {len(choice.tied)} 个" if len(choice.tied) > len(listed) else ""
    words = choice.kind_word or reference
    example = listed[0].properties.get("name") or listed[0].label("en")
    return BilingualQueryError(
        f"{quoted(words, 'en')} matches several {role[0]}: "
        + "; ".join(f"{entity.label('en')} ({entity.id})" for entity in listed) + more_en
        + f". Which one do you mean? Ask again with its name, such as {quoted(str(example), 'en')}",
        f"{quoted(words, 'zh')}对应多个{role[1]}："
        + "；".join(f"{entity.label('zh')}（{entity.id}）" for entity in listed) + more_zh
        + f"。请问是哪一个？请在问题中写明名称，例如{quoted(listed[0].label('zh'), 'zh')}")


# Class nouns for the sentence that explains a chosen target.
CLASS_NOUNS = {"Product": ("product", "产品"), "Design": ("design", "设计"), "Part": ("part", "零件"),
               "Component": ("component", "部件"), "Equipment": ("equipment", "设备"), "System": ("system", "系统")}


def _class_noun(labels: list[str], lang: str) -> str:
    for label, nouns in CLASS_NOUNS.items():
        if label in labels:
            return nouns[0 if lang == "en" else 1]
    return "entity" if lang == "en" else "实体"


def choice_facts(choice: TargetChoice, row: dict[str, Any], classes: list[str]) -> dict[str, Any] | None:
    """Return what an answer needs to explain a target that differs from the question's literal words, else None."""
    if choice.literal is not None and choice.literal.id != row["id"]:
        return {"literal": {"en": choice.literal.label("en"), "zh": choice.literal.label("zh"),
                            "tag": choice.literal.properties.get("name"),
                            "class_en": _class_noun(choice.literal.labels, "en"),
                            "class_zh": _class_noun(choice.literal.labels, "zh"),
                            "target_class": choice.literal.has_class(classes)},
                "words": choice.literal_text, "kind_word": None,
                "chosen_class": {"en": _class_noun(row["labels"], "en"), "zh": _class_noun(row["labels"], "zh")}}
    if choice.kind_word is not None:
        return {"literal": None, "words": choice.kind_word, "kind_word": choice.kind_word,
                "chosen_class": {"en": _class_noun(row["labels"], "en"), "zh": _class_noun(row["labels"], "zh")}}
    return None


def choice_note(facts: dict[str, Any] | None, target: str, applies_en: str, applies_zh: str, lang: str) -> str:
    """Write the sentence that says which entity an answer is about and why, or "" when the words name it exactly.

    `target` is the chosen entity's name in `lang`; `applies_en` and `applies_zh` name what the query
    applies to ("design constraints apply to products, designs, parts and components").
    """
    if not facts:
        return ""
    words, noun = facts["words"], facts["chosen_class"][lang]
    literal = facts["literal"]
    if facts["kind_word"]:
        if lang == "zh":
            return f"“{words}”是一类设备，名称含有它的只有{noun}{target}，以下回答该{noun}。"
        return (f"'{words}' is a kind of equipment, and the only {noun} whose name contains it is {target}, "
                "so this answer is about it. ")
    # The literal entity is named by its name, or by its tag where the question used its name ("3号空压机 (AC-3)").
    name = literal[lang] if literal[lang] != words else (literal["tag"] or literal["en"])
    if lang == "zh":
        if not literal["target_class"]:
            return (f"{words}（{name}）是{literal['class_zh']}，而{applies_zh}，"
                    f"所以以下回答名称含有“{words}”的{noun}{target}。")
        return f"问题所说的是名称含有“{words}”的{noun}{target}，而不是{literal['class_zh']}{words}（{name}）本身。"
    if not literal["target_class"]:
        return (f"{words} ({name}) is {literal['class_en']}, and {applies_en}, so this answer is about {target}, "
                f"the {noun} whose name contains {words}. ")
    return (f"The question's words name {target}, the {noun} whose name contains {words}, "
            f"not the {literal['class_en']} {words} ({name}) itself. ")
