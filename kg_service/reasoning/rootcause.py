"""Root-cause ranking that combines several kinds of evidence in the graph.

A ranking starts from one of: an asset with a time window, a FailureEvent, an Alarm or an
AnomalyEvent, a Symptom, or a failure mode (optionally on an asset). Each source below is a
separate scorer that adds weighted components to candidates. A source whose nodes or
relationships are absent from the graph adds nothing.

(a) Failure history, for a condition (failure mode or symptom). The target work orders are those
    with an asserted HAS_FAILURE_MODE or HAS_SYMPTOM link to the condition, on the asset or anything
    part of it when an asset is given, dated within `since` and `until`.
    - `co-occurrence`: the share of target work orders that involve the candidate (weight 1);
    - `precedence`: how much more often target work orders are preceded, within `window_days` on
      the same equipment, by a work order involving the candidate than work orders on that
      equipment in general are. It is the share for targets minus the base share, floored at 0
      and weighted by `PRECEDENCE_WEIGHT`. Busy assets have some work order before nearly everything,
      so only the excess over the base share is evidence.
    - `mechanism`: `MECHANISM_WEIGHT` for each failure mechanism or cause that the graph links to
      the failure mode, and `MECHANISM_PART_WEIGHT` for each system or component linked to such a
      mechanism or cause.
    - `predicted-co-occurrence`: the same share over *predicted targets*, work orders that a graph
      model predicts to record the condition (`PREDICTED_HAS_FAILURE_MODE` or `PREDICTED_HAS_SYMPTOM`
      with a `score` of at least `PREDICTED_TARGET_MIN_SCORE`, written by kg_service.gnn.writeback)
      and that have no asserted link to it. The asset scope and the time window apply as for the
      asserted targets. The component is `PREDICTION_WEIGHT` times the share of predicted targets that
      involve the candidate times their mean score (clipped to 0..1). It never exceeds
      `PREDICTION_WEIGHT` (0.5), while `co-occurrence` reaches 1. Predicted targets are never target
      work orders of `co-occurrence` or `precedence`, nor in a candidate's `work_orders`. They are
      listed apart, in `predicted_target_work_orders` and a candidate's `predicted_work_orders`, and
      their paths name the predicted relationship type.
(b) `causal`: CAUSES edges between Signal nodes walked upstream (up to `MAX_CAUSAL_DEPTH` edges)
    from the signals of the observed alarms and events. A candidate at distance d from an observed
    signal gets `CAUSAL_DECAY ** (d - 1)` times a time factor:
    - `TIME_BEFORE` when the candidate has an alarm or anomaly event that starts before the observed
      event, within `lookback_minutes` and with `TIME_TOLERANCE_SECONDS` of slack for imprecise
      timestamps;
    - `TIME_DOWNSTREAM` in that case when an event of a signal upstream of the candidate started
      even earlier, because the candidate is then more likely a consequence;
    - `TIME_AFTER` when its events all start after the observed event, `TIME_NONE` when it has none.
    The component is `CAUSAL_WEIGHT` times the mean over observed events. An observed event whose
    signals the candidate is not upstream of counts 0.
(c) `text`: chunks that mention the condition or an observed signal together with the candidate,
    `TEXT_WEIGHT * min(1, chunks / TEXT_SATURATION_CHUNKS)`.
(d) `prediction`: link predictions of a graph model (`PREDICTED_<TYPE>` relationships with a `score`
    property, written by kg_service.gnn.writeback) that make the candidate a cause of an anchor (the
    condition, an observed event or signal). They are `PREDICTED_HAS_CAUSE` and
    `PREDICTED_HAS_MECHANISM` from the anchor to the candidate, and `PREDICTED_CAUSES` from the
    candidate to the anchor. Other predicted types and directions are ignored here: a predicted
    `HAS_FAILURE_MODE` from a work order to the condition says which work orders record it, not what
    caused it, so it counts under `predicted-co-occurrence` in (a). The candidate must be of
    `CANDIDATE_CLASSES`, as for `text`, so a work order, document, event or failure mode never is one.
    With an asset (or `equipment`), a candidate that belongs to an asset must be that asset or one of
    its parts (PART_OF). A candidate belongs to an asset when it is an asset, a signal of one
    (HAS_SIGNAL) or the part type of a component (INSTANCE_OF_PART).
    Candidates tied to no asset, such as causes, mechanisms and materials, are kept. The component is
    `PREDICTION_WEIGHT` times the highest score (clipped to 0..1).

The score is the sum of the components. Each candidate carries its breakdown by source, evidence
paths (node keys and relationship types), supporting work orders (asserted and predicted apart),
documents and chunks, and telemetry events.
"""

from __future__ import annotations

import logging
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any

from kg_service.errors import QueryError
from kg_service.graph.store import GraphStore
from kg_service.reasoning.lookup import display_name, naive_utc, parse_iso, resolve_entity

logger = logging.getLogger(__name__)

