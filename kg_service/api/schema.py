"""The GraphQL schema: lookups, failure history, ontology and root-cause queries.

Resolvers call the reasoning functions in a worker thread, because the Neo4j driver used
here is synchronous. Every argument reaches Cypher as a parameter; a class name given by a
client is checked against the ontology allowlist first.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

import strawberry
from graphql import GraphQLError
from strawberry.execution.is_awaitable import optimized_is_awaitable
from strawberry.extensions import (AddValidationRules, MaskErrors, MaxTokensLimiter, ParserCache,
                                   ValidationCache)
from strawberry.schema.schema import DEFAULT_ALLOWED_OPERATION_TYPES, execution_context_class_kwargs
from strawberry.tools import merge_types
from strawberry.types import ExecutionResult, Info

from kg_service.api.types import (Entity, EntityConnection, EntityEdge, EvidencePath, ObservedEvent, OntologyClass,
                                  OntologyClassConnection, OntologyClassEdge, OntologyProperty,
                                  OntologyPropertyConnection, OntologyPropertyEdge, RootCauseCandidate,
                                  RootCauseResult, ScoreComponent, TelemetryEvidence, WorkOrder, WorkOrderConnection,
                                  WorkOrderEdge)
from kg_service.api import features
from kg_service.api.context import read, request_schema_async, request_store
from kg_service.api.error_codes import INTERNAL_CODE, set_code, set_missing_code
from kg_service.api.execution import executor_for
from kg_service.api.limits import Cost, QueryCostLimiter, query_limit_extensions
from kg_service.api.paging import (PageInfo, check_first, decode_key_cursor, encode_key_cursor, fingerprint,
                                   keyset_page_info)
from kg_service.api.prepared import PreparedOperations, RecordPreparedOperation
from kg_service.errors import GraphUnavailableError, KGServiceError, QueryError
from kg_service.ontology.suggestions import check_class_name
from kg_service.reasoning import lookup
from kg_service.reasoning.rootcause import ASSET_CLASSES, MAX_CANDIDATES, RootCauseQuery, rank_causes

logger = logging.getLogger(__name__)

MAX_SEARCH_TEXT = 200

# The schema methods of strawberry 0.341 that the prepared path calls.
STRAWBERRY_INTERNALS = ("_get_execute_function", "_get_custom_context_kwargs", "_create_execution_context",
                        "_process_errors")

# The extensions whose work the prepared path replaces. They are the checks of a document that passed
# once (depth, alias and token limits, the two caches), the cost budget and error masking.
PREPARED_PATH_EXTENSIONS = (AddValidationRules, MaxTokensLimiter, ParserCache, ValidationCache, QueryCostLimiter,
                            MaskErrors, RecordPreparedOperation)

# The total counts every match, so it is the same on every page; the rows are one page after the cursor.
# The text matches the source, English and Chinese names alike, ignoring case; `lang` picks only the label.
ENTITY_SEARCH_QUERY = """
WITH toLower($text) AS needle
MATCH (n:Entity)
WHERE ($class IS NULL OR $class IN labels(n))
  AND (toLower(coalesce(n.name, '')) CONTAINS needle OR toLower(coalesce(n.nameEn, '')) CONTAINS needle
       OR toLower(coalesce(n.nameZh, '')) CONTAINS needle)
WITH n ORDER BY n.id
WITH collect(n) AS found
WITH size(found) AS total, [n IN found WHERE $after IS NULL OR n.id > $after] AS rest
RETURN total, size(rest) AS remaining,
       [n IN rest[0..$first] | {id: n.id, labels: labels(n), props: properties(n)}] AS page
"""


# Ontology terms page by the key (node label, or kind and name) and the IRI, which is unique.
ONTOLOGY_CLASS_QUERY = """
MATCH (c:OntologyClass)
OPTIONAL MATCH (c)-[:SUBCLASS_OF]->(p:OntologyClass)
WITH c, coalesce(c.nodeLabel, '') AS key, collect(DISTINCT p.nodeLabel) AS parents
ORDER BY key, c.iri
WITH collect({key: key, iri: c.iri, deprecated: c.deprecated, props: properties(c), parents: parents}) AS found
WITH size(found) AS total,
     [x IN found WHERE $after IS NULL OR x.key > $after[0] OR (x.key = $after[0] AND x.iri > $after[1])] AS rest
