"""Open CSV files whatever their encoding and report bad rows with file and line.

Encodings: an explicit encoding wins; otherwise a UTF-8 byte-order mark selects `utf-8-sig`,
valid UTF-8 selects `utf-8`, and anything else is detected with charset-normalizer. Chinese
guesses (GB2312, GBK) are widened to GB18030, their superset, so no character is lost.
"""

from __future__ import annotations

import codecs
import csv
import difflib
import io
import logging
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from charset_normalizer import from_bytes

from kg_service.errors import InputDataError

logger = logging.getLogger(__name__)

SNIFF_BYTES = 64 * 1024
CHINESE_ENCODINGS = {"gb2312", "gbk", "gb18030", "hz", "big5"}
# Delimiters that a one-column header is checked for when the mapped columns are missing.
DELIMITERS = (",", ";", "\t", "|")
# Missing columns named in a wrong-delimiter error; the rest are only counted.
MISSING_COLUMNS_LISTED = 3


@dataclass(frozen=True)
class CsvRow:
    """One data row with the physical line number where it starts (the header is line 1)."""

    line: int
    values: dict[str, str]


def detect_encoding(path: Path) -> str:
    """Return the encoding to read `path` with; raise InputDataError for empty or binary files."""
    with open(path, "rb") as handle:
        head = handle.read(SNIFF_BYTES)
    if not head.strip():
        raise InputDataError("the file is empty", path=str(path), hint="export the data again with a header row")
    if head.startswith(codecs.BOM_UTF8):
        return "utf-8-sig"
    if head.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        return "utf-16"
    if b"\x00" in head:
        raise InputDataError("the file is binary (it contains NUL bytes), not a CSV text file", path=str(path),
                             hint="export the table as CSV, or pass its encoding with --encoding "
                                  "if it is UTF-16 or UTF-32 text without a byte-order mark")
    data = path.read_bytes()
    try:
        data.decode("utf-8")
        return "utf-8"
    except UnicodeDecodeError:
        pass
    best = from_bytes(data).best()
    if best is None:
        raise InputDataError("the text encoding could not be detected", path=str(path),
                             hint="pass it with --encoding (for example gb18030 or latin-1)")
    encoding = best.encoding.lower().replace("_", "")
    if encoding in CHINESE_ENCODINGS or best.language == "Chinese":
        encoding = "gb18030"
    logger.info("%s: detected encoding %s", path, encoding)
    return encoding


def read_csv(path: Path | str, required_columns: list[str], encoding: str | None = None,
             delimiter: str = ",", mapping_path: Path | str | None = None) -> tuple[list[str], Iterator[CsvRow], str]:
    """Open a CSV file and check its header; return (header, rows, encoding used).

    Raises InputDataError when the file is missing, empty, binary, undecodable or lacks one of
    `required_columns`.
    """
    path = Path(path)
    if path.is_dir():
        raise InputDataError("is a folder, not a CSV file", path=str(path), hint="pass the CSV file inside it")
    if not path.is_file():
        raise InputDataError("file not found", path=str(path))
    encoding = encoding or detect_encoding(path)
    try:
        codecs.lookup(encoding)
    except LookupError:
        raise InputDataError(f"unknown encoding {encoding!r}", path=str(path),
                             hint="use a Python codec name such as utf-8, gb18030 or latin-1") from None
    try:
        text = path.read_text(encoding=encoding)
    except UnicodeDecodeError as error:
        line = path.read_bytes()[:error.start].count(b"\n") + 1
        raise InputDataError(f"bytes at offset {error.start} are not valid {encoding}", path=str(path), line=line,
                             hint="pass the right encoding with --encoding") from None
    if not text.strip():
        raise InputDataError("the file is empty", path=str(path), hint="export the data again with a header row")

    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter)
    try:
        header = [name.strip() for name in next(reader)]
    except csv.Error as error:
        raise InputDataError(f"the header row is not valid CSV: {error}", path=str(path), line=1) from None
    missing = [column for column in required_columns if column not in header]
    if missing:
        raise missing_columns_error(path, missing, required_columns, header, delimiter, mapping_path)
    return header, _rows(path, reader, header), encoding