PRECEDENCE_WEIGHT = 0.5
# A mechanism or cause linked to the failure mode is general knowledge, not this asset's history,
# so it counts half as much as a part involved in every target work order.
MECHANISM_WEIGHT = 0.5
# A part reached through a mechanism or cause is one step further from the failure mode.
MECHANISM_PART_WEIGHT = 0.25
CAUSAL_WEIGHT = 1.0
CAUSAL_DECAY = 0.5
MAX_CAUSAL_DEPTH = 4
TIME_BEFORE = 1.0
# An event of a signal upstream that started even earlier makes the candidate more likely a
# consequence, so it scores below a candidate one edge further up with its own earlier event.
TIME_DOWNSTREAM = 0.3
TIME_NONE = 0.4
TIME_AFTER = 0.2
TIME_TOLERANCE_SECONDS = 1.0
TEXT_WEIGHT = 0.3
TEXT_SATURATION_CHUNKS = 3
PREDICTION_WEIGHT = 0.5
# Predicted relationship types (written by kg_service.gnn.writeback) that make the candidate a cause:
# from the anchor to the candidate, and from the candidate to the anchor.
PREDICTED_FROM_ANCHOR = ["PREDICTED_HAS_CAUSE", "PREDICTED_HAS_MECHANISM"]
PREDICTED_TO_ANCHOR = ["PREDICTED_CAUSES"]
# The lowest score of a predicted HAS_FAILURE_MODE or HAS_SYMPTOM link that makes its work order a predicted
# target. `kg-service predict --min-score` defaults to the same 0.5, but a lower value writes weaker links.
PREDICTED_TARGET_MIN_SCORE = 0.5
MAX_WINDOW_DAYS = 3650
MAX_LOOKBACK_MINUTES = 60 * 24 * 30
MAX_CANDIDATES = 100
# NOTE: an asset window with more alarm, anomaly and failure events than this explains only the earliest ones.
MAX_OBSERVED_EVENTS = 100
# Events named in one request; each costs two queries, so larger sets go through an asset's time window.
MAX_NAMED_EVENTS = 20
MAX_EVIDENCE_ITEMS = 20
ASSET_CLASSES = ["Equipment", "System", "Component", "ProductionLine", "Site", "Asset"]
CONDITION_CLASSES = ["FailureMode", "Symptom", "Observation"]
EVENT_CLASSES = ["FailureEvent", "Alarm", "AnomalyEvent"]
# Classes that the text and prediction sources may propose as causes.
CANDIDATE_CLASSES = ["System", "Component", "Equipment", "Part", "Material", "FailureMechanism", "FailureCause",
                     "Signal"]


@dataclass
class EvidencePath:
    """A path in the graph: node keys and the relationship types between them."""

    nodes: list[str]
    relationships: list[str]


@dataclass
class ScoreComponent:
    source: str
    value: float


@dataclass
class TelemetryEvidence:
    """An alarm or anomaly event of a candidate signal, with its start relative to the observed event."""

    id: str
    classes: list[str]
    start_time: datetime | None
    seconds_before_observed: float | None


@dataclass
class RootCauseCandidate:
    """A ranked candidate cause with its score breakdown and evidence."""

    id: str
    classes: list[str]
    properties: dict[str, Any]
    score: float
    breakdown: list[ScoreComponent]
    work_orders: list[str] = field(default_factory=list)
    preceding_work_orders: list[str] = field(default_factory=list)
    # Predicted targets that involve the candidate; never in `work_orders`.
    predicted_work_orders: list[str] = field(default_factory=list)
    paths: list[EvidencePath] = field(default_factory=list)
    documents: list[str] = field(default_factory=list)
    chunks: list[str] = field(default_factory=list)
    events: list[TelemetryEvidence] = field(default_factory=list)

    def name(self, lang: str = "en") -> str | None:
        return display_name(self.properties, lang)

    def component(self, source: str) -> float:
        """Return the value of one source in the breakdown, 0 when the source did not contribute."""
        return next((part.value for part in self.breakdown if part.source == source), 0.0)


@dataclass
class ObservedEvent:
    """An event that the ranking explains: an alarm, anomaly or failure event with its signals."""

    id: str
    classes: list[str]
    start_time: datetime | None
    signals: list[str]


@dataclass
class RootCauseResult:
    """The ranking with what it started from. `asset` and `condition` are None when not known."""

    asset: dict[str, Any] | None
    condition: dict[str, Any] | None
    target_work_orders: list[str]
    candidates: list[RootCauseCandidate]
    start: dict[str, Any] | None = None
    observed_events: list[ObservedEvent] = field(default_factory=list)
    sources: list[str] = field(default_factory=list)
    # How the condition was found: "query" (named), "event" (recorded by a named event),
    # "window events" (most frequent among the asset's events in the window) or "work orders"
    # (most frequent among the asset's failure work orders in the window). None without one.
    condition_source: str | None = None
    # Failure modes exactly as frequent as the chosen condition, by the count that `condition_source`
    # names, in tie-break order (newest event or work order first, then key). Empty without a tie.
    tied_conditions: list[str] = field(default_factory=list)
    # Work orders that a graph model predicts to record the condition and that have no asserted link to
    # it, in scope and window. They score `predicted-co-occurrence` and are never in `target_work_orders`.
    predicted_target_work_orders: list[str] = field(default_factory=list)


@dataclass
class RootCauseQuery:
    """Request of a ranking. Give `event` (or several `events`), or `asset` with a window, or a
    condition (optionally with `asset`).

    `since` and `until` bound work-order dates and event start times. `lookback_minutes` bounds how
    long before an observed event a candidate's own event counts as its precursor. With
    `use_anomalies` False the causal source ignores AnomalyEvents and times only alarms, and an
    asset's window observes only its alarms and failure events.

    `equipment`, when set, keeps only the work orders and events of these equipment keys and
    their parts, for example the pumps of the line that `asset` names.
    """

    asset: str | None = None
    equipment: list[str] | None = None
    failure_mode: str | None = None
    symptom: str | None = None
    event: str | None = None
    events: list[str] = field(default_factory=list)
    since: datetime | date | str | None = None
    until: datetime | date | str | None = None
    window_days: int = 30
    lookback_minutes: int = 60
    limit: int = 10
    use_anomalies: bool = True

    @property
    def event_keys(self) -> list[str]:
        """Return the named events, `event` first, each key once."""
        return list(dict.fromkeys(([self.event] if self.event else []) + list(self.events)))


TARGETS_QUERY = """
MATCH (asset:Entity {id: $asset}), (condition:Entity {id: $condition})
MATCH (wo:WorkOrder)-[:FOR_ASSET]->(equipment)
WHERE (equipment = asset OR (equipment)-[:PART_OF*1..4]->(asset))
  AND ($since IS NULL OR wo.date >= date($since)) AND ($until IS NULL OR wo.date <= date($until))
  AND ($equipment IS NULL OR EXISTS { MATCH (equipment)-[:PART_OF*0..4]->(kept:Entity) WHERE kept.id IN $equipment })
MATCH (wo)-[:HAS_FAILURE_MODE|HAS_SYMPTOM]->(condition)
RETURN DISTINCT wo.id AS id, wo.date AS date, equipment.id AS equipment
"""

