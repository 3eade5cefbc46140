"""Find entities by key or by name in English or Chinese, and read an asset's failure history."""

from __future__ import annotations

import base64
import hashlib
import json
from datetime import date, datetime, time, timezone
from typing import Any, NamedTuple

from kg_service.errors import NotFoundError, QueryError
from kg_service.graph.store import GraphStore

MAX_PAGE_SIZE = 200
HISTORY_SCOPE_LENGTH = 12
# The cursors of this API are base64 of a short JSON array: a scope and a sort key (graph keys and
# ontology IRIs, rarely over 200 characters). Longer text comes only from forged cursors, and it is
# rejected before base64 and JSON decode it. NOTE: a sort key over about 3,000 bytes of UTF-8 would
# give a cursor beyond this bound, so the page after it could not be requested.
MAX_CURSOR_LENGTH = 4096

# A bound of a history window: an ISO date or date-time text, a date, or None for no bound.
DateBound = date | str | None
LANGUAGES = ("en", "zh")


def shorten(value: Any, limit: int = 80) -> str:
    """Return repr(value), cut to `limit` characters, for error messages and logs."""
    text = repr(value)
    return text if len(text) <= limit else f"{text[:limit]}... ({len(text)} characters)"


def check_language(lang: str) -> str:
    """Return the language that `lang` names ("en" or "zh"), or raise QueryError.

    Every `lang` argument of the GraphQL API goes through here. Case does not matter, and a
    language tag with a region ("zh-CN", "en_US") names its language.
    """
    base = lang.strip().lower().replace("_", "-").split("-")[0] if isinstance(lang, str) else None
    if base not in LANGUAGES:
        raise QueryError(f"lang must be one of {', '.join(LANGUAGES)}, got {shorten(lang)}; case does not matter, "
                         "and a tag with a region such as zh-CN names its language")
    return base


def check_page_size(first: int) -> int:
    if not 1 <= first <= MAX_PAGE_SIZE:
        raise QueryError(f"first must be between 1 and {MAX_PAGE_SIZE}, got {first}")
    return first


def display_name(properties: dict[str, Any], lang: str) -> str | None:
    """Return the name in `lang`, falling back to the other language and then to the source name."""
    preferred = properties.get("nameZh" if lang == "zh" else "nameEn")
    return preferred or properties.get("name") or properties.get("nameEn") or properties.get("nameZh")


def resolve_entity(store: GraphStore, reference: str, classes: list[str]) -> dict[str, Any]:
    """Return the entity whose key is `reference`, else the one whose name in any language matches.

    `classes` are labels from the code (never from request text). Raises NotFoundError when
    nothing matches and QueryError when several entities share the name.
    """
    rows = store.read("MATCH (n:Entity {id: $ref}) RETURN n.id AS id, labels(n) AS labels, properties(n) AS props",
                      {"ref": reference})
    if not rows:
        rows = store.read(
            "MATCH (n:Entity) WHERE any(label IN labels(n) WHERE label IN $classes) "
            "AND (toLower(n.name) = toLower($ref) OR toLower(n.nameEn) = toLower($ref) OR n.nameZh = $ref) "
            "RETURN n.id AS id, labels(n) AS labels, properties(n) AS props ORDER BY id LIMIT 10",
            {"ref": reference, "classes": classes})
    rows = [row for row in rows if set(row["labels"]) & set(classes)]
    if not rows:
        raise NotFoundError(f"no {' or '.join(classes)} with key or name {shorten(reference)}; "
                            "look names up with the GraphQL 'entities' query")
    if len(rows) > 1:
        keys = ", ".join(row["id"] for row in rows)
        raise QueryError(f"{shorten(reference)} names several entities ({keys}); pass one of these keys instead")
    return rows[0]


def _is_iso_date(value: Any) -> bool:
    try:
        date.fromisoformat(value)
    except (TypeError, ValueError):
        return False
    return True


def encode_cursor(values: list[Any]) -> str:
    return base64.urlsafe_b64encode(json.dumps(values, default=str).encode("utf-8")).decode("ascii")


def check_cursor_length(cursor: str, argument: str = "after") -> str:
    """Return `cursor`, or raise QueryError when it is longer than any cursor that this API issues."""
    if len(cursor) > MAX_CURSOR_LENGTH:
        raise QueryError(f"invalid cursor {shorten(cursor)} in {argument}: cursors of this API have at most "
                         f"{MAX_CURSOR_LENGTH} characters; pass an endCursor from a previous page, or restart from "
                         "the first page (omit after)")
    return cursor


