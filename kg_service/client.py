"""A Python client for notebooks: the common questions as pandas DataFrames and networkx graphs.

Two modes with the same methods and the same results:

    client = KGClient(url="http://127.0.0.1:8000/graphql", api_key="...")   # a running server
    client = KGClient.from_settings()                                       # in-process, no server

Both run the same fixed GraphQL documents with variables; no query text is ever built from
arguments. Over HTTP they are posted to the server. In-process they run on the service's own
schema, whose resolvers call the reasoning functions on a GraphStore opened from the settings,
with the role analyst (enough for every method here, which all read).

    causes = client.root_causes(asset="AC-3", failure_mode="Overheating")
    causes.candidates            # DataFrame: rank, id, label, score, one column per source
    causes.graph                 # networkx.MultiDiGraph of the evidence paths
    ranking = client.rank_suppliers({"onTimeRate": 0.5, "meanDelayDays": 0.5})
    ranking.normalized           # DataFrame, suppliers x criteria
"""

from __future__ import annotations

import asyncio
import logging
import threading
from dataclasses import dataclass, field
from datetime import date, datetime, time, timezone
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any

import httpx
import pandas as pd

from kg_service import errors as errors_module
from kg_service.errors import ConfigurationError, GraphStoreError, KGServiceError, QueryError

if TYPE_CHECKING:
    import networkx as nx

    from kg_service.config import Settings
    from kg_service.graph.store import GraphStore

logger = logging.getLogger(__name__)

DEFAULT_TIMEOUT_S = 120.0
PAGE_SIZE = 200
# Page sizes of a root-cause request, chosen so its cost stays within the API's query-cost budget
# of 10 000 (kg_service/api/limits.py). 10 candidates with 10 items of each evidence list, and the
# 100 observed events with 5 signals each, cost about 9 000. One candidate's follow-up page of 100
# items of each list costs about 4 800.
CANDIDATE_PAGE = 10
EVIDENCE_PAGE = 10
EVIDENCE_FOLLOW_PAGE = 100
# An anomaly event involves at most 5 signals (kg_service.anomaly.events.MAX_SIGNALS), so one page
# of 5 usually reads them all. An event with more signals is read again with 100 of them.
SIGNAL_PAGE = 5
# Page sizes of a failure-history request: 20 work orders with 5 items of each of their 5 entity
# lists cost about 5 300. A work order with a longer list is read again with 100 items of each list
# (about 5 000).
HISTORY_PAGE = 20
WORK_ORDER_LIST_PAGE = 5
LIST_FOLLOW_PAGE = 100
MAX_CANDIDATES = 100  # the server's maximum of `first` on rootCauses.candidates
# The languages of entity names, as the server checks them (kg_service.reasoning.lookup.LANGUAGES).
LANGUAGES = ("en", "zh")

ENTITY_FIELDS = "id classes en: label(lang: \"en\") zh: label(lang: \"zh\")"

ENTITY_QUERY = f"""
query Entity($id: ID!) {{ entity(id: $id) {{ {ENTITY_FIELDS} properties }} }}
"""

SEARCH_QUERY = f"""
query Search($text: String!, $lang: String!, $ofClass: String, $first: Int!, $after: String) {{
  entities(text: $text, lang: $lang, ofClass: $ofClass, first: $first, after: $after) {{
    totalCount pageInfo {{ hasNextPage endCursor }} edges {{ node {{ {ENTITY_FIELDS} properties }} }}
  }}
}}
"""

# The entity lists of a work order that the client flattens, by GraphQL field name.
WORK_ORDER_LISTS = ("failureModes", "parts", "systems", "actions", "symptoms")

# A work order's lists; `$lists` is the page size of each and `$<list>After` its cursor.
WORK_ORDER_LIST_FIELDS = "\n".join(
    f"      {name}(first: $lists, after: ${name}After) {{ pageInfo {{ hasNextPage endCursor }} "
    f"edges {{ node {{ {ENTITY_FIELDS} }} }} }}" for name in WORK_ORDER_LISTS)

WORK_ORDER_LIST_ARGUMENTS = ", ".join(["$lists: Int!", *(f"${name}After: String" for name in WORK_ORDER_LISTS)])

HISTORY_QUERY = f"""
query History($asset: String!, $first: Int!, $after: String, $failuresOnly: Boolean!, $since: String,
              $until: String, {WORK_ORDER_LIST_ARGUMENTS}) {{
  failureHistory(asset: $asset, first: $first, after: $after, failuresOnly: $failuresOnly, since: $since,
                 until: $until) {{
    totalCount pageInfo {{ hasNextPage endCursor }}
    edges {{ cursor node {{ id date text orderType cost runningHours
{WORK_ORDER_LIST_FIELDS} }} }}
  }}
}}
"""

# The keys of one evidence list of a candidate, with what is needed to follow its pages.
KEY_PAGE_FIELDS = "totalCount pageInfo { hasNextPage endCursor } edges { node }"

ROOT_CAUSE_ARGUMENTS = """$asset: String, $failureMode: String, $symptom: String, $event: String, $events: [String!],
  $since: String, $until: String, $windowDays: Int!"""

ROOT_CAUSE_FIELD = """rootCauses(asset: $asset, failureMode: $failureMode, symptom: $symptom, event: $event,
             events: $events, since: $since, until: $until, windowDays: $windowDays)"""

# One candidate's evidence; `$evidence` is the page size of each list and `$<list>After` its cursor.
CANDIDATE_EVIDENCE_FIELDS = f"""
      evidenceWorkOrders(first: $evidence, after: $evidenceWorkOrdersAfter) {{ {KEY_PAGE_FIELDS} }}
      precedingWorkOrders(first: $evidence, after: $precedingWorkOrdersAfter) {{ {KEY_PAGE_FIELDS} }}
      predictedWorkOrders(first: $evidence, after: $predictedWorkOrdersAfter) {{ {KEY_PAGE_FIELDS} }}
      documents(first: $evidence, after: $documentsAfter) {{ {KEY_PAGE_FIELDS} }}
      chunks(first: $evidence, after: $chunksAfter) {{ {KEY_PAGE_FIELDS} }}
      paths(first: $evidence, after: $pathsAfter) {{
        totalCount pageInfo {{ hasNextPage endCursor }} edges {{ node {{ nodes relationships }} }} }}
      events(first: $evidence, after: $eventsAfter) {{
        totalCount pageInfo {{ hasNextPage endCursor }}
        edges {{ node {{ id classes startTime secondsBeforeObserved }} }} }}
"""