# The failure modes that the failure work orders of an asset (and its parts) record within the window,
# most frequent first. With `$equipment` set, only the work orders of that equipment count. Ties go to
# the mode with the newest work order, then to the smaller key, so the first row is the chosen mode.
MOST_FREQUENT_MODE_QUERY = """
MATCH (asset:Entity {id: $asset})
MATCH (wo:WorkOrder)-[:FOR_ASSET]->(target)-[:PART_OF*0..4]->(asset)
WHERE ($since IS NULL OR wo.date >= date($since)) AND ($until IS NULL OR wo.date <= date($until))
  AND ($equipment IS NULL OR EXISTS { MATCH (target)-[:PART_OF*0..4]->(kept:Entity) WHERE kept.id IN $equipment })
MATCH (wo)-[:HAS_FAILURE_MODE]->(mode:FailureMode)
RETURN mode.id AS id, count(DISTINCT wo) AS orders, max(wo.date) AS latest ORDER BY orders DESC, latest DESC, id
"""

TARGETS_ANY_ASSET_QUERY = """
MATCH (condition:Entity {id: $condition})<-[:HAS_FAILURE_MODE|HAS_SYMPTOM]-(wo:WorkOrder)-[:FOR_ASSET]->(equipment)
WHERE ($since IS NULL OR wo.date >= date($since)) AND ($until IS NULL OR wo.date <= date($until))
  AND ($equipment IS NULL OR EXISTS { MATCH (equipment)-[:PART_OF*0..4]->(kept:Entity) WHERE kept.id IN $equipment })
RETURN DISTINCT wo.id AS id, wo.date AS date, equipment.id AS equipment
"""

# Work orders predicted to record the condition, by the rule for `predicted-co-occurrence` in the module
# docstring: scope and window as in TARGETS_QUERY (any asset when `$asset` is null), a score of at least
# `$threshold`, and no asserted link to the condition. Each row has the best predicted link of its work order.
PREDICTED_TARGETS_QUERY = """
MATCH (condition:Entity {id: $condition})<-[link:PREDICTED_HAS_FAILURE_MODE|PREDICTED_HAS_SYMPTOM]-(wo:WorkOrder)
WHERE link.score IS NOT NULL AND toFloat(link.score) >= $threshold
  AND ($since IS NULL OR wo.date >= date($since)) AND ($until IS NULL OR wo.date <= date($until))
  AND NOT EXISTS { MATCH (wo)-[:HAS_FAILURE_MODE|HAS_SYMPTOM]->(condition) }
  AND EXISTS { MATCH (wo)-[:FOR_ASSET]->(equipment)
               WHERE ($asset IS NULL OR equipment.id = $asset
                      OR EXISTS { MATCH (equipment)-[:PART_OF*1..4]->(:Entity {id: $asset}) })
                 AND ($equipment IS NULL
                      OR EXISTS { MATCH (equipment)-[:PART_OF*0..4]->(kept:Entity) WHERE kept.id IN $equipment }) }
WITH wo, link ORDER BY toFloat(link.score) DESC, type(link)
WITH wo, collect(link)[0] AS best
RETURN wo.id AS id, type(best) AS via, toFloat(best.score) AS score
ORDER BY id
"""

ACCOMPANY_QUERY = """
UNWIND $targets AS target
MATCH (wo:WorkOrder {id: target})-[:INVOLVES]->(candidate)
RETURN candidate.id AS id, labels(candidate) AS labels, properties(candidate) AS props,
       collect(DISTINCT wo.id) AS orders
"""

PRECEDE_QUERY = """
UNWIND $targets AS target
MATCH (wo:Entity {id: target})-[:FOR_ASSET]->(equipment)<-[:FOR_ASSET]-(earlier:WorkOrder)-[:INVOLVES]->(candidate)
WHERE earlier <> wo AND earlier.date < wo.date AND earlier.date >= wo.date - duration({days: $window})
RETURN candidate.id AS id, labels(candidate) AS labels, properties(candidate) AS props,
       collect(DISTINCT wo.id) AS orders, collect(DISTINCT earlier.id) AS earlier
"""

BASE_RATE_QUERY = """
UNWIND $equipment AS key
MATCH (equipment:Entity {id: key})<-[:FOR_ASSET]-(wo:WorkOrder)
WITH collect(wo) AS orders
UNWIND orders AS wo
OPTIONAL MATCH (wo)-[:FOR_ASSET]->()<-[:FOR_ASSET]-(earlier:WorkOrder)-[:INVOLVES]->(candidate)
WHERE candidate.id IN $candidates AND earlier <> wo AND earlier.date < wo.date
  AND earlier.date >= wo.date - duration({days: $window})
WITH size(orders) AS total, candidate.id AS id, count(DISTINCT wo) AS preceded
RETURN total, id, preceded
"""

MECHANISM_QUERY = """
MATCH (condition:Entity {id: $condition})-[rel:HAS_MECHANISM|HAS_CAUSE]->(candidate)
RETURN candidate.id AS id, labels(candidate) AS labels, properties(candidate) AS props, type(rel) AS via
"""

# Any relationship from a mechanism or cause to a system or component counts as a path to a part.
MECHANISM_PART_QUERY = """
MATCH (condition:Entity {id: $condition})-[rel:HAS_MECHANISM|HAS_CAUSE]->(mechanism)-[link]-(candidate)
WHERE candidate:System OR candidate:Component
RETURN candidate.id AS id, labels(candidate) AS labels, properties(candidate) AS props, type(rel) AS via,
       mechanism.id AS mechanism, type(link) AS link
"""

