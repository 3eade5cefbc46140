"""Parsing of cell values (dates, numbers, flags) with errors that point at the cell."""

from __future__ import annotations

import math
import re
from datetime import date, datetime
from pathlib import Path

from kg_service.errors import InputDataError

_CJK = re.compile(r"[\u3400-\u9fff\uf900-\ufaff\u3000-\u303f\uff00-\uffef]")
TRUE_VALUES = {"1", "true", "yes", "y", "t", "是"}
FALSE_VALUES = {"0", "false", "no", "n", "f", "", "否"}


def has_cjk(text: str) -> bool:
    """True when `text` contains Chinese, Japanese or Korean characters or full-width forms."""
    return bool(_CJK.search(text))


def parse_date(raw: str, formats: list[str], path: Path, line: int, column: str) -> date:
    for pattern in formats:
        try:
            return datetime.strptime(raw, pattern).date()
        except ValueError:
            continue
    raise InputDataError(f"unparseable date {raw!r}; expected one of the formats {formats}", path=str(path),
                         line=line, column=column, hint="fix the value or add its format to 'date_formats' in the mapping")


def parse_timestamp(raw: str, pattern: str | None, path: Path, line: int, column: str) -> datetime:
    try:
        return datetime.strptime(raw, pattern) if pattern else datetime.fromisoformat(raw)
    except ValueError:
        expected = pattern or "ISO 8601 (2025-06-01T00:00:00)"
        raise InputDataError(f"unparseable timestamp {raw!r}; expected {expected}", path=str(path), line=line,
                             column=column, hint="fix the value or set 'timestamp_format' in the mapping") from None


def parse_number(raw: str, path: Path, line: int, column: str, minimum: float | None = None) -> float | None:
    """Return the number in a cell, None for an empty cell; raise for text, NaN or infinity."""
    if raw == "":
        return None
    try:
        value = float(raw.replace(",", "")) if re.fullmatch(r"-?[\d,]+(\.\d+)?", raw) else float(raw)
    except ValueError:
        raise InputDataError(f"{raw!r} is not a number", path=str(path), line=line, column=column,
                             hint="leave the cell empty when the value is unknown") from None
    if math.isnan(value) or math.isinf(value):
        raise InputDataError(f"{raw!r} is not a finite number", path=str(path), line=line, column=column,
                             hint="leave the cell empty when the value is unknown")
    if minimum is not None and value < minimum:
        raise InputDataError(f"{raw!r} is below the minimum {minimum}", path=str(path), line=line, column=column)
    return value


def parse_flag(raw: str, path: Path, line: int, column: str) -> bool:
    lowered = raw.strip().lower()
    if lowered in TRUE_VALUES:
        return True
    if lowered in FALSE_VALUES:
        return False
    raise InputDataError(f"{raw!r} is not a flag (use 1/0, true/false or yes/no)", path=str(path), line=line,
                         column=column)