def decode_cursor(cursor: str | None) -> list[Any] | None:
    if cursor is None:
        return None
    check_cursor_length(cursor)
    try:
        # validate=True rejects characters outside the URL-safe alphabet, so each position has one cursor.
        values = json.loads(base64.b64decode(cursor.encode("ascii"), altchars=b"-_", validate=True))
    except (ValueError, UnicodeError, RecursionError):
        raise QueryError(f"invalid cursor {shorten(cursor)}; pass an endCursor from a previous page, or restart from "
                         "the first page (omit after)") from None
    if not isinstance(values, list):
        raise QueryError(f"invalid cursor {shorten(cursor)}; pass an endCursor from a previous page, or restart from "
                         "the first page (omit after)")
    return values


class HistoryPage(NamedTuple):
    """One page of work orders, newest first, with the total count and the next cursor."""

    rows: list[dict[str, Any]]
    total: int
    has_next: bool
    end_cursor: str | None
    # What the cursors are valid for: the asset, the failures-only filter and the date window.
    scope: str | None = None


HISTORY_QUERY = """
MATCH (asset:Entity {id: $asset})
MATCH (wo:WorkOrder)-[:FOR_ASSET]->(target)
WHERE target = asset OR (target)-[:PART_OF*1..4]->(asset)
WITH DISTINCT wo
WHERE ($failuresOnly = false OR (wo)-[:HAS_FAILURE_MODE]->())
  AND ($since IS NULL OR wo.date >= date($since)) AND ($until IS NULL OR wo.date <= date($until))
WITH wo ORDER BY wo.date DESC, wo.id DESC
WITH collect(wo) AS orders
WITH orders, size(orders) AS total,
     CASE WHEN $afterDate IS NULL THEN orders
          ELSE [o IN orders WHERE o.date < date($afterDate) OR (o.date = date($afterDate) AND o.id < $afterId)] END AS rest
UNWIND rest[0..$limit] AS wo
OPTIONAL MATCH (wo)-[:HAS_FAILURE_MODE]->(fm)
OPTIONAL MATCH (wo)-[:INVOLVES]->(part:Component)
OPTIONAL MATCH (wo)-[:INVOLVES]->(system:System)
OPTIONAL MATCH (wo)-[:HAS_ACTION]->(action)
OPTIONAL MATCH (wo)-[:HAS_SYMPTOM]->(symptom)
RETURN wo.id AS id, properties(wo) AS props, total, size(rest) AS remaining,
       collect(DISTINCT properties(fm)) AS failureModes, collect(DISTINCT properties(part)) AS parts,
       collect(DISTINCT properties(system)) AS systems, collect(DISTINCT properties(action)) AS actions,
       collect(DISTINCT properties(symptom)) AS symptoms
ORDER BY props.date DESC, id DESC
"""


HISTORY_COUNT_QUERY = """
MATCH (asset:Entity {id: $asset})
MATCH (wo:WorkOrder)-[:FOR_ASSET]->(target)
WHERE target = asset OR (target)-[:PART_OF*1..4]->(asset)
WITH DISTINCT wo
WHERE ($failuresOnly = false OR (wo)-[:HAS_FAILURE_MODE]->())
  AND ($since IS NULL OR wo.date >= date($since)) AND ($until IS NULL OR wo.date <= date($until))
RETURN count(wo) AS total
"""


def _history_position(after: str | None) -> tuple[str | None, str | None, str | None]:
    """Return the (date, key, scope) of a history cursor; raises QueryError for a cursor this module did not make."""
    position = decode_cursor(after)
    if position is None:
        return None, None, None
    if not (len(position) == 3 and _is_iso_date(position[0]) and all(isinstance(value, str)
                                                                      for value in position[1:])):
        raise QueryError(f"invalid cursor {shorten(after)}; pass an endCursor from a previous page, or restart from "
                         "the first page (omit after)")
    return position[0], position[1], position[2]