EVENT_QUERY = """
MATCH (event:Entity {id: $event})
OPTIONAL MATCH (event)-[:FOR_ASSET]->(asset)
OPTIONAL MATCH (event)-[:HAS_FAILURE_MODE]->(mode)
OPTIONAL MATCH (event)-[:HAS_SYMPTOM]->(symptom)
OPTIONAL MATCH (event)-[:INVOLVES_SIGNAL]->(signal:Signal)
WITH event, collect(DISTINCT asset.id) AS assets, collect(DISTINCT mode.id) AS modes,
     collect(DISTINCT symptom.id) AS symptoms, collect(DISTINCT signal.id) AS signals
RETURN event.id AS id, labels(event) AS labels, event.startTime AS start, assets, modes, symptoms, signals,
       $asset IS NULL OR EXISTS { MATCH (event)-[:FOR_ASSET]->(target)
                                  WHERE target.id = $asset OR EXISTS { MATCH (target)-[:PART_OF*1..6]->(:Entity {id: $asset}) } }
         AS onAsset,
       ($since IS NULL OR event.startTime >= $since) AND ($until IS NULL OR event.startTime <= $until) AS inWindow
"""

WINDOW_EVENTS_QUERY = """
MATCH (asset:Entity {id: $asset})
MATCH (event:Event)-[:FOR_ASSET]->(target)
WHERE (target = asset OR (target)-[:PART_OF*1..6]->(asset))
  AND (event:Alarm OR event:FailureEvent OR ($anomalies AND event:AnomalyEvent))
  AND ($since IS NULL OR event.startTime >= $since) AND ($until IS NULL OR event.startTime <= $until)
  AND ($equipment IS NULL OR EXISTS { MATCH (target)-[:PART_OF*0..6]->(kept:Entity) WHERE kept.id IN $equipment })
OPTIONAL MATCH (event)-[:INVOLVES_SIGNAL]->(signal:Signal)
OPTIONAL MATCH (event)-[:HAS_FAILURE_MODE]->(mode)
RETURN event.id AS id, labels(event) AS labels, event.startTime AS start, collect(DISTINCT signal.id) AS signals,
       collect(DISTINCT mode.id) AS modes
ORDER BY start, id LIMIT $max
"""

# The same events as WINDOW_EVENTS_QUERY for a set of equipment without a common asset (a kind of
# equipment, "the pumps"): the events of each equipment and of its parts.
EQUIPMENT_WINDOW_EVENTS_QUERY = """
UNWIND $equipment AS key
MATCH (kept:Entity {id: key})
MATCH (event:Event)-[:FOR_ASSET]->(target)
WHERE (target = kept OR (target)-[:PART_OF*1..6]->(kept))
  AND (event:Alarm OR event:FailureEvent OR ($anomalies AND event:AnomalyEvent))
  AND ($since IS NULL OR event.startTime >= $since) AND ($until IS NULL OR event.startTime <= $until)
WITH DISTINCT event
OPTIONAL MATCH (event)-[:INVOLVES_SIGNAL]->(signal:Signal)
OPTIONAL MATCH (event)-[:HAS_FAILURE_MODE]->(mode)
RETURN event.id AS id, labels(event) AS labels, event.startTime AS start, collect(DISTINCT signal.id) AS signals,
       collect(DISTINCT mode.id) AS modes
ORDER BY start, id LIMIT $max
"""

CAUSAL_QUERY = f"""
UNWIND $signals AS observed
MATCH path = (candidate:Signal)-[:CAUSES*1..{MAX_CAUSAL_DEPTH}]->(target:Signal {{id: observed}})
WHERE candidate <> target
WITH observed, candidate, path ORDER BY length(path)
WITH observed, candidate, collect(path)[0] AS path
RETURN observed, candidate.id AS id, labels(candidate) AS labels, properties(candidate) AS props,
       length(path) AS distance, [node IN nodes(path) | node.id] AS nodes,
       [rel IN relationships(path) | type(rel)] AS relationships
"""

CAUSAL_EDGES_QUERY = """
MATCH (source:Signal)-[:CAUSES]->(target:Signal)
WHERE source.id IN $ids AND target.id IN $ids
RETURN source.id AS source, target.id AS target
"""

SIGNAL_EVENTS_QUERY = """
UNWIND $ids AS key
MATCH (signal:Signal {id: key})<-[:INVOLVES_SIGNAL]-(event:Event)
WHERE (event:Alarm OR ($anomalies AND event:AnomalyEvent)) AND event.startTime >= $earliest
  AND event.startTime <= $latest
RETURN key AS signal, event.id AS id, labels(event) AS labels, event.startTime AS start
ORDER BY start
"""

TEXT_QUERY = """
UNWIND $anchors AS anchor
MATCH (:Entity {id: anchor})<-[:MENTIONS]-(chunk:Chunk)-[:MENTIONS]->(candidate:Entity)
WHERE NOT candidate.id IN $anchors AND any(label IN labels(candidate) WHERE label IN $classes)
OPTIONAL MATCH (document:Document)-[:HAS_CHUNK]->(chunk)
RETURN candidate.id AS id, labels(candidate) AS labels, properties(candidate) AS props,
       collect(DISTINCT anchor) AS anchors, collect(DISTINCT chunk.id) AS chunks,
       collect(DISTINCT document.id) AS documents
"""

