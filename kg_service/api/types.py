"""GraphQL object types. Names follow the ontology (asset, work order, failure mode)."""

from __future__ import annotations

from functools import lru_cache
from typing import Any

import strawberry
from strawberry.scalars import JSON

from kg_service.api.execution import PURE_RESOLVER
from kg_service.api.paging import Connection, KeyConnection, PageInfo, connection, fingerprint, key_connection
from kg_service.ontology.schema import GraphSchema
from kg_service.reasoning.lookup import check_language, display_name, history_cursor
from kg_service.reasoning.rootcause import MAX_CANDIDATES, PREDICTED_TARGET_MIN_SCORE


def _plain(value: Any) -> Any:
    """Turn Neo4j temporal values into ISO strings so they serialise as JSON."""
    if hasattr(value, "iso_format"):
        return value.iso_format()
    if isinstance(value, list):
        return [_plain(item) for item in value]
    return value


def plain_properties(properties: dict[str, Any]) -> dict[str, Any]:
    return {name: _plain(value) for name, value in sorted(properties.items())}


@strawberry.type(description="A node of the knowledge graph: an asset, work order, failure mode, part...")
class Entity:
    id: strawberry.ID
    classes: list[str] = strawberry.field(description="Ontology classes (node labels), most specific first")
    props: strawberry.Private[dict[str, Any]]
    # The language of `label` without a `lang` argument: the lang argument of `entities`, else en.
    default_lang: strawberry.Private[str] = "en"

    @strawberry.field(description="Name in the requested language ('en' or 'zh', any case), else in the source's "
                                  "language. Without `lang`, the lang of the entities query that returned the "
                                  "entity, else en", metadata={PURE_RESOLVER: True})
    def label(self, lang: str | None = None) -> str | None:
        return display_name(self.props, check_language(lang) if lang is not None else self.default_lang)

    @strawberry.field(description="All stored properties, dates as ISO 8601 strings")
    def properties(self) -> JSON:
        return plain_properties(self.props)

    @classmethod
    def from_row(cls, key: str, labels: list[str], props: dict[str, Any], schema: GraphSchema | None = None,
                 default_lang: str = "en") -> "Entity":
        """Build an entity; with `schema`, classes are ordered most specific first."""
        if schema is not None:
            ordered = schema.most_specific_first(labels)
        else:
            ordered = [label for label in sorted(labels) if label != "Entity"] + (["Entity"] if "Entity" in labels else [])
        return cls(id=strawberry.ID(key), classes=ordered, props=props, default_lang=default_lang)


# Default page size of the entity lists of a work order; `first` goes up to 200.
WORK_ORDER_LIST_PAGE = 20


@lru_cache(maxsize=16_384)
def _work_order_scope(field: str, work_order: str) -> str:
    """Return the cursor scope of one list of a work order, hashed once per list and work order."""
    return fingerprint(f"WorkOrder.{field}", {"workOrder": work_order})