EVIDENCE_ARGUMENTS = """$evidence: Int!, $evidenceWorkOrdersAfter: String, $precedingWorkOrdersAfter: String,
  $predictedWorkOrdersAfter: String, $documentsAfter: String, $chunksAfter: String, $pathsAfter: String,
  $eventsAfter: String"""

# The observed events of a ranking (at most 100); `$lists` is the page size of each event's signals.
OBSERVED_EVENT_FIELDS = """pageInfo { hasNextPage endCursor }
      edges { cursor node { id classes startTime
        signals(first: $lists, after: $signalsAfter) { pageInfo { hasNextPage endCursor } edges { node } } } }"""

ROOT_CAUSES_QUERY = f"""
query RootCauses({ROOT_CAUSE_ARGUMENTS}, $first: Int!, $after: String, {EVIDENCE_ARGUMENTS}, $lists: Int!,
                 $signalsAfter: String) {{
  {ROOT_CAUSE_FIELD} {{
    asset {{ {ENTITY_FIELDS} }} condition {{ {ENTITY_FIELDS} }} conditionSource tiedConditions
    targetWorkOrders predictedTargetWorkOrders sources
    observedEvents(first: 100) {{ {OBSERVED_EVENT_FIELDS} }}
    candidates(first: $first, after: $after) {{
      totalCount pageInfo {{ hasNextPage endCursor }}
      edges {{ cursor node {{
        entity {{ {ENTITY_FIELDS} }} score breakdown {{ source value }}
        {CANDIDATE_EVIDENCE_FIELDS}
      }} }}
    }}
  }}
}}
"""

# The next pages of one candidate's evidence lists: the candidate after `$candidateAfter`.
CANDIDATE_EVIDENCE_QUERY = f"""
query CandidateEvidence({ROOT_CAUSE_ARGUMENTS}, $candidateAfter: String, {EVIDENCE_ARGUMENTS}) {{
  {ROOT_CAUSE_FIELD} {{
    candidates(first: 1, after: $candidateAfter) {{
      edges {{ node {{ entity {{ id }} {CANDIDATE_EVIDENCE_FIELDS} }} }}
    }}
  }}
}}
"""

# The next pages of one observed event's signals: the event after `$after`.
OBSERVED_EVENTS_QUERY = f"""
query ObservedEvents({ROOT_CAUSE_ARGUMENTS}, $first: Int!, $after: String, $lists: Int!, $signalsAfter: String) {{
  {ROOT_CAUSE_FIELD} {{
    observedEvents(first: $first, after: $after) {{ {OBSERVED_EVENT_FIELDS} }}
  }}
}}
"""

# The lists of a candidate that the client flattens, by GraphQL field name.
EVIDENCE_LISTS = ("evidenceWorkOrders", "precedingWorkOrders", "predictedWorkOrders", "documents", "chunks", "paths",
                  "events")

NAMES_QUERY = f"""
query Names($id: ID!) {{ entity(id: $id) {{ {ENTITY_FIELDS} }} }}
"""

KPI_QUERY = f"""
query Kpis($first: Int!, $after: String) {{
  supplierKpis(first: $first, after: $after) {{
    columns totalCount pageInfo {{ hasNextPage endCursor }}
    edges {{ node {{ supplier {{ {ENTITY_FIELDS} }} values }} }}
  }}
}}
"""

RANK_SUPPLIERS_QUERY = f"""
query Rank($criteria: [CriterionInput!]!, $part: String, $category: String, $method: String!,
           $constraints: [ConstraintInput!], $ahp: [[Float!]!], $first: Int!, $rankingAfter: String,
           $excludedAfter: String, $tablesAfter: String) {{
  rankSuppliers(criteria: $criteria, part: $part, category: $category, method: $method, constraints: $constraints,
                ahp: $ahp) {{
    method higherIsBetter partIds warnings
    ranking(first: $first, after: $rankingAfter) {{
      pageInfo {{ hasNextPage endCursor }} edges {{ node {{ rank supplier {{ {ENTITY_FIELDS} }} score }} }} }}
    excluded(first: $first, after: $excludedAfter) {{
      pageInfo {{ hasNextPage endCursor }} edges {{ node {{ supplier {{ {ENTITY_FIELDS} }} reasons }} }} }}
    tables(first: $first, after: $tablesAfter) {{
      pageInfo {{ hasNextPage endCursor }} alternatives criteria directions weights decision normalized weighted
      ideal antiIdeal distances {{ name values }} scores }}
    ahp {{ weights lambdaMax consistencyIndex randomIndex consistencyRatio }}
  }}
}}
"""

DESIGN_CONSTRAINTS_QUERY = f"""
query Constraints($target: String!, $lang: String!, $first: Int!, $constraintsAfter: String) {{
  designConstraints(target: $target, lang: $lang) {{
    target {{ {ENTITY_FIELDS} }}
    constraints(first: $first, after: $constraintsAfter) {{
      pageInfo {{ hasNextPage endCursor }}
      edges {{ node {{ constraint kind label description severity appliesTo appliesToClass inheritedFrom via
                       document documentName rules(first: 1) {{ totalCount }} }} }} }}
  }}
}}
"""