# Predicted links that make the candidate a cause of an anchor, by the rule under (d) in the module
# docstring. `owners` are the assets the candidate belongs to. A candidate without one is kept, and
# one with owners only when an owner is in `$scope` (asset keys, null for any asset) or part of it.
PREDICTION_QUERY = """
UNWIND $anchors AS anchor
MATCH (start:Entity {id: anchor})-[link]-(candidate:Entity)
WHERE link.score IS NOT NULL AND NOT candidate.id IN $anchors
  AND ((type(link) IN $outgoing AND startNode(link) = start) OR (type(link) IN $incoming AND endNode(link) = start))
  AND any(label IN labels(candidate) WHERE label IN $classes)
WITH anchor, start, link, candidate,
     CASE WHEN candidate:Asset THEN [candidate] ELSE [] END
       + COLLECT { MATCH (owner:Asset)-[:HAS_SIGNAL|INSTANCE_OF_PART]->(candidate) RETURN owner } AS owners
WHERE $scope IS NULL OR size(owners) = 0
   OR any(owner IN owners WHERE EXISTS { MATCH (owner)-[:PART_OF*0..6]->(kept:Entity) WHERE kept.id IN $scope })
RETURN candidate.id AS id, labels(candidate) AS labels, properties(candidate) AS props, anchor,
       type(link) AS via, startNode(link) = start AS outgoing, max(toFloat(link.score)) AS score
"""


@dataclass
class _Context:
    """Resolved start of a ranking: asset, condition, start node and observed events."""

    asset: dict[str, Any] | None
    condition: dict[str, Any] | None
    start: dict[str, Any] | None
    observed: list[ObservedEvent]
    since: datetime | None
    until: datetime | None
    equipment: list[str] | None = None
    condition_source: str | None = None
    tied_conditions: list[str] = field(default_factory=list)

    @property
    def condition_is_failure_mode(self) -> bool:
        return self.condition is not None and "FailureMode" in self.condition["labels"]

    def scope(self) -> list[str] | None:
        """Return the asset keys that candidates belonging to an asset must be part of, None for any asset."""
        if self.equipment:
            return list(self.equipment)
        return [self.asset["id"]] if self.asset is not None else None

    def anchors(self) -> list[str]:
        """Return the keys that text and prediction evidence must connect a candidate to."""
        keys = [self.condition["id"]] if self.condition else []
        for event in self.observed:
            keys.append(event.id)
            keys.extend(event.signals)
        return list(dict.fromkeys(keys))


class _Ranking:
    """Candidates and their score components, filled by the scorers."""

    def __init__(self) -> None:
        self.candidates: dict[str, RootCauseCandidate] = {}
        self.scores: dict[str, dict[str, float]] = defaultdict(dict)

    def candidate(self, row: dict[str, Any]) -> RootCauseCandidate:
        if row["id"] not in self.candidates:
            self.candidates[row["id"]] = RootCauseCandidate(row["id"], sorted(row["labels"]), row["props"], 0.0, [])
        return self.candidates[row["id"]]

    def add(self, row: dict[str, Any], source: str, value: float) -> RootCauseCandidate:
        entry = self.candidate(row)
        self.scores[row["id"]][source] = self.scores[row["id"]].get(source, 0.0) + value
        return entry

    def ranked(self, limit: int, exclude: set[str]) -> list[RootCauseCandidate]:
        for key, entry in self.candidates.items():
            entry.breakdown = [ScoreComponent(source, round(value, 6))
                               for source, value in sorted(self.scores[key].items())]
            entry.score = round(sum(self.scores[key].values()), 6)
            entry.work_orders = sorted(set(entry.work_orders))
            entry.preceding_work_orders = sorted(set(entry.preceding_work_orders) - set(entry.work_orders))
            entry.predicted_work_orders = sorted(set(entry.predicted_work_orders) - set(entry.work_orders))
            entry.documents = sorted(set(entry.documents))
            entry.chunks = sorted(set(entry.chunks))
        scored = [entry for key, entry in self.candidates.items() if key not in exclude and entry.breakdown]
        return sorted(scored, key=lambda item: (-item.score, item.id))[:limit]


def _as_datetime(value: datetime | date | str | None, name: str, end_of_day: bool = False) -> datetime | None:
    """Return a time bound as a UTC date-time without a time zone, as the loaders store event times.

    A date-time with Z or an offset is converted to UTC, and one without is taken as UTC. A date
    alone is its first moment, or its last with `end_of_day`.
    """
    if value is None:
        return None
    if isinstance(value, datetime):
        return naive_utc(value)
    if isinstance(value, str):
        try:
            parsed = parse_iso(value)
        except ValueError:
            raise QueryError(f"{name} must be an ISO 8601 date or date-time such as 2024-05-01, 2024-05-01T08:30:00 "
                             f"or 2024-05-01T08:30:00+08:00, got {value!r}") from None
        if isinstance(parsed, datetime):
            return parsed
        value = parsed
    return datetime.combine(value, datetime.max.time() if end_of_day else datetime.min.time())


def _native(value: Any) -> datetime | None:
    """Return a Neo4j temporal value as a Python datetime without time zone (dates at midnight)."""
    if value is None:
        return None
    native = value.to_native() if hasattr(value, "to_native") else value
    if isinstance(native, datetime):
        return native.replace(tzinfo=None)
    if isinstance(native, date):
        return datetime.combine(native, datetime.min.time())
    return None


def _check(query: RootCauseQuery) -> None:
    if query.failure_mode is not None and query.symptom is not None:
        raise QueryError("give at most one of failureMode or symptom")
    if not (query.event_keys or query.asset or query.failure_mode or query.symptom):
        raise QueryError("give an event, an asset (with a time window) or a failure mode or symptom to explain")
    if len(query.event_keys) > MAX_NAMED_EVENTS:
        raise QueryError(f"events names {len(query.event_keys)} events; name at most {MAX_NAMED_EVENTS}, or give the "
                         "asset with since and until to explain every event in that window")
    if not 0 <= query.window_days <= MAX_WINDOW_DAYS:
        raise QueryError(f"windowDays must be between 0 and {MAX_WINDOW_DAYS}, got {query.window_days}")
    if not 0 <= query.lookback_minutes <= MAX_LOOKBACK_MINUTES:
        raise QueryError(f"lookbackMinutes must be between 0 and {MAX_LOOKBACK_MINUTES}, got {query.lookback_minutes}")
    if not 1 <= query.limit <= MAX_CANDIDATES:
        raise QueryError(f"limit must be between 1 and {MAX_CANDIDATES}, got {query.limit}")