@strawberry.type(description="A maintenance work order with what it recorded")
class WorkOrder:
    id: strawberry.ID
    date: str | None
    text: str | None
    order_type: str | None
    cost: float | None
    running_hours: float | None
    failure_mode_items: strawberry.Private[list[Entity]]
    part_items: strawberry.Private[list[Entity]]
    system_items: strawberry.Private[list[Entity]]
    action_items: strawberry.Private[list[Entity]]
    symptom_items: strawberry.Private[list[Entity]]

    # The lists come ordered by key from lookup.ASSET_HISTORY_QUERY, so a positional cursor points at
    # the same item on the next request while the work order's relationships do not change.
    def _page(self, items: list[Entity], field: str, first: int, after: str | None) -> EntityConnection:
        scope = _work_order_scope(field, str(self.id))
        return connection(EntityConnection, items, first, after, scope, field, edge_type=EntityEdge)

    @strawberry.field(description="Failure modes the work order records", metadata={PURE_RESOLVER: True})
    def failure_modes(self, first: int = WORK_ORDER_LIST_PAGE, after: str | None = None) -> EntityConnection:
        return self._page(self.failure_mode_items, "failureModes", first, after)

    @strawberry.field(description="Components the work order involves", metadata={PURE_RESOLVER: True})
    def parts(self, first: int = WORK_ORDER_LIST_PAGE, after: str | None = None) -> EntityConnection:
        return self._page(self.part_items, "parts", first, after)

    @strawberry.field(description="Systems the work order involves", metadata={PURE_RESOLVER: True})
    def systems(self, first: int = WORK_ORDER_LIST_PAGE, after: str | None = None) -> EntityConnection:
        return self._page(self.system_items, "systems", first, after)

    @strawberry.field(description="Maintenance actions the work order records", metadata={PURE_RESOLVER: True})
    def actions(self, first: int = WORK_ORDER_LIST_PAGE, after: str | None = None) -> EntityConnection:
        return self._page(self.action_items, "actions", first, after)

    @strawberry.field(description="Symptoms the work order records", metadata={PURE_RESOLVER: True})
    def symptoms(self, first: int = WORK_ORDER_LIST_PAGE, after: str | None = None) -> EntityConnection:
        return self._page(self.symptom_items, "symptoms", first, after)


def _work_order_cursor(self: WorkOrderEdge) -> str:
    return history_cursor(self.row, self.scope)


@strawberry.type
class WorkOrderEdge:
    # Most history requests select nodes alone, so the cursor is encoded only when it is selected.
    cursor: str = strawberry.field(resolver=_work_order_cursor, metadata={PURE_RESOLVER: True})
    node: WorkOrder
    row: strawberry.Private[dict[str, Any]]
    scope: strawberry.Private[str | None]


@strawberry.type(description="Relay-style page of work orders, newest first")
class WorkOrderConnection:
    total_count: int
    edges: list[WorkOrderEdge]
    page_info: PageInfo


@strawberry.type
class EntityEdge:
    cursor: str
    node: Entity


@strawberry.type(description="Relay-style page of entities")
class EntityConnection:
    total_count: int
    edges: list[EntityEdge]
    page_info: PageInfo


@strawberry.type
class OntologyTexts:
    """Labels and definitions of an ontology term, in the language a client asks for."""

    texts: strawberry.Private[dict[str, Any]]

    @strawberry.field(metadata={PURE_RESOLVER: True})
    def label(self, lang: str = "en") -> str | None:
        return self.texts.get(f"label_{check_language(lang)}") or self.texts.get("label_en")

    @strawberry.field(metadata={PURE_RESOLVER: True})
    def definition(self, lang: str = "en") -> str | None:
        return self.texts.get(f"definition_{check_language(lang)}") or self.texts.get("definition_en")


@strawberry.type(description="A class of the loaded ontology and the node label it maps to")
class OntologyClass(OntologyTexts):
    iri: str
    node_label: str
    parents: list[str] = strawberry.field(description="Node labels of the direct superclasses")
    deprecated: bool


@strawberry.type(description="An object property (relationship type) or datatype property (property name)")
class OntologyProperty(OntologyTexts):
    iri: str
    kind: str
    name: str = strawberry.field(description="Relationship type for object properties, property name otherwise")
    domain: str | None
    range: str | None


@strawberry.type
class OntologyClassEdge:
    cursor: str
    node: OntologyClass


@strawberry.type(description="Relay-style page of ontology classes")
class OntologyClassConnection:
    total_count: int
    edges: list[OntologyClassEdge]
    page_info: PageInfo


@strawberry.type
class OntologyPropertyEdge:
    cursor: str
    node: OntologyProperty


@strawberry.type(description="Relay-style page of ontology properties")
class OntologyPropertyConnection:
    total_count: int
    edges: list[OntologyPropertyEdge]
    page_info: PageInfo