CHECK_DESIGN_QUERY = """
query Check($design: DesignInput!, $lang: String!, $first: Int!, $violationsAfter: String) {
  checkDesign(design: $design, lang: $lang) {
    conforms violationCount warningCount dataTriples
    violations(first: $first, after: $violationsAfter) {
      pageInfo { hasNextPage endCursor }
      edges { node { focusNode path message severity sourceShape constraint value } } }
  }
}
"""

CLASSES_QUERY = """
query Classes($first: Int!, $after: String) {
  ontologyClasses(first: $first, after: $after) {
    pageInfo { hasNextPage endCursor }
    edges { node { iri nodeLabel parents deprecated en: label(lang: "en") zh: label(lang: "zh")
                   definitionEn: definition(lang: "en") definitionZh: definition(lang: "zh") } }
  }
}
"""

CHANGES_QUERY = """
query Changes($first: Int!, $after: String, $ontology: String) {
  ontologyChanges(first: $first, after: $after, ontology: $ontology) {
    pageInfo { hasNextPage endCursor }
    edges { node { version ontology author authorNote at operation arguments why nodes relationships
                   violations ontologyVersion } }
  }
}
"""

SIMILAR_QUERY = f"""
query Similar($entity: String!, $k: Int!) {{
  similar(entity: $entity) {{
    entity {{ {ENTITY_FIELDS} }} modelVersion
    neighbours(first: $k) {{ edges {{ node {{ entity {{ {ENTITY_FIELDS} }} score }} }} }}
  }}
}}
"""

ASK_QUERY = """
query Ask($question: String!, $lang: String, $first: Int!, $after: String) {
  ask(question: $question, lang: $lang) {
    question lang status tool arguments resolved text suggestions rows mappedBy
    citations(first: $first, after: $after) { pageInfo { hasNextPage endCursor } edges { node { id kind label } } }
  }
}
"""

# Lists the Query fields, so optional features (such as `similar`) can be detected.
QUERY_FIELD_CHECK = "query Fields { __type(name: \"Query\") { fields { name } } }"


@dataclass
class RootCauses:
    """A root-cause ranking as tables and a graph.

    `condition_source` says how the condition was found (query, event, window events or work
    orders) and `tied_conditions` lists the keys of failure modes exactly as frequent as the
    chosen one. `candidates` has one row per candidate: rank, id, label, class, score and one
    column per evidence source. `evidence` has one row per piece of evidence (candidate, kind, id).
    Its kind `predicted_work_order` marks work orders that a graph model predicts to record the
    condition, counted in `predicted_target_work_orders` and never in `target_work_orders`. `graph`
    contains the evidence paths, with node attributes `label`, `classes` and `role` and the edge
    attribute `type`.
    """

    asset: dict[str, Any] | None
    condition: dict[str, Any] | None
    target_work_orders: int
    sources: list[str]
    candidates: pd.DataFrame
    evidence: pd.DataFrame
    observed_events: pd.DataFrame
    graph: "nx.MultiDiGraph"
    condition_source: str | None = None
    tied_conditions: list[str] = field(default_factory=list)
    predicted_target_work_orders: int = 0


@dataclass
class SupplierRanking:
    """Every table of a supplier ranking, indexed by supplier key and criterion name."""

    method: str
    higher_is_better: bool
    ranking: pd.DataFrame
    decision: pd.DataFrame
    normalized: pd.DataFrame
    weighted: pd.DataFrame
    weights: pd.Series
    ideal: pd.Series
    anti_ideal: pd.Series
    distances: pd.DataFrame
    scores: pd.Series
    excluded: pd.DataFrame
    ahp: dict[str, Any] | None = None
    warnings: list[str] = field(default_factory=list)


@dataclass
class DesignCheck:
    """The outcome of a design check: pySHACL's verdict and one row per result."""

    conforms: bool
    violation_count: int
    warning_count: int
    violations: pd.DataFrame = field(default_factory=pd.DataFrame)


def _join_tables(pages: list[dict[str, Any]]) -> dict[str, Any]:
    """Join pages of supplier rows of the decision tables into the tables of every ranked supplier."""
    tables = dict(pages[0])
    for name in ("alternatives", "decision", "normalized", "weighted", "scores"):
        tables[name] = [row for page in pages for row in page[name]]
    tables["distances"] = [{"name": vector["name"],
                            "values": [value for page in pages for value in page["distances"][index]["values"]]}
                           for index, vector in enumerate(pages[0]["distances"])]
    return tables


def _date_text(value: str | date | None, name: str) -> str | None:
    """Return a date argument as ISO text. Text is passed on as it is, because the server validates it."""
    if isinstance(value, datetime) and value.tzinfo is not None:
        # The server reads an aware date-time in UTC, so midnight UTC is that date, as it is there.
        value = value.astimezone(timezone.utc).replace(tzinfo=None)
    if isinstance(value, datetime) and value.time() == time(0):
        # Midnight is the date itself, as pandas Timestamps of dates (the `date` column of
        # failure_history) are.
        return value.date().isoformat()
    if isinstance(value, datetime):
        raise QueryError(f"{name} must be a date (YYYY-MM-DD), got the date-time {value.isoformat()!r}. Work orders "
                         f"carry only a date, so pass one without a time, such as {value.date().isoformat()}")
    return value.isoformat() if isinstance(value, date) else value


def _moment_text(value: str | date | None) -> str | None:
    """Return a root-cause bound (a date or a date-time, pandas and numpy values included) as ISO text."""
    if value is None or isinstance(value, str):
        return value
    if hasattr(value, "to_pydatetime"):
        value = value.to_pydatetime()
    elif type(value).__name__ == "datetime64":
        import pandas as pd

        value = pd.Timestamp(value).to_pydatetime()
    if isinstance(value, (date, datetime)):
        return value.isoformat()
    raise QueryError(f"a time bound must be text, a date or a date-time, got {type(value).__name__} {value!r}")