def history_scope(asset_id: str, failures_only: bool, since: str | None, until: str | None) -> str:
    """Return the scope of a history cursor: a short hash of the asset, the failures-only filter and the window.

    A keyset cursor (date, key) would otherwise point into any asset's history or any window and
    return a wrong page without an error.
    """
    text = json.dumps([asset_id, bool(failures_only), since, until])
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:HISTORY_SCOPE_LENGTH]


def _check_scope(after: str | None, after_scope: str | None, scope: str) -> None:
    if after_scope is not None and after_scope != scope:
        raise QueryError(f"cursor {shorten(after or '')} in after belongs to another asset, failures-only filter or "
                         "date window; restart from the first page (omit after), or pass an endCursor that "
                         "failureHistory returned for the same arguments")


def history_cursor(row: dict[str, Any], scope: str | None) -> str:
    """Return the cursor of one work order of a history page."""
    return encode_cursor([str(row["props"]["date"]), row["id"], scope])


def naive_utc(moment: datetime) -> datetime:
    """Return `moment` in UTC without a time zone.

    A moment without a time zone is taken as UTC already, because the loaders store times as UTC
    without an offset.
    """
    if moment.tzinfo is None:
        return moment
    return moment.astimezone(timezone.utc).replace(tzinfo=None)


def _parse_iso_text(text: str) -> date | datetime:
    """Parse an ISO 8601 date or date-time, keeping its Z or offset; raise ValueError for other text."""
    stripped = text.strip()
    if stripped[-1:] == "z":
        stripped = stripped[:-1] + "Z"
    try:
        return date.fromisoformat(stripped)
    except ValueError:
        return datetime.fromisoformat(stripped)


def parse_iso(text: str) -> date | datetime:
    """Parse an ISO 8601 date, or a date-time converted to UTC without a time zone.

    A date-time may end in Z (or z) or in an offset such as +08:00. Raises ValueError for other text.
    """
    parsed = _parse_iso_text(text)
    return naive_utc(parsed) if isinstance(parsed, datetime) else parsed


def _date_bound(value: DateBound, name: str) -> str | None:
    """Return a date bound as an ISO date (YYYY-MM-DD).

    A date-time is converted to UTC. Midnight UTC is that date ("2024-03-01T00:00:00Z",
    "2024-03-01T08:00:00+08:00", a pandas Timestamp of a date). Any other time of day is rejected
    rather than cut to its date, because work orders carry only a date (kg:date is an xsd:date) and
    a silently dropped time of day would change the window.
    """
    if value is None:
        return None
    given = value
    if isinstance(value, str):
        try:
            value = _parse_iso_text(value)
        except ValueError:
            raise QueryError(f"{name} must be an ISO 8601 date such as 2024-05-01, got {shorten(value)}; a "
                             "date-time at midnight UTC such as 2024-05-01T00:00:00Z also works") from None
    if isinstance(value, datetime):
        moment = naive_utc(value)
        if moment.time() == time(0):
            return moment.date().isoformat()
        in_utc = f", which is {moment.isoformat()} in UTC" if value.tzinfo is not None else ""
        day = value.date().isoformat()
        raise QueryError(f"{name} must be a date (YYYY-MM-DD), got the date-time {shorten(str(given))}{in_utc}. "
                         f"Work orders carry only a date, so pass one without a time, such as {day}, or midnight "
                         f"UTC such as {day}T00:00:00Z")
    if isinstance(value, date):
        return value.isoformat()
    raise QueryError(f"{name} must be an ISO 8601 date such as 2024-05-01, got {type(value).__name__} "
                     f"{shorten(value)}")


def history_window(since: DateBound, until: DateBound) -> dict[str, str | None]:
    """Return the `since` and `until` parameters of the history queries; raises QueryError for a bad bound."""
    window = {"since": _date_bound(since, "since"), "until": _date_bound(until, "until")}
    if window["since"] is not None and window["until"] is not None and window["since"] > window["until"]:
        raise QueryError(f"since ({window['since']}) is after until ({window['until']}); swap them or widen the "
                         "window")
    return window