@strawberry.type(description="One source's contribution to a candidate's score")
class ScoreComponent:
    source: str
    value: float


@strawberry.type(description="A path of evidence: node keys and the relationship types between them")
class EvidencePath:
    nodes: list[str]
    relationships: list[str]


@strawberry.type(description="Relay-style page of evidence paths")
class EvidencePathConnection(Connection[EvidencePath]):
    pass


# Default page sizes of the lists under a root-cause result; `first` goes up to 200 (100 for candidates).
CANDIDATES_PAGE = 10
EVIDENCE_PAGE = 20


@strawberry.type(description="A candidate cause, ranked by score, with its evidence")
class RootCauseCandidate:
    entity: Entity
    score: float
    breakdown: list[ScoreComponent]
    scope: strawberry.Private[dict[str, Any]]
    work_order_keys: strawberry.Private[list[str]]
    preceding_keys: strawberry.Private[list[str]]
    predicted_keys: strawberry.Private[list[str]]
    path_items: strawberry.Private[list[EvidencePath]]
    document_keys: strawberry.Private[list[str]]
    chunk_keys: strawberry.Private[list[str]]
    event_items: strawberry.Private[list["TelemetryEvidence"]]

    def _scope(self, field: str) -> str:
        return fingerprint(f"RootCauseCandidate.{field}", {**self.scope, "candidate": str(self.entity.id)})

    @strawberry.field(description="Keys of the target work orders (those recording the condition) that involve "
                                  "the candidate, in key order")
    def evidence_work_orders(self, first: int = EVIDENCE_PAGE, after: str | None = None) -> KeyConnection:
        return key_connection(self.work_order_keys, first, after, self._scope("evidenceWorkOrders"),
                              "evidenceWorkOrders")

    @strawberry.field(description="Keys of earlier work orders involving the candidate within the window before a "
                                  "target, in key order")
    def preceding_work_orders(self, first: int = EVIDENCE_PAGE, after: str | None = None) -> KeyConnection:
        return key_connection(self.preceding_keys, first, after, self._scope("precedingWorkOrders"),
                              "precedingWorkOrders")

    @strawberry.field(description="Keys of the work orders that a graph model predicts to record the condition "
                                  f"(score at least {PREDICTED_TARGET_MIN_SCORE}, no asserted link) and that "
                                  "involve the candidate, in key order. They score predicted-co-occurrence and are "
                                  "never in evidenceWorkOrders")
    def predicted_work_orders(self, first: int = EVIDENCE_PAGE, after: str | None = None) -> KeyConnection:
        return key_connection(self.predicted_keys, first, after, self._scope("predictedWorkOrders"),
                              "predictedWorkOrders")

    # NOTE: paths keep the order in which the scorers found them, which follows the order of Cypher rows.
    # Neo4j does not promise that order for queries without ORDER BY, so pages rely on it being repeatable.
    @strawberry.field(description="Evidence paths of the candidate, in the order the evidence sources found them")
    def paths(self, first: int = EVIDENCE_PAGE, after: str | None = None) -> EvidencePathConnection:
        return connection(EvidencePathConnection, self.path_items, first, after, self._scope("paths"), "paths")

    @strawberry.field(description="Keys of documents whose chunks mention the candidate, in key order")
    def documents(self, first: int = EVIDENCE_PAGE, after: str | None = None) -> KeyConnection:
        return key_connection(self.document_keys, first, after, self._scope("documents"), "documents")

    @strawberry.field(description="Keys of chunks that mention the candidate with the condition, in key order")
    def chunks(self, first: int = EVIDENCE_PAGE, after: str | None = None) -> KeyConnection:
        return key_connection(self.chunk_keys, first, after, self._scope("chunks"), "chunks")

    @strawberry.field(description="Alarms and anomaly events on the candidate before the observed events")
    def events(self, first: int = EVIDENCE_PAGE, after: str | None = None) -> TelemetryEvidenceConnection:
        return connection(TelemetryEvidenceConnection, self.event_items, first, after, self._scope("events"),
                          "events")