def _resolve(store: GraphStore, query: RootCauseQuery) -> _Context:
    """Resolve the start of a ranking into the asset, the condition and the observed events."""
    since = _as_datetime(query.since, "since")
    until = _as_datetime(query.until, "until", end_of_day=True)
    if since is not None and until is not None and since > until:
        raise QueryError(f"since ({query.since}) is after until ({query.until}); swap them or widen the window")
    asset = resolve_entity(store, query.asset, ASSET_CLASSES) if query.asset else None
    condition = None
    if query.failure_mode is not None:
        condition = resolve_entity(store, query.failure_mode, ["FailureMode"])
    elif query.symptom is not None:
        condition = resolve_entity(store, query.symptom, ["Symptom", "Observation"])
    source = "query" if condition is not None else None
    ties: list[str] = []

    observed: list[ObservedEvent] = []
    start = None
    named_asset = asset["id"] if asset is not None else None
    for key in query.event_keys:
        row = resolve_entity(store, key, EVENT_CLASSES)
        start = start or row
        # Only an asset that the query named must own the event; one read from an event need not own the next.
        detail = store.read(EVENT_QUERY, {"event": row["id"], "asset": named_asset,
                                          "since": since, "until": until})[0]
        if not detail["onAsset"]:
            raise QueryError(f"event {row['id']} is for {', '.join(detail['assets']) or 'no asset'}, not for "
                             f"{asset['id']} or its parts; name an event of that asset, or leave out the asset")
        if not detail["inWindow"]:
            raise QueryError(f"event {row['id']} starts at {_native(detail['start'])}, outside the window "
                             f"{query.since or '...'} to {query.until or '...'}; widen the window or leave it out")
        observed.append(ObservedEvent(row["id"], sorted(detail["labels"]), _native(detail["start"]),
                                      detail["signals"]))
        if asset is None and detail["assets"]:
            asset = resolve_entity(store, detail["assets"][0], ASSET_CLASSES)
        if condition is None and (detail["modes"] or detail["symptoms"]):
            condition = resolve_entity(store, (detail["modes"] or detail["symptoms"])[0], CONDITION_CLASSES)
            source = "event"

    start = start or condition or asset
    # Without an asset, a set of equipment (a kind) is the scope whose window events are observed.
    scoped = asset is not None or bool(query.equipment)
    if not observed and scoped and (since is not None or until is not None or condition is None):
        params = {"since": since, "until": until, "max": MAX_OBSERVED_EVENTS, "anomalies": query.use_anomalies,
                  "equipment": query.equipment}
        if asset is not None:
            rows = store.read(WINDOW_EVENTS_QUERY, {**params, "asset": asset["id"]})
        else:
            rows = store.read(EQUIPMENT_WINDOW_EVENTS_QUERY, params)
        observed = [ObservedEvent(row["id"], sorted(row["labels"]), _native(row["start"]), row["signals"])
                    for row in rows]
        if condition is None:
            modes = event_modes_by_frequency(rows)
            if modes:
                # NOTE: with several failure modes in the window, the work-order history explains only the
                # most frequent one. The causal source still covers every observed event.
                condition = resolve_entity(store, modes[0][0], ["FailureMode"])
                ties = [key for key, count in modes[1:] if count == modes[0][1]]
                source = "window events"
    if condition is None and asset is not None and not query.event_keys:
        # No condition named and no event in the window records one ("why did AC-3 fail in 2024?"),
        # so explain the failure mode that the asset's work orders in the window record most often.
        rows = store.read(MOST_FREQUENT_MODE_QUERY, {"asset": asset["id"], "equipment": query.equipment,
                                                     "since": _work_order_bound(since),
                                                     "until": _work_order_bound(until)})
        if rows:
            condition = resolve_entity(store, rows[0]["id"], ["FailureMode"])
            ties = tied_modes(rows)
            source = "work orders"
    return _Context(asset, condition, start, observed, since, until, query.equipment, source, ties)


def tied_modes(rows: list[dict[str, Any]]) -> list[str]:
    """Return the keys of the rows after the first that have its work-order count (`orders`).

    `rows` are MOST_FREQUENT_MODE_QUERY rows, already in tie-break order.
    """
    return [row["id"] for row in rows[1:] if row["orders"] == rows[0]["orders"]]


def event_modes_by_frequency(rows: list[dict[str, Any]]) -> list[tuple[str, int]]:
    """Return the failure modes of events ordered by start time, with their event counts, most frequent first.

    Ties go to the mode of the latest event, then to the smaller key, as in MOST_FREQUENT_MODE_QUERY.
    """
    counts: Counter[str] = Counter()
    latest: dict[str, int] = {}
    for position, row in enumerate(rows):
        for mode in row["modes"]:
            counts[mode] += 1
            latest[mode] = position
    return sorted(counts.items(), key=lambda item: (-item[1], -latest[item[0]], item[0]))


def rank_causes(store: GraphStore, query: RootCauseQuery) -> RootCauseResult:
    """Rank candidate causes from every evidence source; see the module docstring for the scoring."""
    _check(query)
    context = _resolve(store, query)
    ranking = _Ranking()
    target_ids = _score_history(store, context, query.window_days, ranking)
    predicted_ids = _score_predicted_history(store, context, ranking)
    _score_causal(store, context, timedelta(minutes=query.lookback_minutes), query.use_anomalies, ranking)
    anchors = context.anchors()
    _score_text(store, anchors, ranking)
    _score_prediction(store, anchors, context.scope(), ranking)

    # An observed signal stays a candidate when it is upstream of another observed event's signal,
    # because with several alarms in a window the earliest one may sit on the root cause.
    exclude = {key for key in anchors if not ranking.scores.get(key, {}).get("causal")}
    if context.asset is not None:
        exclude.add(context.asset["id"])
    candidates = ranking.ranked(query.limit, exclude)
    sources = sorted({part.source for key, entry in ranking.candidates.items() if key not in exclude
                      for part in entry.breakdown})
    logger.debug("root cause from %s: %d observed events, %d target work orders, %d predicted targets, "
                 "%d candidates from %s", context.start["id"] if context.start else None, len(context.observed),
                 len(target_ids), len(predicted_ids), len(ranking.candidates), ", ".join(sources) or "no source")
    return RootCauseResult(context.asset, context.condition, target_ids, candidates, context.start,
                           context.observed, sources, context.condition_source, context.tied_conditions,
                           predicted_ids)