def _check_lang(lang: Any) -> str:
    """Return the language ("en" or "zh") that `lang` names, as the server reads it, or raise QueryError.

    Case does not matter, and a tag with a region ("zh-CN", "en_US") names its language.
    """
    base = lang.strip().lower().replace("_", "-").split("-")[0] if isinstance(lang, str) else None
    if base not in LANGUAGES:
        raise QueryError(f"lang must be one of {', '.join(LANGUAGES)}, got {lang!r}; case does not matter, and a "
                         "tag with a region such as zh-CN names its language")
    return base


def _check_history_arguments(asset: Any, limit: Any, lang: Any) -> str:
    """Raise QueryError for a failure-history argument of the wrong type or out of range, before any request."""
    if not isinstance(asset, str) or not asset.strip():
        raise QueryError(f"asset must be an asset key or name as non-empty text, such as 'AC-3', got "
                         f"{type(asset).__name__} {asset!r}")
    # bool is a subclass of int, but limit=True is a mistake, not 1.
    if limit is not None and (isinstance(limit, bool) or not isinstance(limit, int)):
        raise QueryError(f"limit must be an integer of at least 1, or None for every work order, got "
                         f"{type(limit).__name__} {limit!r}")
    if limit is not None and limit < 1:
        raise QueryError(f"limit must be at least 1, or None for every work order, got {limit}")
    return _check_lang(lang)


def _label(entity: dict[str, Any] | None, lang: str = "en") -> str | None:
    if not entity:
        return None
    return entity.get(lang) or entity.get("en") or entity.get("id")


class _InProcess:
    """Run GraphQL documents on the service's schema in this process, on one GraphStore."""

    def __init__(self, store: "GraphStore", owns_store: bool) -> None:
        from kg_service.api.app import SchemaCache
        from kg_service.api.schema import build_schema

        self.store = store
        self.owns_store = owns_store
        # The client raises every request error, so the client's mistakes (unknown asset, bad argument)
        # are logged at DEBUG, which a notebook does not show under the cell. Unexpected errors still
        # reach the log at ERROR with their traceback.
        self.schema = build_schema(debug=True, client_error_level=logging.DEBUG)
        self.schema_cache = SchemaCache(store)

    def execute(self, document: str, variables: dict[str, Any]) -> dict[str, Any]:
        from kg_service.api.auth import Principal
        from kg_service.api.loaders import entity_loader

        async def run() -> Any:
            context = {"store": self.store, "schema_cache": self.schema_cache,
                       "principal": Principal("python-client", "analyst", True),
                       "entity_loader": entity_loader(self.store)}
            return await self.schema.execute(document, variable_values=variables, context_value=context)

        # A notebook kernel already runs an event loop, so the query gets its own loop in a thread.
        outcome: dict[str, Any] = {}

        def work() -> None:
            try:
                outcome["result"] = asyncio.run(run())
            except BaseException as error:  # noqa: BLE001 - re-raised in the calling thread below
                outcome["error"] = error

        worker = threading.Thread(target=work, daemon=True)
        worker.start()
        worker.join()
        if "error" in outcome:
            raise outcome["error"]
        result = outcome["result"]
        if result.errors:
            error = result.errors[0]
            original = error.original_error
            if isinstance(original, KGServiceError):
                raise original
            raise QueryError(f"query failed: {error.message}")
        return result.data

    def close(self) -> None:
        if self.owns_store:
            self.store.close()


def _camel_case(name: str) -> str:
    head, *rest = name.split("_")
    return head + "".join(word[:1].upper() + word[1:] for word in rest)


def _camel_case_keys(value: Any, path: str) -> Any:
    """Return `value` with the snake_case keys of its dicts, at any depth, in camelCase (GraphQL input names).

    Raises QueryError naming the dict at `path` when it has a key in both spellings.
    """
    if isinstance(value, list):
        return [_camel_case_keys(item, f"{path}[{index}]") for index, item in enumerate(value)]
    if not isinstance(value, dict):
        return value
    converted: dict[str, Any] = {}
    spellings: dict[Any, Any] = {}
    for key, item in value.items():
        name = _camel_case(key) if isinstance(key, str) else key
        if name in converted:
            raise QueryError(f"{path} has both {spellings[name]!r} and {key!r}, two spellings of one field; keep "
                             "one of them")
        spellings[name] = key
        converted[name] = _camel_case_keys(item, f"{path}.{name}")
    return converted


def _error_class(code: Any) -> type[KGServiceError] | None:
    """Return the kg-service error class named `code`, or None.

    The API's authentication and authorization errors are defined in kg_service.api.auth, not in
    kg_service.errors, so both modules are searched.
    """
    if not isinstance(code, str):
        return None
    from kg_service.api import auth

    for module in (errors_module, auth):
        kind = getattr(module, code, None)
        if isinstance(kind, type) and issubclass(kind, KGServiceError):
            return kind
    return None


def _error_from_response(error: dict[str, Any]) -> KGServiceError:
    """Return the kg-service error that a GraphQL error of the server stands for, as the in-process client raises it.

    The server puts the class name of a kg-service error in `extensions.code` (NotFoundError,
    AuthorizationError, QueryError, ...); any other error becomes a QueryError.
    """
    kind = _error_class((error.get("extensions") or {}).get("code"))
    if kind is not None:
        return kind(error["message"])
    return QueryError(f"query failed: {error['message']}")


class _Http:
    """Post GraphQL documents to a server."""

    def __init__(self, url: str, api_key: str | None, timeout_s: float) -> None:
        headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
        self.url = url
        self.http = httpx.Client(headers=headers, timeout=timeout_s)

    def execute(self, document: str, variables: dict[str, Any]) -> dict[str, Any]:
        try:
            response = self.http.post(self.url, json={"query": document, "variables": variables})
        except httpx.HTTPError as error:
            raise GraphStoreError(f"cannot reach the GraphQL API at {self.url}: {error}; start it with "
                                  "'kg-service serve' or pass the right url") from None
        if response.status_code == 401:
            from kg_service.api.auth import AuthenticationError

            raise AuthenticationError(f"the GraphQL API at {self.url} rejected the credential: "
                                      f"{response.text[:500]}")
        try:
            payload = response.json()
        except ValueError:
            raise GraphStoreError(f"the GraphQL API at {self.url} returned HTTP {response.status_code} without "
                                  f"JSON: {response.text[:200]!r}") from None
        if payload.get("errors"):
            raise _error_from_response(payload["errors"][0])
        return payload["data"]

    def close(self) -> None:
        self.http.close()


