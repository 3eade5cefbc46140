"""Read documents into plain text: .txt, .md, .pdf (with page offsets), .docx and text columns of CSV files.

Text files are decoded as UTF-8 (with or without a byte-order mark) or, failing that, with
the encoding that charset-normalizer detects, widened to GB18030 for Chinese (see
`loaders.csv_source.detect_encoding`). A CSV file gives one document per row, made of its
text columns. Unreadable input (binary data, a corrupt PDF or DOCX) raises InputDataError
naming the file, so a batch can report it and go on with the next file.
"""

from __future__ import annotations

import codecs
import hashlib
import logging
import re
import zipfile
from dataclasses import dataclass, field
from pathlib import Path

from kg_service.errors import InputDataError
from loaders.csv_source import detect_encoding, read_csv

logger = logging.getLogger(__name__)

MEDIA_TYPES = {
    ".txt": "text/plain",
    ".text": "text/plain",
    ".log": "text/plain",
    ".md": "text/markdown",
    ".markdown": "text/markdown",
    ".pdf": "application/pdf",
    ".docx": "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
    ".csv": "text/csv",
}
# A CSV column counts as free text when at least half its values read as prose (several words, or Chinese)
# and their mean length is this or more.
MIN_TEXT_COLUMN_CHARS = 12
# Chinese prose has no spaces between words, and a Chinese character carries about a word, so a mostly
# Chinese column needs a shorter mean length. Names such as "1号数控车床" (6 characters) stay below it.
MIN_CHINESE_TEXT_COLUMN_CHARS = 10
# Column names that mean free text, used when no column reads as prose ("text", "描述").
TEXT_COLUMN_NAMES = frozenset({"text", "description", "desc", "comment", "comments", "note", "notes", "remark",
                               "remarks", "summary", "body", "content", "描述", "内容", "备注", "说明", "故障描述"})
# Text that is not UTF-8 is read as GB18030 when at least this share of its non-ASCII characters are Chinese.
CHINESE_SHARE = 0.9
_CHINESE = re.compile(r"[\u3000-\u303f\u3400-\u4dbf\u4e00-\u9fff\uff00-\uffef]")


@dataclass(frozen=True)
class LoadedDocument:
    """The text of one document (or one CSV row) with where it came from.

    `source` is the stable key of the document: the resolved path, with `#row=N` for a CSV row.
    `page_starts` contains the offset in `text` where each page begins (PDF only).
    """

    source: str
    path: Path
    text: str
    media_type: str
    encoding: str | None = None
    page_starts: list[int] = field(default_factory=list)
    title: str = ""

    @property
    def checksum(self) -> str:
        """SHA-256 of the document text, so a file with the same text in another encoding counts as unchanged."""
        return hashlib.sha256(self.text.encode("utf-8")).hexdigest()

    @property
    def is_blank(self) -> bool:
        return not self.text.strip()


def supported(path: Path) -> bool:
    """True when the file suffix is one that `load_document` reads."""
    return path.suffix.lower() in MEDIA_TYPES


def load_document(path: Path | str, *, text_columns: list[str] | None = None,
                  encoding: str | None = None) -> list[LoadedDocument]:
    """Read one file; return one document, or one per row for a CSV file."""
    path = Path(path)
    if path.is_dir():
        raise InputDataError("is a folder, not a document", path=str(path), hint="pass the files inside it")
    if not path.is_file():
        raise InputDataError("file not found", path=str(path))
    suffix = path.suffix.lower()
    if suffix not in MEDIA_TYPES:
        raise InputDataError(f"unsupported document type {suffix or '(no suffix)'!r}", path=str(path),
                             hint=f"use one of {', '.join(sorted(MEDIA_TYPES))}")
    source = str(path.resolve())
    if suffix == ".pdf":
        return [_load_pdf(path, source)]
    if suffix == ".docx":
        return [_load_docx(path, source)]
    if suffix == ".csv":
        return _load_csv_rows(path, source, text_columns, encoding)
    text, used = read_text(path, encoding)
    return [LoadedDocument(source=source, path=path, text=text, media_type=MEDIA_TYPES[suffix], encoding=used,
                           title=path.name)]


def read_text(path: Path, encoding: str | None = None) -> tuple[str, str | None]:
    """Decode a text file; return (text, encoding), with ("", None) for an empty file."""
    data = path.read_bytes()
    if not data.strip():
        return "", None
    if encoding is None:
        if b"\x00" in data[:65536] and not data.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
            raise InputDataError("the file is binary (it contains NUL bytes), not a text document", path=str(path),
                                 hint="convert it to text, PDF or DOCX first")
        encoding = _detect_text_encoding(path, data)
    try:
        text = data.decode(encoding)
    except (UnicodeDecodeError, LookupError) as error:
        raise InputDataError(f"cannot decode the file as {encoding}: {error}", path=str(path),
                             hint="pass the right encoding (for example gb18030 or utf-8)") from None
    return text.lstrip("\ufeff"), encoding


