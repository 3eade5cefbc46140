"""Relay cursor pagination over lists that a resolver computes in full.

A computed list (a root-cause ranking, a supplier ranking, the evidence of one candidate)
pages by position. Its cursor is opaque base64 of `[scope, position]`. The scope is a
fingerprint of the field name and of the request arguments that produced the list. A cursor
taken from another field, or from a request with other arguments, is therefore rejected
instead of silently pointing into a different list.

`entityEvidence` uses the same cursors with an offset in Cypher. Lists that Cypher pages by
key (entities, ontology terms, ontology changes, supplier KPIs) use keyset cursors: base64 of
`[scope, key]`, where the key is the sort key of the last item and the scope is the same
fingerprint. A failure-history cursor comes from `kg_service.reasoning.lookup` and carries a
hash of its asset, filter and window. Every decoder rejects a cursor longer than
`lookup.MAX_CURSOR_LENGTH` before it decodes it.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

import strawberry

from kg_service.errors import QueryError
from kg_service.reasoning.lookup import MAX_PAGE_SIZE, check_cursor_length, shorten

logger = logging.getLogger(__name__)

T = TypeVar("T")

FINGERPRINT_LENGTH = 16
# Larger positions come only from forged cursors; Cypher parameters are 64-bit integers.
MAX_POSITION = 2**31
MAX_KEY_INTEGER = 2**63

RESTART_HINT = "restart from the first page (omit after)"


@strawberry.type(description="Where a page starts and ends and whether items come before and after it")
class PageInfo:
    has_next_page: bool
    end_cursor: str | None
    has_previous_page: bool = strawberry.field(
        default=False, description="Whether items come before the page; `after` pages forward, so this is true "
                                   "when the page starts after the first item")
    start_cursor: str | None = strawberry.field(default=None, description="Cursor of the page's first item")


@strawberry.type(description="An item of a page with the cursor that points at it")
class Edge(Generic[T]):
    cursor: str
    node: T


@strawberry.type(description="Relay-style page of a list")
class Connection(Generic[T]):
    total_count: int
    edges: list[Edge[T]]
    page_info: PageInfo


@strawberry.type(description="A graph key of a paged list, with the cursor that points at it")
class KeyEdge:
    cursor: str
    node: str


@strawberry.type(description="Relay-style page of graph keys")
class KeyConnection:
    total_count: int
    edges: list[KeyEdge]
    page_info: PageInfo


@dataclass(frozen=True)
class Page(Generic[T]):
    """One page of a list: the items with their cursors, the list's length and whether more follow."""

    items: list[tuple[str, T]]
    total: int
    has_next: bool
    has_previous: bool = False

    @property
    def end_cursor(self) -> str | None:
        return self.items[-1][0] if self.items else None


def fingerprint(field: str, arguments: dict[str, Any]) -> str:
    """Return the scope of a list: a short hash of the field name and the arguments that produce the list."""
    text = json.dumps([field, arguments], sort_keys=True, default=str, ensure_ascii=False)
    return f"{field}:{hashlib.sha256(text.encode('utf-8')).hexdigest()[:FINGERPRINT_LENGTH]}"


def check_first(first: int, field: str, maximum: int = MAX_PAGE_SIZE) -> int:
    """Return `first`, or raise QueryError naming the field and the value when it is outside 1..maximum."""
    if isinstance(first, bool) or not 1 <= first <= maximum:
        raise QueryError(f"first of {field} must be between 1 and {maximum}, got {first}")
    return first


def encode_cursor(scope: str, position: int) -> str:
    """Return the opaque cursor of the item at `position` (from 0) of the list `scope`."""
    if scope.isascii() and scope.isprintable() and '"' not in scope and "\\" not in scope:
        # The same text as json.dumps([scope, position]), without its encoder: a page encodes one cursor per item.
        text = f'["{scope}", {int(position)}]'
    else:
        text = json.dumps([scope, position])
    return base64.urlsafe_b64encode(text.encode("utf-8")).decode("ascii")


def _cursor_values(cursor: str, field: str) -> Any:
    """Return the decoded JSON of a cursor, or None when it is not base64 of JSON.

    Raises QueryError for a cursor longer than any cursor that this API issues.
    """
    check_cursor_length(cursor, f"after of {field}")
    try:
        # validate=True rejects characters outside the URL-safe alphabet, so each position has one cursor.
        return json.loads(base64.b64decode(cursor.encode("ascii"), altchars=b"-_", validate=True))
    except (ValueError, UnicodeError, binascii.Error, RecursionError):
        return None


