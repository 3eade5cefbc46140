"""Token counting for chunk limits: the backend's tokenizer when it has one, else a conservative estimate.

A backend may offer `count_tokens(text) -> int` (found with getattr). Without it,
`estimate_tokens` counts each CJK character as one token and each other word as one token
per started three characters, each punctuation mark as one token, and adds a 10 % margin.
Subword tokenizers (WordPiece, BPE, SentencePiece) give fewer tokens than that for ordinary
English and Chinese text.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable

TokenCounter = Callable[[str], int]

_CJK = r"\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uac00-\ud7af\uf900-\ufaff"
_PIECES = re.compile(rf"[{_CJK}]|[^\s{_CJK}\W]+|[^\w\s]", re.UNICODE)
ESTIMATE_MARGIN = 1.1
CHARS_PER_WORD_TOKEN = 3


def estimate_tokens(text: str) -> int:
    """Return an upper estimate of the tokens of `text` for subword tokenizers."""
    count = 0
    for match in _PIECES.finditer(text):
        piece = match.group()
        if len(piece) == 1:
            count += 1
        else:
            count += math.ceil(len(piece) / CHARS_PER_WORD_TOKEN)
    return math.ceil(count * ESTIMATE_MARGIN)


def token_counter_for(backend: object | None) -> TokenCounter:
    """Return the backend's `count_tokens` when it has one, else `estimate_tokens`."""
    counter = getattr(backend, "count_tokens", None)
    if callable(counter):
        return counter
    return estimate_tokens


def tokenizer_counter(tokenizer: object) -> TokenCounter:
    """Wrap a transformers tokenizer as a counter of content tokens, without special tokens."""
    def count(text: str) -> int:
        return len(tokenizer(text, add_special_tokens=False)["input_ids"])  # type: ignore[operator]
    return count