def rank_root_causes(store: GraphStore, asset: str, failure_mode: str | None = None, symptom: str | None = None,
                     window_days: int = 30, limit: int = 10, since: str | None = None,
                     until: str | None = None) -> RootCauseResult:
    """Rank candidate causes of `failure_mode` or `symptom` on `asset` (keys or names)."""
    if (failure_mode is None) == (symptom is None):
        raise QueryError("give exactly one of failureMode or symptom")
    query = RootCauseQuery(asset=asset, failure_mode=failure_mode, symptom=symptom, since=since, until=until,
                           window_days=window_days, limit=limit)
    result = rank_causes(store, query)
    if not result.target_work_orders:
        # Without a work order that records the condition there is nothing on this asset to explain.
        result.candidates = []
    return result


def _work_order_bound(value: datetime | None) -> str | None:
    return None if value is None else value.date().isoformat()


def _history_params(context: _Context) -> dict[str, Any]:
    """Return the condition, window and equipment parameters of the work-order queries.

    The context must have a condition.
    """
    return {"condition": context.condition["id"], "since": _work_order_bound(context.since),
            "until": _work_order_bound(context.until), "equipment": context.equipment}


def _score_history(store: GraphStore, context: _Context, window_days: int, ranking: _Ranking) -> list[str]:
    """Score co-occurrence, precedence and mechanism paths from the work orders of the condition."""
    if context.condition is None:
        return []
    params = _history_params(context)
    if context.asset is not None:
        targets = store.read(TARGETS_QUERY, {**params, "asset": context.asset["id"]})
    else:
        targets = store.read(TARGETS_ANY_ASSET_QUERY, params)
    target_ids = sorted({row["id"] for row in targets})
    total = len(target_ids)

    if total:
        for row in store.read(ACCOMPANY_QUERY, {"targets": target_ids}):
            entry = ranking.add(row, "co-occurrence", len(row["orders"]) / total)
            entry.work_orders.extend(row["orders"])
            for order in row["orders"][:5]:
                entry.paths.append(EvidencePath([order, row["id"]], ["INVOLVES"]))

        preceding = store.read(PRECEDE_QUERY, {"targets": target_ids, "window": window_days})
        base_rates = _base_rates(store, sorted({row["equipment"] for row in targets}),
                                 [row["id"] for row in preceding], window_days)
        for row in preceding:
            excess = len(row["orders"]) / total - base_rates.get(row["id"], 0.0)
            if excess <= 0:
                continue
            entry = ranking.add(row, "precedence", PRECEDENCE_WEIGHT * excess)
            entry.preceding_work_orders.extend(row["earlier"])

    if context.condition_is_failure_mode:
        condition = context.condition["id"]
        for row in store.read(MECHANISM_QUERY, {"condition": condition}):
            entry = ranking.add(row, "mechanism", MECHANISM_WEIGHT)
            entry.paths.append(EvidencePath([condition, row["id"]], [row["via"]]))
        for row in store.read(MECHANISM_PART_QUERY, {"condition": condition}):
            entry = ranking.add(row, "mechanism", MECHANISM_PART_WEIGHT)
            entry.paths.append(EvidencePath([condition, row["mechanism"], row["id"]], [row["via"], row["link"]]))
    return target_ids


def _score_predicted_history(store: GraphStore, context: _Context, ranking: _Ranking) -> list[str]:
    """Score `predicted-co-occurrence` from the predicted targets of the condition and return their keys."""
    if context.condition is None:
        return []
    params = {**_history_params(context), "asset": context.asset["id"] if context.asset is not None else None,
              "threshold": PREDICTED_TARGET_MIN_SCORE}
    targets = {row["id"]: row for row in store.read(PREDICTED_TARGETS_QUERY, params)}
    if not targets:
        return []
    condition = context.condition["id"]
    for row in store.read(ACCOMPANY_QUERY, {"targets": sorted(targets)}):
        orders = sorted(row["orders"])
        score_sum = sum(min(1.0, targets[order]["score"]) for order in orders)
        # The share of predicted targets involving the candidate times their mean score is this ratio.
        entry = ranking.add(row, "predicted-co-occurrence", PREDICTION_WEIGHT * score_sum / len(targets))
        entry.predicted_work_orders.extend(orders)
        for order in orders[:5]:
            entry.paths.append(EvidencePath([condition, order, row["id"]], [targets[order]["via"], "INVOLVES"]))
    return sorted(targets)


def _base_rates(store: GraphStore, equipment: list[str], candidate_ids: list[str], window_days: int) -> dict[str, float]:
    """Return, per candidate, the share of all work orders on `equipment` preceded by one involving it."""
    if not candidate_ids:
        return {}
    rows = store.read(BASE_RATE_QUERY, {"equipment": equipment, "candidates": candidate_ids, "window": window_days})
    return {row["id"]: row["preceded"] / row["total"] for row in rows if row["id"] is not None and row["total"]}


def _ancestors(edges: list[tuple[str, str]]) -> dict[str, set[str]]:
    """Return, per node, every node with a directed path to it over `edges`."""
    parents: dict[str, set[str]] = defaultdict(set)
    for source, target in edges:
        parents[target].add(source)
    result: dict[str, set[str]] = {}
    for node in list(parents):
        seen: set[str] = set()
        frontier = list(parents[node])
        while frontier:
            current = frontier.pop()
            if current not in seen:
                seen.add(current)
                frontier.extend(parents.get(current, ()))
        result[node] = seen
    return result