def missing_columns_error(path: Path, missing: list[str], required: list[str], header: list[str],
                          delimiter: str | None, mapping_path: Path | str | None) -> InputDataError:
    """Return the error for mapped columns missing from a header, leading with a wrong delimiter when it looks so.

    The delimiter looks wrong when the header is one field that contains another delimiter and
    more than half of the mapped columns are missing. Then the columns are only counted, because
    each of them is missing for the same reason. `delimiter` None (whitespace-separated text)
    skips that check.
    """
    mapping = f"the mapping file {mapping_path}" if mapping_path else "the mapping file"
    detected = _detected_delimiter(header, delimiter) if delimiter is not None else None
    if detected is not None and len(missing) * 2 > len(required):
        return InputDataError(wrong_delimiter_message(path, missing, detected, delimiter), path=str(path), line=1,
                              hint=f"set 'delimiter: \"{_yaml_escaped(detected)}\"' in {mapping}")
    return InputDataError(missing_columns_message(path, missing, header), path=str(path), line=1,
                          hint=f"fix the column names in {mapping} or in the CSV")


def wrong_delimiter_message(path: Path, missing: list[str], detected: str, delimiter: str) -> str:
    """Return "the delimiter looks wrong: ..." with the detected delimiter and a count of the missing columns."""
    listed = ", ".join(map(repr, missing[:MISSING_COLUMNS_LISTED]))
    if len(missing) > MISSING_COLUMNS_LISTED:
        listed += ", ..."
    return (f"the delimiter looks wrong: the header of {path.name} is one column that looks separated by "
            f"{_describe_delimiter(detected)}, but the mapping's delimiter is {_describe_delimiter(delimiter)}, so "
            f"{len(missing)} mapped columns are missing ({listed})")


def missing_columns_message(path: Path, missing: list[str], columns: list[str]) -> str:
    """Return "column 'vibb' is not in FILE; did you mean 'vib'?" for each missing column, then the columns."""
    clauses = []
    for column in missing:
        clause = f"column {column!r} is not in {path.name}"
        close = difflib.get_close_matches(column, columns, n=1)
        if close:
            clause += f"; did you mean {close[0]!r}?"
        clauses.append(clause)
    text = clauses[0]
    for clause in clauses[1:]:
        # A clause after a question starts a new sentence.
        text += f" {clause[:1].upper()}{clause[1:]}" if text.endswith("?") else f"; {clause}"
    listed = ", ".join(map(str, columns[:40])) + (", ..." if len(columns) > 40 else "")
    return text + (" " if text.endswith("?") else ". ") + f"The file's columns: {listed}"


def _detected_delimiter(header: list[str], delimiter: str) -> str | None:
    """Return the delimiter that a one-field header contains most often, or None when it contains none."""
    if len(header) != 1:
        return None
    counts = {other: header[0].count(other) for other in DELIMITERS if other != delimiter}
    best = max(counts, key=lambda other: counts[other])
    return best if counts[best] else None


def _describe_delimiter(delimiter: str) -> str:
    return "tabs ('\\t')" if delimiter == "\t" else repr(delimiter)


def _yaml_escaped(delimiter: str) -> str:
    """Return the delimiter as it is written inside a double-quoted YAML string."""
    return "\\t" if delimiter == "\t" else delimiter.replace("\\", "\\\\").replace('"', '\\"')


def _rows(path: Path, reader, header: list[str]) -> Iterator[CsvRow]:
    start_line = reader.line_num + 1
    while True:
        try:
            values = next(reader)
        except StopIteration:
            return
        except csv.Error as error:
            raise InputDataError(f"invalid CSV: {error}", path=str(path), line=start_line) from None
        if values and any(value.strip() for value in values):
            if len(values) > len(header):
                raise InputDataError(f"row has {len(values)} fields but the header has {len(header)}",
                                     path=str(path), line=start_line,
                                     hint="quote fields that contain the delimiter")
            padded = values + [""] * (len(header) - len(values))
            yield CsvRow(start_line, dict(zip(header, (value.strip() for value in padded))))
        start_line = reader.line_num + 1