def failure_history(store: GraphStore, asset_id: str, first: int = 20, after: str | None = None,
                    failures_only: bool = False, since: DateBound = None, until: DateBound = None) -> HistoryPage:
    """Return the asset's work orders (of the asset and everything part of it), newest first.

    `since` and `until` (inclusive ISO dates) keep the work orders dated within them.
    """
    check_page_size(first)
    after_date, after_id, after_scope = _history_position(after)
    window = history_window(since, until)
    scope = history_scope(asset_id, failures_only, window["since"], window["until"])
    _check_scope(after, after_scope, scope)
    rows = store.read(HISTORY_QUERY, {"asset": asset_id, "limit": first, "afterDate": after_date,
                                      "afterId": after_id, "failuresOnly": failures_only, **window})
    if not rows:
        found = store.read("MATCH (asset:Entity {id: $asset}) RETURN count(asset) AS n", {"asset": asset_id})[0]["n"]
        if found == 0:
            raise NotFoundError(f"no asset with key {shorten(asset_id)}")
        # An empty page (past the end) still reports the asset's total.
        total = store.read(HISTORY_COUNT_QUERY, {"asset": asset_id, "failuresOnly": failures_only,
                                                 **window})[0]["total"]
        return HistoryPage([], total, False, None, scope)
    return HistoryPage(rows, rows[0]["total"], rows[0]["remaining"] > len(rows), history_cursor(rows[-1], scope), scope)


# HISTORY_QUERY over several assets: the same page of work orders, each counted once.
EQUIPMENT_HISTORY_QUERY = "\nUNWIND $equipment AS key\nMATCH (asset:Entity {id: key})" + \
    HISTORY_QUERY.split("MATCH (asset:Entity {id: $asset})", 1)[1]


def equipment_history(store: GraphStore, equipment: list[str], first: int = 20, failures_only: bool = False,
                      since: DateBound = None, until: DateBound = None) -> HistoryPage:
    """Return the first page of the work orders of several assets (and everything part of them), newest first.

    The page has no cursor. Use `failure_history` to page through one asset's history.
    """
    check_page_size(first)
    window = history_window(since, until)
    rows = store.read(EQUIPMENT_HISTORY_QUERY, {"equipment": equipment, "limit": first, "afterDate": None,
                                                "afterId": None, "failuresOnly": failures_only, **window})
    if not rows:
        return HistoryPage([], 0, False, None, None)
    return HistoryPage(rows, rows[0]["total"], rows[0]["remaining"] > len(rows), None, None)


# One round trip for the GraphQL field: the asset is resolved as `resolve_entity` does (the
# key first, else a name in any language among `$classes`), and the page is read only when
# exactly one asset matches. The query always returns one row, so an unknown or ambiguous asset
# and a page past the end are distinguished without a second query.
ASSET_HISTORY_QUERY = """
OPTIONAL MATCH (keyed:Entity {id: $ref})
WITH collect(keyed) AS byKey
CALL (byKey) {
  WITH byKey WHERE byKey = []
  MATCH (n:Entity) WHERE any(label IN labels(n) WHERE label IN $classes)
    AND (toLower(n.name) = toLower($ref) OR toLower(n.nameEn) = toLower($ref) OR n.nameZh = $ref)
  WITH n ORDER BY n.id LIMIT 10
  RETURN collect(n) AS byName
}
WITH [n IN byKey + byName WHERE any(label IN labels(n) WHERE label IN $classes)] AS matches
CALL (matches) {
  WITH matches WHERE size(matches) = 1
  WITH matches[0] AS asset
  MATCH (wo:WorkOrder)-[:FOR_ASSET]->(target)
  WHERE target = asset OR (target)-[:PART_OF*1..4]->(asset)
  WITH DISTINCT wo
  WHERE ($failuresOnly = false OR (wo)-[:HAS_FAILURE_MODE]->())
    AND ($since IS NULL OR wo.date >= date($since)) AND ($until IS NULL OR wo.date <= date($until))
  WITH wo ORDER BY wo.date DESC, wo.id DESC
  WITH collect(wo) AS orders
  RETURN size(orders) AS total,
         CASE WHEN $afterDate IS NULL THEN orders
              ELSE [o IN orders WHERE o.date < date($afterDate) OR (o.date = date($afterDate) AND o.id < $afterId)]
         END AS rest
}
CALL (rest) {
  UNWIND rest[0..$limit] AS wo
  WITH wo ORDER BY wo.date DESC, wo.id DESC
  RETURN collect({
    id: wo.id, props: properties(wo),
    failureModes: COLLECT { MATCH (wo)-[:HAS_FAILURE_MODE]->(x) WITH DISTINCT x ORDER BY x.id RETURN properties(x) },
    parts: COLLECT { MATCH (wo)-[:INVOLVES]->(x:Component) WITH DISTINCT x ORDER BY x.id RETURN properties(x) },
    systems: COLLECT { MATCH (wo)-[:INVOLVES]->(x:System) WITH DISTINCT x ORDER BY x.id RETURN properties(x) },
    actions: COLLECT { MATCH (wo)-[:HAS_ACTION]->(x) WITH DISTINCT x ORDER BY x.id RETURN properties(x) },
    symptoms: COLLECT { MATCH (wo)-[:HAS_SYMPTOM]->(x) WITH DISTINCT x ORDER BY x.id RETURN properties(x) }}) AS page
}
RETURN [n IN matches | n.id] AS assets, total, size(rest) AS remaining, page,
       $failuresOnly AS failuresOnly, $since AS since, $until AS until, $after AS after, $afterScope AS afterScope
"""