def _score_causal(store: GraphStore, context: _Context, lookback: timedelta, use_anomalies: bool,
                  ranking: _Ranking) -> None:
    """Score signals upstream of the observed signals over CAUSES, weighted by the time order of their events."""
    observed = [event for event in context.observed if event.signals]
    if not observed:
        return
    signals = sorted({signal for event in observed for signal in event.signals})
    rows = store.read(CAUSAL_QUERY, {"signals": signals})
    if not rows:
        return
    walk: dict[str, dict[str, dict[str, Any]]] = defaultdict(dict)
    for row in rows:
        walk[row["id"]][row["observed"]] = row

    candidate_ids = sorted(walk)
    ancestors = _ancestors([(row["source"], row["target"]) for row in store.read(
        CAUSAL_EDGES_QUERY, {"ids": candidate_ids + signals})])
    starts = [event.start_time for event in observed if event.start_time is not None]
    events: dict[str, list[TelemetryEvidence]] = defaultdict(list)
    if starts:
        tolerance = timedelta(seconds=TIME_TOLERANCE_SECONDS)
        for row in store.read(SIGNAL_EVENTS_QUERY, {"ids": candidate_ids, "anomalies": use_anomalies,
                                                    "earliest": min(starts) - lookback,
                                                    "latest": max(starts) + lookback + tolerance}):
            evidence = TelemetryEvidence(row["id"], sorted(row["labels"]), _native(row["start"]), None)
            events[row["signal"]].append(evidence)

    for key, by_observed in walk.items():
        total = 0.0
        evidence: dict[str, TelemetryEvidence] = {}
        for event in observed:
            reached = [by_observed[signal] for signal in event.signals if signal in by_observed]
            if not reached:
                continue
            nearest = min(reached, key=lambda row: row["distance"])
            factor, used = _time_factor(key, event, events, ancestors.get(key, set()), lookback)
            total += CAUSAL_DECAY ** (nearest["distance"] - 1) * factor
            for item in used:
                evidence.setdefault(item.id, item)
        if total <= 0:
            continue
        row = next(iter(by_observed.values()))
        entry = ranking.add(row, "causal", CAUSAL_WEIGHT * total / len(observed))
        for path_row in sorted(by_observed.values(), key=lambda item: item["distance"])[:MAX_EVIDENCE_ITEMS]:
            entry.paths.append(EvidencePath(path_row["nodes"], path_row["relationships"]))
        entry.events.extend(sorted(evidence.values(), key=lambda item: (item.start_time or datetime.min, item.id))
                            [:MAX_EVIDENCE_ITEMS])


def _time_factor(key: str, observed: ObservedEvent, events: dict[str, list[TelemetryEvidence]],
                 upstream: set[str], lookback: timedelta) -> tuple[float, list[TelemetryEvidence]]:
    """Return the time factor of candidate `key` for one observed event and the events it rests on."""
    if observed.start_time is None:
        return TIME_NONE, []
    tolerance = timedelta(seconds=TIME_TOLERANCE_SECONDS)
    earliest = observed.start_time - lookback
    latest = observed.start_time + tolerance
    own = [item for item in events.get(key, []) if item.start_time is not None and item.id != observed.id]
    before = [item for item in own if earliest <= item.start_time <= latest]
    if before:
        first = min(item.start_time for item in before)
        used = [TelemetryEvidence(item.id, item.classes, item.start_time,
                                  (observed.start_time - item.start_time).total_seconds()) for item in before]
        earlier_upstream = any(item.start_time is not None and earliest <= item.start_time < first
                               for signal in upstream for item in events.get(signal, []))
        return (TIME_DOWNSTREAM if earlier_upstream else TIME_BEFORE), used
    after = [item for item in own if latest < item.start_time <= observed.start_time + lookback]
    if after:
        return TIME_AFTER, [TelemetryEvidence(item.id, item.classes, item.start_time,
                                              (observed.start_time - item.start_time).total_seconds())
                            for item in after]
    return TIME_NONE, []


def _score_text(store: GraphStore, anchors: list[str], ranking: _Ranking) -> None:
    """Score candidates mentioned in the same chunks as the condition or an observed signal."""
    if not anchors:
        return
    for row in store.read(TEXT_QUERY, {"anchors": anchors, "classes": CANDIDATE_CLASSES}):
        value = TEXT_WEIGHT * min(1.0, len(row["chunks"]) / TEXT_SATURATION_CHUNKS)
        entry = ranking.add(row, "text", value)
        entry.chunks.extend(row["chunks"][:MAX_EVIDENCE_ITEMS])
        entry.documents.extend(row["documents"][:MAX_EVIDENCE_ITEMS])
        for chunk in row["chunks"][:3]:
            entry.paths.append(EvidencePath([row["anchors"][0], chunk, row["id"]], ["MENTIONS", "MENTIONS"]))


def _score_prediction(store: GraphStore, anchors: list[str], scope: list[str] | None, ranking: _Ranking) -> None:
    """Score candidates that a predicted relationship with a score names as a cause of an anchor.

    `scope` (asset keys, or None for any asset) limits the candidates that belong to an asset.
    """
    if not anchors:
        return
    best: dict[str, dict[str, Any]] = {}
    params = {"anchors": anchors, "outgoing": PREDICTED_FROM_ANCHOR, "incoming": PREDICTED_TO_ANCHOR,
              "classes": CANDIDATE_CLASSES, "scope": scope}
    for row in store.read(PREDICTION_QUERY, params):
        if row["id"] not in best or row["score"] > best[row["id"]]["score"]:
            best[row["id"]] = row
        entry = ranking.candidate(row)
        nodes = [row["anchor"], row["id"]] if row["outgoing"] else [row["id"], row["anchor"]]
        entry.paths.append(EvidencePath(nodes, [row["via"]]))
    for row in best.values():
        ranking.add(row, "prediction", PREDICTION_WEIGHT * min(1.0, max(0.0, row["score"])))