RETURN total, size(rest) AS remaining, rest[0..$first] AS page
"""

ONTOLOGY_PROPERTY_QUERY = """
MATCH (p:OntologyProperty)
OPTIONAL MATCH (p)-[:DOMAIN]->(d:OntologyClass)
OPTIONAL MATCH (p)-[:RANGE]->(r:OntologyClass)
WITH p, head(collect(d.nodeLabel)) AS domain, head(collect(r.nodeLabel)) AS rangeLabel,
     coalesce(p.relationshipType, p.propertyName, '') AS name
WITH p, domain, rangeLabel, name, coalesce(p.kind, '') + ':' + name AS key
ORDER BY key, p.iri
WITH collect({key: key, iri: p.iri, kind: p.kind, name: name, domain: domain,
              range: coalesce(rangeLabel, p.datatype), props: properties(p)}) AS found
WITH size(found) AS total,
     [x IN found WHERE $after IS NULL OR x.key > $after[0] OR (x.key = $after[0] AND x.iri > $after[1])] AS rest
RETURN total, size(rest) AS remaining, rest[0..$first] AS page
"""


_store = request_store


def _entities(items: list[dict[str, Any]], label: str) -> list[Entity]:
    # The same entities as Entity.from_row(item["id"], [label], item), without its sort of a one-label list.
    return [Entity(id=strawberry.ID(item["id"]), classes=[label], props=item) for item in items if item]


def _work_order(row: dict[str, Any]) -> WorkOrder:
    props = row["props"]
    date = props.get("date")
    return WorkOrder(id=strawberry.ID(row["id"]), date=date.iso_format() if date else None, text=props.get("text"),
                     order_type=props.get("orderType"), cost=props.get("cost"), running_hours=props.get("runningHours"),
                     failure_mode_items=_entities(row["failureModes"], "FailureMode"),
                     part_items=_entities(row["parts"], "Component"),
                     system_items=_entities(row["systems"], "System"),
                     action_items=_entities(row["actions"], "MaintenanceAction"),
                     symptom_items=_entities(row["symptoms"], "Symptom"))


async def _term_page(info: Info, query: str, first: int, after: str | None,
                     field: str) -> tuple[list[dict[str, Any]], int, bool, str | None]:
    """Return one keyset page of ontology terms: rows, total count, whether more follow, end cursor."""
    check_first(first, field)
    position = decode_key_cursor(after, fingerprint(field, {}), field, (str, str))
    result = (await read(info, query, {"first": first, "after": position}))[0]
    rows = result["page"]
    end_cursor = _term_cursor(field, rows[-1]) if rows else None
    return rows, result["total"], result["remaining"] > len(rows), end_cursor


def _term_cursor(field: str, row: dict[str, Any]) -> str:
    """Return the keyset cursor of an ontology term in the list `field`; the lists take no arguments."""
    return encode_key_cursor(fingerprint(field, {}), [row["key"], row["iri"]])


@strawberry.type
class CoreQuery:
    @strawberry.field(description="The entity with this key, or null")
    async def entity(self, info: Info, id: strawberry.ID) -> Entity | None:
        row = await info.context["entity_loader"].load(str(id))
        if row is None:
            return None
        schema = await request_schema_async(info)
        return Entity.from_row(row["id"], row["labels"], row["props"], schema)

    @strawberry.field(description="The work order with this key and what it recorded, or null; its lists page "
                                  "on their own here, without the other work orders of a history page")
    async def work_order(self, info: Info, id: strawberry.ID) -> WorkOrder | None:
        rows = await read(info, lookup.WORK_ORDER_QUERY, {"id": str(id)})
        return _work_order(rows[0]) if rows else None

    @strawberry.field(description="Entities whose name in any language (source, English or Chinese name) contains "
                                  "`text`, ignoring case, optionally of one class, in key order. `lang` chooses "
                                  "the language of the returned labels only")
    async def entities(self, info: Info, text: str, lang: str = "en", of_class: str | None = None, first: int = 20,
                       after: str | None = None) -> EntityConnection:
        lang = lookup.check_language(lang)
        check_first(first, "entities")
        if not text.strip():
            raise QueryError("text of entities must not be empty or blank; pass part of a name")
        if len(text) > MAX_SEARCH_TEXT:
            raise QueryError(f"text of entities is {len(text)} characters long; search with at most "
                             f"{MAX_SEARCH_TEXT}")
        schema = await request_schema_async(info)
        if of_class is not None:
            check_class_name(schema, of_class, "ofClass")
        # `lang` is left out of the scope, because it changes the labels but not the list.
        scope = fingerprint("entities", {"text": text, "ofClass": of_class})
        position = decode_key_cursor(after, scope, "entities", (str,))
        result = (await read(info, ENTITY_SEARCH_QUERY, {
            "class": of_class, "text": text, "first": first,
            "after": position[0] if position else None}))[0]
        rows = result["page"]
        edges = [EntityEdge(cursor=encode_key_cursor(scope, [row["id"]]),
                            node=Entity.from_row(row["id"], row["labels"], row["props"], schema, lang))
                 for row in rows]
        total = result["total"]
        has_next = result["remaining"] > len(rows)
        return EntityConnection(total_count=total, edges=edges,
                                page_info=keyset_page_info(edges, has_next, after))

    @strawberry.field(description="Work orders of an asset and of everything part of it, newest first; `since` and "
                                  "`until` (inclusive ISO dates) keep those dated within them")
    async def failure_history(self, info: Info, asset: str, first: int = 20, after: str | None = None,
                              failures_only: bool = False, since: str | None = None,
                              until: str | None = None) -> WorkOrderConnection:
        check_first(first, "failureHistory")
        params = lookup.asset_history_params(asset, ASSET_CLASSES, first, after, failures_only, since, until)
        page = lookup.asset_history_page((await read(info, lookup.ASSET_HISTORY_QUERY, params))[0], asset,
                                         ASSET_CLASSES)
        edges = [WorkOrderEdge(node=_work_order(row), row=row, scope=page.scope) for row in page.rows]
        start_cursor = lookup.history_cursor(page.rows[0], page.scope) if page.rows else None
        return WorkOrderConnection(total_count=page.total, edges=edges,
                                   page_info=PageInfo(has_next_page=page.has_next, end_cursor=page.end_cursor,
                                                      has_previous_page=after is not None,
                                                      start_cursor=start_cursor))

    @strawberry.field(description="Classes of every loaded ontology, ordered by node label")
    async def ontology_classes(self, info: Info, first: int = 100, after: str | None = None) -> OntologyClassConnection:
        rows, total, has_next, end_cursor = await _term_page(info, ONTOLOGY_CLASS_QUERY, first, after,
                                                             "ontologyClasses")
        edges = [OntologyClassEdge(cursor=_term_cursor("ontologyClasses", row), node=OntologyClass(
            iri=row["iri"], node_label=row["key"], parents=sorted(row["parents"]), deprecated=bool(row["deprecated"]),
            texts=row["props"])) for row in rows]
        return OntologyClassConnection(total_count=total, edges=edges,
                                       page_info=keyset_page_info(edges, has_next, after))

    @strawberry.field(description="Object and datatype properties of every loaded ontology, ordered by kind and name")
    async def ontology_properties(self, info: Info, first: int = 100,
                                  after: str | None = None) -> OntologyPropertyConnection:
        rows, total, has_next, end_cursor = await _term_page(info, ONTOLOGY_PROPERTY_QUERY, first, after,
                                                             "ontologyProperties")
        edges = [OntologyPropertyEdge(cursor=_term_cursor("ontologyProperties", row), node=OntologyProperty(
            iri=row["iri"], kind=row["kind"], name=row["name"], domain=row["domain"], range=row["range"],
            texts=row["props"])) for row in rows]
        return OntologyPropertyConnection(total_count=total, edges=edges,
                                          page_info=keyset_page_info(edges, has_next, after))

    @strawberry.field(description="Candidate causes ranked for an asset (with a time window), a failure event, "
                                  "an alarm or anomaly event, a failure mode or a symptom. Each candidate has its "
                                  "score by source (work-order history, causal edges, text, predicted links) and "
                                  "its evidence: paths, work orders, documents, chunks and telemetry events",
                      directives=[Cost(weight=100)])
    async def root_causes(self, info: Info, asset: str | None = None, failure_mode: str | None = None,
                          symptom: str | None = None, event: str | None = None, events: list[str] | None = None,
                          since: str | None = None, until: str | None = None, window_days: int = 30,
                          lookback_minutes: int = 60, use_anomalies: bool = True) -> RootCauseResult:
        # The whole ranking is computed on every request and `candidates` pages over it, so a page's
        # ranks and scores are those of an unpaged ranking. The arguments scope the cursors.
        query = RootCauseQuery(asset=asset, failure_mode=failure_mode, symptom=symptom, event=event,
                               events=list(events or []), since=since, until=until, window_days=window_days,
                               lookback_minutes=lookback_minutes, limit=MAX_CANDIDATES, use_anomalies=use_anomalies)
        scope = {"asset": asset, "failureMode": failure_mode, "symptom": symptom, "event": event,
                 "events": query.events, "since": since, "until": until, "windowDays": window_days,
                 "lookbackMinutes": lookback_minutes, "useAnomalies": use_anomalies}
        result = await asyncio.to_thread(rank_causes, _store(info), query)
        schema = await request_schema_async(info)

        def entity(row: dict[str, Any] | None) -> Entity | None:
            return Entity.from_row(row["id"], row["labels"], row["props"], schema) if row else None

        candidates = [RootCauseCandidate(
            entity=Entity.from_row(item.id, item.classes, item.properties, schema), score=item.score,
            breakdown=[ScoreComponent(source=part.source, value=part.value) for part in item.breakdown],
            scope=scope, work_order_keys=item.work_orders, preceding_keys=item.preceding_work_orders,
            predicted_keys=item.predicted_work_orders,
            path_items=[EvidencePath(nodes=path.nodes, relationships=path.relationships) for path in item.paths],
            document_keys=item.documents, chunk_keys=item.chunks,
            event_items=[TelemetryEvidence(id=event.id, classes=event.classes, start_time=_iso(event.start_time),
                                           seconds_before_observed=event.seconds_before_observed)
                         for event in item.events])
            for item in result.candidates]
        observed = [ObservedEvent(id=item.id, classes=item.classes, start_time=_iso(item.start_time),
                                  signal_keys=item.signals) for item in result.observed_events]
        return RootCauseResult(asset=entity(result.asset), condition=entity(result.condition),
                               condition_source=result.condition_source, tied_conditions=result.tied_conditions,
                               target_work_orders=len(result.target_work_orders),
                               predicted_target_work_orders=len(result.predicted_target_work_orders),
                               sources=result.sources,
                               scope=scope, ranked=candidates, observed=observed)


def _iso(value: Any) -> str | None:
    """Return a Python or Neo4j date-time as ISO 8601 text."""
    if value is None:
        return None
    return value.iso_format() if hasattr(value, "iso_format") else value.isoformat()


# Errors whose messages are safe to show and describe the client's mistake. A GraphQLError original
# comes from graphql-core coercing a variable (200.5 or "200" for an Int), or from a resolver that
# raised one on purpose.
CLIENT_ERRORS = (KGServiceError, GraphQLError)


UNAVAILABLE_MESSAGE = "the graph database is not reachable; try again shortly (the server log names the cause)"


def _should_mask(error: GraphQLError) -> bool:
    """Mask unexpected errors; errors of kg-service and GraphQL validation carry safe, useful messages.

    An unreachable Neo4j is masked too, because its message names the server's address.
    """
    original = error.original_error
    if isinstance(original, GraphUnavailableError):
        return True
    return original is not None and not isinstance(original, CLIENT_ERRORS)


class MaskInternalErrors(MaskErrors):
    """strawberry's MaskErrors, with a message of its own for an unreachable Neo4j.

    Usage::

        strawberry.Schema(query=Query, extensions=[lambda: MaskInternalErrors(should_mask_error=_should_mask)])
    """

    def anonymise_error(self, error: GraphQLError) -> GraphQLError:
        masked = super().anonymise_error(error)
        if not isinstance(error.original_error, GraphUnavailableError):
            set_code(masked, INTERNAL_CODE)
            return masked
        # This code means "retry later". The other codes mean that the request must change.
        return GraphQLError(UNAVAILABLE_MESSAGE, nodes=masked.nodes, source=masked.source,
                            positions=masked.positions, path=masked.path,
                            extensions={"code": "GraphUnavailableError"})


class KGSchema(strawberry.Schema):
    """strawberry's schema with quieter error logging and prepared operations.

    A request error that kg-service raised on purpose (unknown asset, bad argument) is the
    client's mistake: it is logged as one line at `client_error_level` (WARNING by default, so
    the server log records it). Anything else is logged at ERROR with its traceback, as
    strawberry does.

    With `prepared`, a query text that passed the standard path once runs straight to the
    executor (see `kg_service.api.prepared`). The schema turns that off when it has an
    extension that the prepared path does not replace, or directives.
    """

    def __init__(self, *args: Any, prepared: PreparedOperations | None = None,
                 client_error_level: int = logging.WARNING, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.client_error_level = client_error_level
        self.prepared = prepared if prepared is not None and self._prepared_path_applies() else None

    def _prepared_path_applies(self) -> bool:
        missing = [name for name in STRAWBERRY_INTERNALS if not callable(getattr(self, name, None))]
        if missing:
            logger.warning("prepared operations are off: this strawberry has no %s", ", ".join(missing))
            return False
        extensions = self.get_extensions()
        unknown = [type(extension).__name__ for extension in extensions
                   if not isinstance(extension, PREPARED_PATH_EXTENSIONS)]
        if unknown or self.directives or not any(isinstance(extension, RecordPreparedOperation)
                                                 for extension in extensions):
            logger.info("prepared operations are off: extensions %s, %d directives", unknown or "-",
                        len(self.directives))
            return False
        return True

    async def execute(self, query: str | None, variable_values: dict[str, Any] | None = None,  # noqa: PLR0917
                      context_value: Any | None = None, root_value: Any | None = None,
                      operation_name: str | None = None, allowed_operation_types: Any = None,
                      operation_extensions: dict[str, Any] | None = None) -> ExecutionResult:
        prepared = self.prepared.get(query, operation_name) if self.prepared is not None else None
        allowed = DEFAULT_ALLOWED_OPERATION_TYPES if allowed_operation_types is None else allowed_operation_types
        if prepared is None or not self.prepared.runs(prepared, self._schema, operation_name, variable_values,
                                                      allowed):
            return await super().execute(query, variable_values, context_value, root_value, operation_name,
                                         allowed_operation_types, operation_extensions)

        execute = self._get_execute_function()
        result = execute(self._schema, prepared.document, root_value=root_value, variable_values=variable_values,
                         operation_name=operation_name, context_value=context_value,
                         is_awaitable=optimized_is_awaitable,
                         **execution_context_class_kwargs(self.execution_context_class),
                         **self._get_custom_context_kwargs(operation_extensions))
        if optimized_is_awaitable(result):
            result = await result
        errors = result.errors
        if errors:
            execution_context = self._create_execution_context(
                query=query, allowed_operation_types=allowed, variable_values=variable_values,
                context_value=context_value, root_value=root_value, operation_name=operation_name,
                operation_extensions=operation_extensions)
            self._process_errors(errors, execution_context)
            errors = self.prepared.mask(errors)
        return ExecutionResult(data=result.data, errors=errors, extensions={})

    def process_errors(self, errors: list[GraphQLError], execution_context: Any = None) -> None:
        unexpected = []
        for error in errors:
            if isinstance(error.original_error, KGServiceError):
                # Clients tell the kinds of error apart by this code (the Python client raises the same class).
                error.extensions = {**(error.extensions or {}), "code": type(error.original_error).__name__}
            set_missing_code(error)
            if error.original_error is None or isinstance(error.original_error, CLIENT_ERRORS):
                message = error.message if len(error.message) <= 300 else error.message[:300] + "..."
                logger.log(self.client_error_level, "GraphQL request error at %s: %s",
                           ".".join(map(str, error.path or [])) or "-", message)
            else:
                unexpected.append(error)
        super().process_errors(unexpected, execution_context)


def build_schema(debug: bool = False, client_error_level: int = logging.WARNING) -> strawberry.Schema:
    """Build the schema with depth, token and alias limits; errors are masked unless `debug`.

    `client_error_level` is the log level of the client's mistakes (see `KGSchema`). The
    in-process Python client passes DEBUG, because it raises each of them as an exception.
    """
    # Factories, so each request gets fresh extension instances. A query text seen before is
    # neither parsed nor validated again (see query_limit_extensions), and runs as a prepared
    # operation once it has passed every check (see kg_service.api.prepared).
    max_cost = 10_000
    extensions: list[Any] = query_limit_extensions(max_depth=10, max_tokens=2000, max_aliases=20, max_cost=max_cost)
    if not debug:
        extensions.append(lambda: MaskInternalErrors(should_mask_error=_should_mask))
    prepared = PreparedOperations(max_cost=max_cost, should_mask=None if debug else _should_mask,
                                  masker=None if debug else MaskInternalErrors(should_mask_error=_should_mask))
    extensions.append(lambda: RecordPreparedOperation(prepared))
    query = merge_types("Query", (CoreQuery, *features.query_types()))
    mutations = features.mutation_types()
    mutation = merge_types("Mutation", tuple(mutations)) if mutations else None
    schema = KGSchema(query=query, mutation=mutation, extensions=extensions, prepared=prepared,
                      client_error_level=client_error_level)
    # The executor needs the finished GraphQL schema to find its plain fields, so it is set afterwards.
    schema.execution_context_class = executor_for(schema._schema)
    return schema
