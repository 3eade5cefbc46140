"""Split document text into chunks under a hard token limit, keeping character offsets and pages.

The text is cut at the coarsest separator that works (paragraphs, lines, sentence ends,
spaces), and a piece without any separator is cut at the longest prefix under the limit,
found by binary search. Adjacent pieces are then packed into chunks; every chunk is counted
once more as a whole, so the limit is kept even where a tokenizer counts a joined text higher
than its parts. A 5 MB text without line breaks or spaces still yields chunks under the limit.
"""

from __future__ import annotations

import logging
import re
from bisect import bisect_right
from dataclasses import dataclass

from kg_service.extraction.tokens import TokenCounter, estimate_tokens

logger = logging.getLogger(__name__)

SEPARATORS = (re.compile(r"\n\s*\n"), re.compile(r"\n"), re.compile(r"(?<=[.!?;。！？；])\s*"), re.compile(r"\s+"))
# A hard cut looks at most this many characters per token of the limit; no tokenizer used here packs more.
MAX_CHARS_PER_TOKEN = 16


@dataclass(frozen=True)
class TextChunk:
    """A chunk of a document: `text == document_text[start:end]`, `page` counted from 1 or None."""

    index: int
    text: str
    start: int
    end: int
    page: int | None
    tokens: int


def chunk_text(text: str, max_tokens: int, count_tokens: TokenCounter = estimate_tokens,
               page_starts: list[int] | None = None) -> list[TextChunk]:
    """Split `text` into chunks of at most `max_tokens` tokens; `page_starts` are the offsets where pages begin."""
    if max_tokens < 1:
        raise ValueError(f"max_tokens must be at least 1, got {max_tokens}")
    pieces = _split(text, 0, len(text), 0, max_tokens, count_tokens)
    chunks: list[TextChunk] = []
    for start, end in _pack(text, pieces, max_tokens, count_tokens):
        start, end = _trim(text, start, end)
        if start >= end:
            continue
        chunk = text[start:end]
        chunks.append(TextChunk(index=len(chunks), text=chunk, start=start, end=end,
                                page=_page_of(start, page_starts), tokens=count_tokens(chunk)))
    return chunks


def _split(text: str, start: int, end: int, level: int, limit: int, count: TokenCounter) -> list[tuple[int, int, int]]:
    """Return (start, end, tokens) pieces of text[start:end], each under the limit."""
    span = text[start:end]
    if len(span) <= limit * MAX_CHARS_PER_TOKEN:
        tokens = count(span)
        if tokens <= limit:
            return [(start, end, tokens)]
    if level >= len(SEPARATORS):
        return _hard_split(text, start, end, limit, count)

    cuts = [match.end() + start for match in SEPARATORS[level].finditer(span) if 0 < match.end() < len(span)]
    if not cuts:
        return _split(text, start, end, level + 1, limit, count)
    pieces = []
    bounds = [start, *cuts, end]
    for piece_start, piece_end in zip(bounds, bounds[1:]):
        pieces.extend(_split(text, piece_start, piece_end, level + 1, limit, count))
    return pieces


def _hard_split(text: str, start: int, end: int, limit: int, count: TokenCounter) -> list[tuple[int, int, int]]:
    """Cut text[start:end] at the longest prefixes under the limit (galloping, then binary search)."""
    pieces = []
    while start < end:
        window_end = min(end, start + limit * MAX_CHARS_PER_TOKEN)
        # Gallop from `limit` characters upwards, so the binary search runs over a short range.
        low, high = start + 1, min(window_end, start + limit)
        while high < window_end and count(text[start:high]) <= limit:
            low, high = high, min(window_end, start + 2 * (high - start))
        best = start + 1
        while low <= high:
            middle = (low + high) // 2
            if count(text[start:middle]) <= limit:
                best = middle
                low = middle + 1
            else:
                high = middle - 1
        tokens = count(text[start:best])
        if tokens > limit:
            # NOTE: one character over the limit (possible only when max_tokens is below a character's token count).
            logger.warning("a single character at offset %d counts %d tokens, over the limit of %d", start, tokens,
                           limit)
        pieces.append((start, best, tokens))
        start = best
    return pieces


def _pack(text: str, pieces: list[tuple[int, int, int]], limit: int, count: TokenCounter) -> list[tuple[int, int]]:
    """Join adjacent pieces while their token sum fits, then check each joined chunk with one exact count."""
    spans: list[tuple[int, int]] = []
    position = 0
    while position < len(pieces):
        first = position
        total = pieces[position][2]
        position += 1
        while position < len(pieces) and total + pieces[position][2] <= limit:
            total += pieces[position][2]
            position += 1
        # A tokenizer may count the joined text higher than the sum of its pieces: give pieces back until it fits.
        while position - first > 1 and count(text[pieces[first][0]:pieces[position - 1][1]]) > limit:
            position -= 1
        spans.append((pieces[first][0], pieces[position - 1][1]))
    return spans


def _trim(text: str, start: int, end: int) -> tuple[int, int]:
    while start < end and text[start].isspace():
        start += 1
    while end > start and text[end - 1].isspace():
        end -= 1
    return start, end


def _page_of(offset: int, page_starts: list[int] | None) -> int | None:
    if not page_starts:
        return None
    return max(1, bisect_right(page_starts, offset))