def _detect_text_encoding(path: Path, data: bytes) -> str:
    """Return UTF-8 (with or without BOM), else GB18030 when the bytes read as Chinese, else charset-normalizer's guess."""
    if data.startswith(codecs.BOM_UTF8):
        return "utf-8-sig"
    try:
        data.decode("utf-8")
        return "utf-8"
    except UnicodeDecodeError:
        pass
    try:
        text = data.decode("gb18030")
    except UnicodeDecodeError:
        return detect_encoding(path)
    non_ascii = [char for char in text if ord(char) > 127]
    chinese = sum(1 for char in non_ascii if _CHINESE.match(char))
    # NOTE: GB18030 is tried before other legacy encodings, so Korean EUC-KR text can be read as Chinese.
    if non_ascii and chinese >= CHINESE_SHARE * len(non_ascii):
        return "gb18030"
    return detect_encoding(path)


def _load_pdf(path: Path, source: str) -> LoadedDocument:
    from pypdf import PdfReader
    from pypdf.errors import PyPdfError

    parts: list[str] = []
    page_starts: list[int] = []
    offset = 0
    try:
        reader = PdfReader(path)
        for page in reader.pages:
            page_text = (page.extract_text() or "").strip()
            page_starts.append(offset)
            parts.append(page_text)
            offset += len(page_text) + 2
    except (PyPdfError, ValueError, KeyError, TypeError, OSError) as error:
        raise InputDataError(f"the PDF file is corrupt or unreadable ({type(error).__name__}: {error})",
                             path=str(path), hint="open it in a PDF viewer and save it again") from None
    return LoadedDocument(source=source, path=path, text="\n\n".join(parts), media_type=MEDIA_TYPES[".pdf"],
                          page_starts=page_starts, title=path.name)


def _load_docx(path: Path, source: str) -> LoadedDocument:
    import docx
    from docx.opc.exceptions import PackageNotFoundError

    try:
        document = docx.Document(str(path))
    except (PackageNotFoundError, zipfile.BadZipFile, KeyError, ValueError) as error:
        raise InputDataError(f"the DOCX file is corrupt or not a Word document ({type(error).__name__}: {error})",
                             path=str(path), hint="open it in Word or LibreOffice and save it as .docx again") from None
    blocks = [paragraph.text for paragraph in document.paragraphs if paragraph.text.strip()]
    for table in document.tables:
        for row in table.rows:
            cells = [cell.text.strip() for cell in row.cells if cell.text.strip()]
            if cells:
                blocks.append(" | ".join(dict.fromkeys(cells)))
    return LoadedDocument(source=source, path=path, text="\n\n".join(blocks), media_type=MEDIA_TYPES[".docx"],
                          title=path.name)


def _load_csv_rows(path: Path, source: str, text_columns: list[str] | None,
                   encoding: str | None) -> list[LoadedDocument]:
    header, rows, used = read_csv(path, text_columns or [], encoding)
    rows = list(rows)
    columns = text_columns or _guess_text_columns(header, [row.values for row in rows])
    if not columns:
        raise InputDataError("no free-text column found", path=str(path), line=1,
                             hint=f"name the text columns with --text-column (header: {', '.join(header)})")
    documents = []
    for row in rows:
        parts = [row.values.get(column, "").strip() for column in columns]
        text = "\n".join(part for part in parts if part)
        documents.append(LoadedDocument(source=f"{source}#row={row.line}", path=path, text=text,
                                        media_type=MEDIA_TYPES[".csv"], encoding=used,
                                        title=f"{path.name} line {row.line}"))
    logger.info("%s: %d rows, text columns %s", path, len(documents), columns)
    return documents


def _guess_text_columns(header: list[str], rows: list[dict[str, str]]) -> list[str]:
    """Return the columns whose values read as free text (several words or Chinese prose, not codes or numbers).

    When none does, return the columns whose name means free text, such as "text" or "描述".
    """
    columns = []
    for column in header:
        values = [row.get(column, "").strip() for row in rows if row.get(column, "").strip()]
        if not values:
            continue
        chinese = sum(1 for value in values if _CHINESE.search(value))
        with_space = sum(1 for value in values if " " in value)
        mean_length = sum(len(value) for value in values) / len(values)
        if chinese * 2 >= len(values):
            if mean_length >= MIN_CHINESE_TEXT_COLUMN_CHARS:
                columns.append(column)
        elif with_space * 2 >= len(values) and mean_length >= MIN_TEXT_COLUMN_CHARS:
            columns.append(column)
    if columns:
        return columns
    return [column for column in header if column.strip().lower() in TEXT_COLUMN_NAMES]