class KGClient:
    """Ask the knowledge graph the common questions and get DataFrames and networkx graphs back."""

    def __init__(self, url: str | None = None, api_key: str | None = None, *, store: "GraphStore | None" = None,
                 timeout_s: float = DEFAULT_TIMEOUT_S) -> None:
        """Connect to the GraphQL API at `url`, or run in-process on `store` when no url is given."""
        if (url is None) == (store is None):
            raise ConfigurationError("give either url (a GraphQL endpoint such as http://127.0.0.1:8000/graphql) "
                                     "or store, not both; KGClient.from_settings() opens a store for you")
        self.mode = "http" if url else "direct"
        self._transport = _Http(url, api_key, timeout_s) if url else _InProcess(store, owns_store=False)
        self._fields: set[str] | None = None

    @classmethod
    def from_settings(cls, settings: "Settings | None" = None) -> "KGClient":
        """Open the Neo4j of the settings (KG_* and NEO4J_* variables) and query it in-process."""
        from kg_service.config import get_settings
        from kg_service.graph.store import GraphStore

        store = GraphStore.from_settings(settings or get_settings())
        try:
            store.verify()
        except BaseException:
            # The caller gets no client to close, so the driver is closed here.
            store.close()
            raise
        client = cls(store=store)
        client._transport.owns_store = True
        return client

    def close(self) -> None:
        self._transport.close()

    def __enter__(self) -> "KGClient":
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def execute(self, document: str, **variables: Any) -> dict[str, Any]:
        """Run one of the GraphQL documents of this module (or your own) with variables; return `data`."""
        return self._transport.execute(document, variables)

    def _follow(self, document: str, field_name: str, lists: tuple[str, ...],
                **variables: Any) -> tuple[dict[str, Any], dict[str, list[Any]]]:
        """Run `document` until every connection in `lists` under `field_name` is read to its end.

        Each list takes its cursor from the variable `<list>After`. A list that is already complete
        gets its own end cursor again and so returns an empty page. A paged field without edges
        (the supplier tables) contributes each of its pages whole.
        """
        afters: dict[str, str | None] = {name: None for name in lists}
        nodes: dict[str, list[Any]] = {name: [] for name in lists}
        while True:
            result = self.execute(document, first=PAGE_SIZE, **variables,
                                  **{f"{name}After": after for name, after in afters.items()})[field_name]
            more = False
            for name in lists:
                page = result[name]
                if "edges" in page:
                    nodes[name].extend(edge["node"] for edge in page["edges"])
                else:
                    nodes[name].append(page)
                more = more or page["pageInfo"]["hasNextPage"]
                afters[name] = page["pageInfo"]["endCursor"] or afters[name]
            if not more:
                return result, nodes

    def _read_lists(self, document: str, connection_of: Callable[[dict[str, Any]], dict[str, Any]],
                    lists: tuple[str, ...], node: dict[str, Any], item_after: str | None,
                    variables: dict[str, Any]) -> dict[str, Any]:
        """Return `node` with each connection in `lists` read to its end and flattened into a list of nodes.

        While a list has more pages, the item is read again as the only item after `item_after` (the
        cursor of the item before it), with `$lists` items of each list after its `<list>After` cursor.
        `connection_of` returns the connection of the items from the response data.
        """
        values = {name: [edge["node"] for edge in node[name]["edges"]] for name in lists}
        pages = {name: node[name]["pageInfo"] for name in lists}
        while any(info["hasNextPage"] for info in pages.values()):
            cursors = {f"{name}After": pages[name]["endCursor"] for name in lists}
            edges = connection_of(self.execute(document, **variables, first=1, after=item_after,
                                               lists=LIST_FOLLOW_PAGE, **cursors))["edges"]
            if not edges or edges[0]["node"]["id"] != node["id"]:
                raise QueryError(f"the items changed while the lists of {node['id']} were read; run the query "
                                 "again")
            follow = edges[0]["node"]
            for name in lists:
                values[name].extend(edge["node"] for edge in follow[name]["edges"])
                end_cursor = follow[name]["pageInfo"]["endCursor"] or pages[name]["endCursor"]
                pages[name] = {"hasNextPage": follow[name]["pageInfo"]["hasNextPage"], "endCursor": end_cursor}
        return {**node, **values}

    def _pages(self, document: str, field_name: str, **variables: Any) -> Iterator[dict[str, Any]]:
        after = None
        while True:
            page = self.execute(document, first=PAGE_SIZE, after=after, **variables)[field_name]
            yield from (edge["node"] for edge in page["edges"])
            if not page["pageInfo"]["hasNextPage"]:
                return
            after = page["pageInfo"]["endCursor"]

    def has_field(self, name: str) -> bool:
        """Return whether the server's Query type has a field, such as `similar`."""
        if self._fields is None:
            self._fields = {item["name"] for item in self.execute(QUERY_FIELD_CHECK)["__type"]["fields"]}
        return name in self._fields

    # lookups

    def entity(self, key: str) -> dict[str, Any] | None:
        """Return the entity with this key (id, classes, en, zh, properties), or None."""
        return self.execute(ENTITY_QUERY, id=key)["entity"]

    def search(self, text: str, lang: str = "en", of_class: str | None = None, limit: int = 50) -> pd.DataFrame:
        """Return entities whose name in any language contains `text`, ignoring case: id, classes, en, zh.

        `lang` ("en" or "zh", any case) is passed on to the server, where it picks the label language.
        """
        lang = _check_lang(lang)
        nodes = self.execute(SEARCH_QUERY, text=text, lang=lang, ofClass=of_class, first=min(limit, PAGE_SIZE),
                             after=None)["entities"]["edges"]
        return pd.DataFrame([{"id": edge["node"]["id"], "classes": edge["node"]["classes"], "en": edge["node"]["en"],
                              "zh": edge["node"]["zh"]} for edge in nodes], columns=["id", "classes", "en", "zh"])

    def failure_history(self, asset: str, failures_only: bool = False, limit: int | None = None,
                        lang: str = "en", since: str | date | None = None,
                        until: str | date | None = None) -> pd.DataFrame:
        """Return the asset's work orders, newest first, with names in `lang`.

        `since` and `until` (inclusive dates: "2024-05-01" or a `datetime.date`) keep the work orders dated
        within them. A date-time raises QueryError, because work orders carry only a date. So do an
        `asset` that is not text, a `limit` below 1 and a `lang` other than "en" or "zh".
        """
        lang = _check_history_arguments(asset, limit, lang)
        rows = []
        for node in self._work_orders(asset, failures_only, _date_text(since, "since"), _date_text(until, "until")):
            rows.append({"id": node["id"], "date": pd.to_datetime(node["date"]), "order_type": node["orderType"],
                         "failure_modes": ", ".join(_label(item, lang) for item in node["failureModes"]),
                         "symptoms": ", ".join(_label(item, lang) for item in node["symptoms"]),
                         "systems": ", ".join(_label(item, lang) for item in node["systems"]),
                         "parts": ", ".join(_label(item, lang) for item in node["parts"]),
                         "actions": ", ".join(_label(item, lang) for item in node["actions"]),
                         "cost": node["cost"], "text": node["text"]})
            if limit is not None and len(rows) >= limit:
                break
        return pd.DataFrame(rows, columns=["id", "date", "order_type", "failure_modes", "symptoms", "systems",
                                           "parts", "actions", "cost", "text"])

    def _work_orders(self, asset: str, failures_only: bool, since: str | None = None,
                     until: str | None = None) -> Iterator[dict[str, Any]]:
        """Yield the asset's work orders, newest first, each with its entity lists read in full."""
        variables = {"asset": asset, "failuresOnly": failures_only, "since": since, "until": until}
        no_cursors = {f"{name}After": None for name in WORK_ORDER_LISTS}

        def history(data: dict[str, Any]) -> dict[str, Any]:
            return data["failureHistory"]

        after = None
        while True:
            page = self.execute(HISTORY_QUERY, **variables, first=HISTORY_PAGE, after=after,
                                lists=WORK_ORDER_LIST_PAGE, **no_cursors)["failureHistory"]
            for edge in page["edges"]:
                yield self._read_lists(HISTORY_QUERY, history, WORK_ORDER_LISTS, edge["node"], after, variables)
                after = edge["cursor"]
            if not page["pageInfo"]["hasNextPage"]:
                return

    # root causes

    def root_causes(self, asset: str | None = None, failure_mode: str | None = None, symptom: str | None = None,
                    event: str | None = None, events: list[str] | None = None, since: str | date | None = None,
                    until: str | date | None = None, window_days: int = 30, limit: int = 10,
                    lang: str = "en") -> RootCauses:
        """Rank the causes of a failure mode, symptom or events (alarms, anomalies, failures); see `RootCauses`.

        `since` and `until` take ISO text, dates and date-times (also pandas Timestamps): they bound
        work-order dates and event start times.
        """
        if not 1 <= limit <= MAX_CANDIDATES:
            raise QueryError(f"limit must be between 1 and {MAX_CANDIDATES}, got {limit}")
        lang = _check_lang(lang)
        arguments = {"asset": asset, "failureMode": failure_mode, "symptom": symptom, "event": event,
                     "events": events, "since": _moment_text(since), "until": _moment_text(until),
                     "windowDays": window_days}
        result = self._root_causes(arguments, limit)
        rows, evidence = [], []
        for rank, item in enumerate(result["candidates"], start=1):
            entity = item["entity"]
            rows.append({"rank": rank, "id": entity["id"], "label": _label(entity, lang), "class": entity["classes"][0],
                         "score": item["score"], **{part["source"]: part["value"] for part in item["breakdown"]},
                         "work_orders": len(item["evidenceWorkOrders"])})
            for kind, keys in (("work_order", item["evidenceWorkOrders"]),
                               ("preceding_work_order", item["precedingWorkOrders"]),
                               ("predicted_work_order", item["predictedWorkOrders"]),
                               ("document", item["documents"]), ("chunk", item["chunks"]),
                               ("event", [event["id"] for event in item["events"]])):
                evidence.extend({"candidate": entity["id"], "kind": kind, "id": key} for key in keys)
        candidates = pd.DataFrame(rows)
        if not candidates.empty:
            candidates = candidates.fillna({source: 0.0 for source in result["sources"]})
        observed = pd.DataFrame(result["observedEvents"], columns=["id", "classes", "startTime", "signals"])
        graph = self._evidence_graph(result, lang)
        return RootCauses(asset=result["asset"], condition=result["condition"],
                          target_work_orders=result["targetWorkOrders"],
                          predicted_target_work_orders=result["predictedTargetWorkOrders"], sources=result["sources"],
                          candidates=candidates, evidence=pd.DataFrame(evidence, columns=["candidate", "kind", "id"]),
                          observed_events=observed, graph=graph, condition_source=result["conditionSource"],
                          tied_conditions=result["tiedConditions"])

    def _root_causes(self, arguments: dict[str, Any], limit: int) -> dict[str, Any]:
        """Return the rootCauses result with the best `limit` candidates and every item of their evidence lists.

        The lists come back as plain lists under their field names, as an unpaged result would have them.
        """
        no_cursors = {f"{name}After": None for name in EVIDENCE_LISTS}
        candidates: list[dict[str, Any]] = []
        after = None
        while True:
            page_size = min(CANDIDATE_PAGE, limit - len(candidates))
            result = self.execute(ROOT_CAUSES_QUERY, **arguments, first=page_size, after=after,
                                  evidence=EVIDENCE_PAGE, lists=SIGNAL_PAGE, signalsAfter=None,
                                  **no_cursors)["rootCauses"]
            page = result["candidates"]
            for edge in page["edges"]:
                candidates.append(self._candidate_evidence(arguments, edge["node"], after))
                after = edge["cursor"]
            if not page["pageInfo"]["hasNextPage"] or len(candidates) >= limit:
                break
        result["candidates"] = candidates
        result["observedEvents"] = self._observed_events(arguments, result["observedEvents"])
        return result

    def _observed_events(self, arguments: dict[str, Any], page: dict[str, Any]) -> list[dict[str, Any]]:
        """Return the observed events of a ranking with their signal keys as plain lists."""

        def observed(data: dict[str, Any]) -> dict[str, Any]:
            return data["rootCauses"]["observedEvents"]

        events, after = [], None
        for edge in page["edges"]:
            events.append(self._read_lists(OBSERVED_EVENTS_QUERY, observed, ("signals",), edge["node"], after,
                                           arguments))
            after = edge["cursor"]
        # NOTE: rootCauses returns at most 100 observed events, so the first page of 100 contains them all.
        return events

    def _candidate_evidence(self, arguments: dict[str, Any], node: dict[str, Any],
                            candidate_after: str | None) -> dict[str, Any]:
        """Flatten a candidate's evidence connections into lists, reading the pages that the first request left."""
        lists = {name: [edge["node"] for edge in node[name]["edges"]] for name in EVIDENCE_LISTS}
        pages = {name: node[name]["pageInfo"] for name in EVIDENCE_LISTS}
        while any(info["hasNextPage"] for info in pages.values()):
            cursors = {f"{name}After": pages[name]["endCursor"] for name in EVIDENCE_LISTS}
            edges = self.execute(CANDIDATE_EVIDENCE_QUERY, **arguments, candidateAfter=candidate_after,
                                 evidence=EVIDENCE_FOLLOW_PAGE, **cursors)["rootCauses"]["candidates"]["edges"]
            if not edges or edges[0]["node"]["entity"]["id"] != node["entity"]["id"]:
                raise QueryError(f"the ranking changed while its evidence was read (candidate "
                                 f"{node['entity']['id']}); run the query again")
            follow = edges[0]["node"]
            for name in EVIDENCE_LISTS:
                lists[name].extend(edge["node"] for edge in follow[name]["edges"])
                end_cursor = follow[name]["pageInfo"]["endCursor"] or pages[name]["endCursor"]
                pages[name] = {"hasNextPage": follow[name]["pageInfo"]["hasNextPage"], "endCursor": end_cursor}
        return {**node, **lists}

    def _evidence_graph(self, result: dict[str, Any], lang: str) -> "nx.MultiDiGraph":
        import networkx as nx

        graph = nx.MultiDiGraph()
        known: dict[str, dict[str, Any]] = {}
        for entity in filter(None, [result["asset"], result["condition"]]):
            known[entity["id"]] = entity
        for item in result["candidates"]:
            known[item["entity"]["id"]] = item["entity"]
            graph.add_node(item["entity"]["id"], role="candidate", score=item["score"])
            for path in item["paths"]:
                for start, end, kind in zip(path["nodes"], path["nodes"][1:], path["relationships"]):
                    if not graph.has_edge(start, end, key=kind):
                        graph.add_edge(start, end, key=kind, type=kind)
        for entity in filter(None, [result["asset"], result["condition"]]):
            graph.add_node(entity["id"], role="asset" if entity is result["asset"] else "condition")
        for key in graph.nodes:
            entity = known.get(key) or self.execute(NAMES_QUERY, id=key)["entity"] or {"id": key, "classes": []}
            known[key] = entity
            graph.nodes[key]["label"] = _label(entity, lang)
            graph.nodes[key]["classes"] = entity.get("classes", [])
            graph.nodes[key].setdefault("role", "evidence")
        return graph

    # suppliers

    def supplier_kpis(self) -> pd.DataFrame:
        """Return the supplier KPI table, one row per supplier key, with `name` and one column per KPI."""
        rows, columns = [], None
        after = None
        while True:
            page = self.execute(KPI_QUERY, first=PAGE_SIZE, after=after)["supplierKpis"]
            columns = page["columns"]
            for edge in page["edges"]:
                node = edge["node"]
                rows.append({"supplier": node["supplier"]["id"], "name": _label(node["supplier"]),
                             **dict(zip(columns, node["values"]))})
            if not page["pageInfo"]["hasNextPage"]:
                break
            after = page["pageInfo"]["endCursor"]
        return pd.DataFrame(rows, columns=["supplier", "name", *(columns or [])]).set_index("supplier")

    def rank_suppliers(self, criteria: dict[str, float] | list[dict[str, Any]], method: str = "TOPSIS",
                       part: str | None = None, category: str | None = None,
                       constraints: list[dict[str, Any]] | None = None,
                       ahp: list[list[float]] | None = None) -> SupplierRanking:
        """Rank suppliers; `criteria` maps KPI names to weights, or lists {name, weight, direction} items.

        `constraints` items are {criterion, min, max}. With `ahp`, a pairwise comparison matrix
        in criteria order gives the weights.
        """
        items = ([{"name": name, "weight": weight} for name, weight in criteria.items()]
                 if isinstance(criteria, dict) else criteria)
        result, lists = self._follow(RANK_SUPPLIERS_QUERY, "rankSuppliers", ("ranking", "excluded", "tables"),
                                     criteria=items, part=part, category=category, method=method,
                                     constraints=constraints, ahp=ahp)
        tables = _join_tables(lists["tables"])
        rows, names = tables["alternatives"], tables["criteria"]

        def matrix(values: list[list[float]]) -> pd.DataFrame:
            return pd.DataFrame(values, index=pd.Index(rows, name="supplier"), columns=names)

        ranking = pd.DataFrame([{"rank": item["rank"], "supplier": item["supplier"]["id"],
                                 "name": _label(item["supplier"]), "score": item["score"]}
                                for item in lists["ranking"]])
        excluded = pd.DataFrame([{"supplier": item["supplier"]["id"], "name": _label(item["supplier"]),
                                  "reasons": "; ".join(item["reasons"])} for item in lists["excluded"]],
                                columns=["supplier", "name", "reasons"])
        return SupplierRanking(
            method=result["method"], higher_is_better=result["higherIsBetter"], ranking=ranking,
            decision=matrix(tables["decision"]), normalized=matrix(tables["normalized"]),
            weighted=matrix(tables["weighted"]), weights=pd.Series(tables["weights"], index=names, name="weight"),
            ideal=pd.Series(tables["ideal"], index=names, name="ideal"),
            anti_ideal=pd.Series(tables["antiIdeal"], index=names, name="anti_ideal"),
            distances=pd.DataFrame({item["name"]: item["values"] for item in tables["distances"]},
                                   index=pd.Index(rows, name="supplier")),
            scores=pd.Series(tables["scores"], index=pd.Index(rows, name="supplier"), name="score"),
            excluded=excluded, ahp=result["ahp"], warnings=result["warnings"])

    # design

    def design_constraints(self, target: str, lang: str = "en") -> pd.DataFrame:
        """Return the constraints on a product, design, part or component and its bill of materials."""
        _, lists = self._follow(DESIGN_CONSTRAINTS_QUERY, "designConstraints", ("constraints",), target=target,
                                lang=lang)
        return pd.DataFrame([{"constraint": item["constraint"], "kind": item["kind"], "label": item["label"],
                              "applies_to": item["appliesTo"], "inherited_from": item["inheritedFrom"],
                              "severity": item["severity"], "document": item["document"],
                              "rules": item["rules"]["totalCount"]} for item in lists["constraints"]],
                            columns=["constraint", "kind", "label", "applies_to", "inherited_from", "severity",
                                     "document", "rules"])

    def check_design(self, design: dict[str, Any], lang: str = "en") -> DesignCheck:
        """Validate a proposed design with pySHACL.

        `design` has the DesignInput fields, in camelCase (`ratedLoad`) or in the snake_case of the
        CLI's design file (`rated_load`).
        """
        result, lists = self._follow(CHECK_DESIGN_QUERY, "checkDesign", ("violations",),
                                     design=_camel_case_keys(design, "design"), lang=lang)
        return DesignCheck(conforms=result["conforms"], violation_count=result["violationCount"],
                           warning_count=result["warningCount"], violations=pd.DataFrame(lists["violations"]))

    # ontology

    def ontology_classes(self) -> pd.DataFrame:
        """Return every class with its node label, parents and labels and definitions in English and Chinese."""
        rows = [{"node_label": node["nodeLabel"], "label_en": node["en"], "label_zh": node["zh"],
                 "parents": node["parents"], "deprecated": node["deprecated"], "definition_en": node["definitionEn"],
                 "definition_zh": node["definitionZh"], "iri": node["iri"]}
                for node in self._pages(CLASSES_QUERY, "ontologyClasses")]
        return pd.DataFrame(rows, columns=["node_label", "label_en", "label_zh", "parents", "deprecated",
                                           "definition_en", "definition_zh", "iri"])

    def class_hierarchy(self) -> "nx.DiGraph":
        """Return the class hierarchy as a directed graph, edges from subclass to superclass."""
        import networkx as nx

        classes = self.ontology_classes()
        graph = nx.DiGraph()
        for row in classes.itertuples():
            graph.add_node(row.node_label, label_en=row.label_en, label_zh=row.label_zh, iri=row.iri)
            for parent in row.parents:
                graph.add_edge(row.node_label, parent)
        return graph

    def ontology_changes(self, ontology: str | None = None) -> pd.DataFrame:
        """Return the change log of an ontology (default the core one), oldest first."""
        rows = list(self._pages(CHANGES_QUERY, "ontologyChanges", ontology=ontology))
        frame = pd.DataFrame(rows, columns=["version", "ontology", "author", "authorNote", "at", "operation",
                                            "arguments", "why", "nodes", "relationships", "violations",
                                            "ontologyVersion"])
        frame["at"] = pd.to_datetime(frame["at"])
        return frame

    # embeddings and questions

    def similar(self, entity: str, k: int = 10) -> pd.DataFrame:
        """Return the `k` entities nearest to `entity` (key or name) by GNN embedding, closest first."""
        if not self.has_field("similar"):
            raise QueryError("this server has no 'similar' query; train embeddings with 'kg-service embed' on a "
                             "version that has it")
        result = self.execute(SIMILAR_QUERY, entity=entity, k=k)["similar"]
        return pd.DataFrame([{"id": row["entity"]["id"], "label": _label(row["entity"]),
                              "class": row["entity"]["classes"][0], "score": row["score"]}
                             for row in (edge["node"] for edge in result["neighbours"]["edges"])],
                            columns=["id", "label", "class", "score"])

    def ask(self, question: str, lang: str | None = None) -> dict[str, Any]:
        """Answer a question in English or Chinese; returns text, tool, arguments, citations and rows.

        `citations` is a plain list of {id, kind, label}. When an answer cites more than one page of
        200, the question is answered again for each further page.
        """
        answer = self.execute(ASK_QUERY, question=question, lang=lang, first=PAGE_SIZE, after=None)["ask"]
        page = answer["citations"]
        citations = [edge["node"] for edge in page["edges"]]
        while page["pageInfo"]["hasNextPage"]:
            page = self.execute(ASK_QUERY, question=question, lang=lang, first=PAGE_SIZE,
                                after=page["pageInfo"]["endCursor"])["ask"]["citations"]
            citations.extend(edge["node"] for edge in page["edges"])
        return {**answer, "citations": citations}