# The same projection as a row of ASSET_HISTORY_QUERY's page, for one work order by key.
WORK_ORDER_QUERY = """
MATCH (wo:WorkOrder {id: $id})
RETURN wo.id AS id, properties(wo) AS props,
  COLLECT { MATCH (wo)-[:HAS_FAILURE_MODE]->(x) WITH DISTINCT x ORDER BY x.id RETURN properties(x) } AS failureModes,
  COLLECT { MATCH (wo)-[:INVOLVES]->(x:Component) WITH DISTINCT x ORDER BY x.id RETURN properties(x) } AS parts,
  COLLECT { MATCH (wo)-[:INVOLVES]->(x:System) WITH DISTINCT x ORDER BY x.id RETURN properties(x) } AS systems,
  COLLECT { MATCH (wo)-[:HAS_ACTION]->(x) WITH DISTINCT x ORDER BY x.id RETURN properties(x) } AS actions,
  COLLECT { MATCH (wo)-[:HAS_SYMPTOM]->(x) WITH DISTINCT x ORDER BY x.id RETURN properties(x) } AS symptoms
"""


def asset_history(store: GraphStore, reference: str, classes: list[str], first: int = 20, after: str | None = None,
                  failures_only: bool = False, since: DateBound = None, until: DateBound = None) -> HistoryPage:
    """Resolve an asset by key or name and return its failure history in one query.

    The rows, totals, cursors and errors are those of `resolve_entity` followed by
    `failure_history`, but with one round trip to Neo4j. One difference: an invalid `first` or cursor is
    rejected before the asset is looked up, so it wins over an unknown asset. `classes` are
    labels from the code, never from request text.
    """
    params = asset_history_params(reference, classes, first, after, failures_only, since, until)
    return asset_history_page(store.read(ASSET_HISTORY_QUERY, params)[0], reference, classes)


def asset_history_params(reference: str, classes: list[str], first: int = 20, after: str | None = None,
                         failures_only: bool = False, since: DateBound = None,
                         until: DateBound = None) -> dict[str, Any]:
    """Check the page arguments and return the parameters of ASSET_HISTORY_QUERY (the first half of `asset_history`)."""
    check_page_size(first)
    after_date, after_id, after_scope = _history_position(after)
    return {"ref": reference, "classes": classes, "limit": first, "afterDate": after_date, "afterId": after_id,
            "afterScope": after_scope, "after": after, "failuresOnly": failures_only,
            **history_window(since, until)}


def asset_history_page(row: dict[str, Any], reference: str, classes: list[str]) -> HistoryPage:
    """Return the page in ASSET_HISTORY_QUERY's single row (the second half of `asset_history`)."""
    assets = row["assets"]
    if not assets:
        raise NotFoundError(f"no {' or '.join(classes)} with key or name {shorten(reference)}; "
                            "look names up with the GraphQL 'entities' query")
    if len(assets) > 1:
        raise QueryError(f"{shorten(reference)} names several entities ({', '.join(assets)}); "
                         "pass one of these keys instead")

    scope = history_scope(assets[0], row["failuresOnly"], row["since"], row["until"])
    _check_scope(row["after"], row["afterScope"], scope)
    rows = row["page"]
    if not rows:
        return HistoryPage([], row["total"], False, None, scope)
    return HistoryPage(rows, row["total"], row["remaining"] > len(rows), history_cursor(rows[-1], scope), scope)