def _is_position(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and 0 <= value < MAX_POSITION


def _key_part_valid(value: Any, expected: type) -> bool:
    if expected is int:
        return isinstance(value, int) and not isinstance(value, bool) and 0 <= value < MAX_KEY_INTEGER
    return isinstance(value, expected)


def _issued_scope(values: Any) -> str | None:
    """Return the scope of a decoded cursor that has the form of one this API issues, else None.

    The forms are `[scope, position]` and `[scope, [key parts]]`, with text or integer key parts.
    """
    if not (isinstance(values, list) and len(values) == 2 and isinstance(values[0], str)):
        return None
    body = values[1]
    if _is_position(body):
        return values[0]
    if isinstance(body, list) and body and all(_key_part_valid(part, str) or _key_part_valid(part, int)
                                               for part in body):
        return values[0]
    return None


def _invalid_cursor(cursor: str, field: str) -> QueryError:
    return QueryError(f"invalid cursor {shorten(cursor)} in after of {field}; pass an endCursor that {field} "
                      f"returned, or {RESTART_HINT}")


def _foreign_cursor(cursor: str, field: str) -> QueryError:
    return QueryError(f"cursor {shorten(cursor)} in after of {field} belongs to another list or to a request with "
                      f"other arguments; {RESTART_HINT}, or pass an endCursor that {field} returned for the same "
                      "arguments")


def decode_cursor(cursor: str | None, scope: str, field: str) -> int:
    """Return the position after which the next page starts (-1 without a cursor).

    Raises QueryError for a cursor that this API did not issue, and for a cursor of another list
    or of the same field with other arguments.
    """
    if cursor is None:
        return -1
    values = _cursor_values(cursor, field)
    issued_scope = _issued_scope(values)
    if issued_scope is None:
        raise _invalid_cursor(cursor, field)
    if issued_scope != scope:
        raise _foreign_cursor(cursor, field)
    if not _is_position(values[1]):
        raise _invalid_cursor(cursor, field)
    return values[1]


def encode_key_cursor(scope: str, key: Sequence[str | int]) -> str:
    """Return the opaque keyset cursor of the item with sort key `key` in the list `scope`."""
    text = json.dumps([scope, list(key)], ensure_ascii=False)
    return base64.urlsafe_b64encode(text.encode("utf-8")).decode("ascii")


def decode_key_cursor(cursor: str | None, scope: str, field: str,
                      key_types: Sequence[type]) -> list[str | int] | None:
    """Return the sort key after which the next keyset page starts, or None without a cursor.

    `key_types` is the type of each part of the key (str or int). Raises QueryError for a cursor
    that this API did not issue, and for a cursor of another list or of the same field with other
    arguments, because its key would point into a list that it was not taken from.
    """
    if cursor is None:
        return None
    values = _cursor_values(cursor, field)
    issued_scope = _issued_scope(values)
    if issued_scope is None:
        raise _invalid_cursor(cursor, field)
    if issued_scope != scope:
        raise _foreign_cursor(cursor, field)
    key = values[1]
    valid = (isinstance(key, list) and len(key) == len(key_types)
             and all(_key_part_valid(value, expected) for value, expected in zip(key, key_types)))
    if not valid:
        raise _invalid_cursor(cursor, field)
    return key


def slice_page(items: Sequence[T], first: int, after: str | None, scope: str, field: str,
               maximum: int = MAX_PAGE_SIZE) -> Page[T]:
    """Return the `first` items after the cursor `after`; a cursor past the end gives an empty page."""
    check_first(first, field, maximum)
    start = decode_cursor(after, scope, field) + 1
    return page_at(items[start:start + first], start, len(items), scope)


def page_at(items: Sequence[T], start: int, total: int, scope: str) -> Page[T]:
    """Return a page that a query read from position `start` (from 0) of a list of `total` items."""
    return Page([(encode_cursor(scope, start + offset), item) for offset, item in enumerate(items)], total,
                start + len(items) < total, start > 0)


def edges(page: Page[Any], edge_type: type = Edge) -> list[Any]:
    """Return the edges of a page as `edge_type` objects (fields cursor and node)."""
    return [edge_type(cursor=cursor, node=node) for cursor, node in page.items]


def page_info(page: Page[Any]) -> PageInfo:
    start_cursor = page.items[0][0] if page.items else None
    return PageInfo(has_next_page=page.has_next, end_cursor=page.end_cursor, has_previous_page=page.has_previous,
                    start_cursor=start_cursor)


def keyset_page_info(edges: Sequence[Any], has_next: bool, after: str | None) -> PageInfo:
    """Return the PageInfo of a page that Cypher read by key after the cursor `after` (None for the first page)."""
    return PageInfo(has_next_page=has_next, end_cursor=edges[-1].cursor if edges else None,
                    has_previous_page=after is not None, start_cursor=edges[0].cursor if edges else None)


def connection(connection_type: type, items: Sequence[Any], first: int, after: str | None, scope: str, field: str,
               maximum: int = MAX_PAGE_SIZE, edge_type: type = Edge) -> Any:
    """Return one page of `items` as a `connection_type` (fields total_count, edges, page_info)."""
    page = slice_page(items, first, after, scope, field, maximum)
    return connection_type(total_count=page.total, edges=edges(page, edge_type), page_info=page_info(page))


def key_connection(keys: Sequence[str], first: int, after: str | None, scope: str, field: str) -> KeyConnection:
    """Return one page of graph keys."""
    return connection(KeyConnection, keys, first, after, scope, field, edge_type=KeyEdge)
