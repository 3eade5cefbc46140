"""Errors that the ask service writes in English and Chinese, so that a failed answer is in the answer's language.

`str(error)` is the English text, because the API, the CLI and logs show errors in English.
`error.text("zh")` is the Chinese text. Entity names in the Chinese text are their Chinese
names where the graph has them (`nameZh`), else their English names.
"""

from __future__ import annotations

from typing import Any

from kg_service.errors import NotFoundError, QueryError
from kg_service.reasoning.lookup import display_name, shorten

MAX_QUOTED_LENGTH = 80


class BilingualQueryError(QueryError):
    """A QueryError with its message in English (`str(error)`) and in Chinese (`zh`)."""

    def __init__(self, en: str, zh: str) -> None:
        super().__init__(en)
        self.zh = zh

    def text(self, lang: str) -> str:
        """Return the message in `lang` ("en" or "zh")."""
        return self.zh if lang == "zh" else str(self)


class BilingualNotFoundError(BilingualQueryError, NotFoundError):
    """A NotFoundError with its message in English and Chinese."""


def error_message(error: QueryError, lang: str) -> str | None:
    """Return the message of `error` in `lang`, or None when only an English one exists."""
    if isinstance(error, BilingualQueryError):
        return error.text(lang)
    return str(error) if lang == "en" else None


def quoted(value: str, lang: str) -> str:
    """Quote a reference from the question for a message: 'line 7' in English, “七号线” in Chinese.

    Both forms cut the text after `MAX_QUOTED_LENGTH` characters.
    """
    if lang != "zh":
        return shorten(value, MAX_QUOTED_LENGTH)

    text = value.strip()
    if len(text) > MAX_QUOTED_LENGTH:
        text = text[:MAX_QUOTED_LENGTH] + "…"
    return f"“{text}”"


def entity_name(properties: dict[str, Any], key: str, lang: str) -> str:
    """Return an entity's name in `lang` (the other language's name when it has none), else its key."""
    return display_name(properties, lang) or key


def tagged_name(properties: dict[str, Any], key: str, lang: str) -> str:
    """Return the tag with the name in `lang`, as "AC-3 (Air Compressor 3)", or the name alone when both are equal."""
    name = entity_name(properties, key, lang)
    tag = properties.get("name")
    if not tag or tag == name:
        return name
    return f"{tag}（{name}）" if lang == "zh" else f"{tag} ({name})"


def english_article(noun: str) -> str:
    """Return "an" when `noun` starts with a vowel letter, else "a".

    The rule looks at the letter, not the sound, so it returns "a" before "hour" and "an" before "unit".
    """
    return "an" if noun[:1].lower() in "aeiou" else "a"


def join_names(names: list[str], lang: str) -> str:
    """Join names with "、" in Chinese and ", " in English."""
    return ("、" if lang == "zh" else ", ").join(names)