@strawberry.type(description="An alarm or anomaly event that supports a candidate")
class TelemetryEvidence:
    id: str
    classes: list[str]
    start_time: str | None
    seconds_before_observed: float | None


@strawberry.type(description="An event the ranking started from (failure event, alarm or anomaly)")
class ObservedEvent:
    id: str
    classes: list[str]
    start_time: str | None
    signal_keys: strawberry.Private[list[str]]

    @strawberry.field(description="Keys of the signals the event involves", metadata={PURE_RESOLVER: True})
    def signals(self, first: int = EVIDENCE_PAGE, after: str | None = None) -> KeyConnection:
        return key_connection(self.signal_keys, first, after,
                              fingerprint("ObservedEvent.signals", {"event": self.id}), "signals")


@strawberry.type(description="Relay-style page of telemetry events that support a candidate, earliest first")
class TelemetryEvidenceConnection(Connection[TelemetryEvidence]):
    pass


@strawberry.type(description="Relay-style page of the events a ranking started from")
class ObservedEventConnection(Connection[ObservedEvent]):
    pass


@strawberry.type(description="Relay-style page of root-cause candidates, best first")
class RootCauseCandidateConnection(Connection[RootCauseCandidate]):
    pass


@strawberry.type(description="A ranking of candidate causes with what it started from")
class RootCauseResult:
    asset: Entity | None
    condition: Entity | None = strawberry.field(description="The failure mode or symptom explained: the one the "
                                                            "query named, else the one chosen as conditionSource "
                                                            "says")
    condition_source: str | None = strawberry.field(
        default=None, description="How the condition was found: query (named), event (recorded by a named "
                                  "event), window events (most frequent among the asset's events in the window) or "
                                  "work orders (most frequent among the asset's failure work orders in the window)")
    tied_conditions: list[str] = strawberry.field(
        default_factory=list, description="Keys of the failure modes exactly as frequent as the chosen condition, "
                                          "by the count that conditionSource names; the condition won the tie by "
                                          "its newer event or work order, then by its key. Name one as "
                                          "failureMode to rank its causes. Empty without a tie")
    target_work_orders: int = strawberry.field(description="Work orders on the asset that record the condition")
    predicted_target_work_orders: int = strawberry.field(
        description="Work orders on the asset that a graph model predicts to record the condition (score at least "
                    f"{PREDICTED_TARGET_MIN_SCORE}) and that have no asserted link to it. They are not in "
                    "targetWorkOrders")
    sources: list[str] = strawberry.field(description="Evidence sources that contributed: co-occurrence, "
                                                      "precedence, mechanism, predicted-co-occurrence, causal, "
                                                      "text, prediction")
    scope: strawberry.Private[dict[str, Any]]
    ranked: strawberry.Private[list[RootCauseCandidate]]
    observed: strawberry.Private[list[ObservedEvent]]

    @strawberry.field(description="The events the ranking explains: those the query named, else the asset's "
                                  "alarm, anomaly and failure events in the time window (at most 100)")
    def observed_events(self, first: int = EVIDENCE_PAGE, after: str | None = None) -> ObservedEventConnection:
        return connection(ObservedEventConnection, self.observed, first, after,
                          fingerprint("RootCauseResult.observedEvents", self.scope), "observedEvents")

    @strawberry.field(description="Candidates ranked by score (ties by key), best first; the ranking keeps the "
                                  f"best {MAX_CANDIDATES}")
    def candidates(self, first: int = CANDIDATES_PAGE, after: str | None = None) -> RootCauseCandidateConnection:
        return connection(RootCauseCandidateConnection, self.ranked, first, after,
                          fingerprint("RootCauseResult.candidates", self.scope), "candidates", maximum=MAX_CANDIDATES)
