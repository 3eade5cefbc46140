"""Root-cause ranking from the asserted failure history.

For an asset and a condition (a failure mode or a symptom), the target work orders are those
on the asset, or on anything part of it, that record the condition. Each system, component
and failure mechanism or cause is a candidate, scored from two sources:

- `co-occurrence`: the share of target work orders that involve the candidate;
- `precedence`: how much more often target work orders are preceded, within `window_days` on
  the same equipment, by a work order involving the candidate than work orders on that
  equipment in general are (the share for targets minus the base share, floored at 0),
  weighted by `PRECEDENCE_WEIGHT`. Busy assets have some work order before nearly everything,
  so only the excess over the base share is evidence.
- `mechanism`: `MECHANISM_WEIGHT` for each failure mechanism or cause that the graph links to
  the failure mode.

The score is the weighted sum; its breakdown by source and the evidence work orders and paths
come with every candidate.
"""

from __future__ import annotations

import logging
from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any

from kg_service.errors import QueryError
from kg_service.graph.store import GraphStore
from kg_service.reasoning.lookup import display_name, resolve_entity

logger = logging.getLogger(__name__)

PRECEDENCE_WEIGHT = 0.5
# A mechanism or cause linked to the failure mode is general knowledge, not this asset's history,
# so it counts half as much as a part involved in every target work order.
MECHANISM_WEIGHT = 0.5
MAX_WINDOW_DAYS = 3650
MAX_CANDIDATES = 100
ASSET_CLASSES = ["Equipment", "System", "Component", "ProductionLine", "Site", "Asset"]
CONDITION_CLASSES = ["FailureMode", "Symptom", "Observation"]


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
class RootCauseCandidate:
    """A ranked candidate cause with its score breakdown and evidence."""

    id: str
    classes: list[str]
    properties: dict[str, Any]
    score: float
    breakdown: list[ScoreComponent]
    work_orders: list[str] = field(default_factory=list)
    preceding_work_orders: list[str] = field(default_factory=list)
    paths: list[EvidencePath] = field(default_factory=list)

    def name(self, lang: str = "en") -> str | None:
        return display_name(self.properties, lang)


@dataclass
class RootCauseResult:
    asset: dict[str, Any]
    condition: dict[str, Any]
    target_work_orders: list[str]
    candidates: list[RootCauseCandidate]


TARGETS_QUERY = """
MATCH (asset:Entity {id: $asset}), (condition:Entity {id: $condition})
MATCH (wo:WorkOrder)-[:FOR_ASSET]->(equipment)
WHERE (equipment = asset OR (equipment)-[:PART_OF*1..4]->(asset))
  AND ($since IS NULL OR wo.date >= date($since)) AND ($until IS NULL OR wo.date <= date($until))
MATCH (wo)-[:HAS_FAILURE_MODE|HAS_SYMPTOM]->(condition)
RETURN DISTINCT wo.id AS id, wo.date AS date, equipment.id AS equipment
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


def rank_root_causes(store: GraphStore, asset: str, failure_mode: str | None = None, symptom: str | None = None,
                     window_days: int = 30, limit: int = 10, since: str | None = None,
                     until: str | None = None) -> RootCauseResult:
    """Rank candidate causes of `failure_mode` or `symptom` on `asset` (keys or names)."""
    if (failure_mode is None) == (symptom is None):
        raise QueryError("give exactly one of failureMode or symptom")
    if not 0 <= window_days <= MAX_WINDOW_DAYS:
        raise QueryError(f"windowDays must be between 0 and {MAX_WINDOW_DAYS}, got {window_days}")
    if not 1 <= limit <= MAX_CANDIDATES:
        raise QueryError(f"limit must be between 1 and {MAX_CANDIDATES}, got {limit}")

    asset_row = resolve_entity(store, asset, ASSET_CLASSES)
    condition_classes = ["FailureMode"] if failure_mode is not None else ["Symptom", "Observation"]
    condition_row = resolve_entity(store, failure_mode if failure_mode is not None else symptom, condition_classes)
    targets = store.read(TARGETS_QUERY, {"asset": asset_row["id"], "condition": condition_row["id"],
                                         "since": since, "until": until})
    target_ids = [row["id"] for row in targets]
    logger.info("root cause of %s on %s: %d target work orders", condition_row["id"], asset_row["id"], len(target_ids))
    if not target_ids:
        return RootCauseResult(asset_row, condition_row, [], [])

    candidates: dict[str, RootCauseCandidate] = {}
    scores: dict[str, dict[str, float]] = defaultdict(dict)
    total = len(target_ids)

    def candidate(row: dict[str, Any]) -> RootCauseCandidate:
        if row["id"] not in candidates:
            candidates[row["id"]] = RootCauseCandidate(row["id"], sorted(row["labels"]), row["props"], 0.0, [])
        return candidates[row["id"]]

    for row in store.read(ACCOMPANY_QUERY, {"targets": target_ids}):
        entry = candidate(row)
        scores[row["id"]]["co-occurrence"] = len(row["orders"]) / total
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
        entry = candidate(row)
        scores[row["id"]]["precedence"] = PRECEDENCE_WEIGHT * excess
        entry.preceding_work_orders.extend(row["earlier"])

    if failure_mode is not None:
        for row in store.read(MECHANISM_QUERY, {"condition": condition_row["id"]}):
            entry = candidate(row)
            scores[row["id"]]["mechanism"] = MECHANISM_WEIGHT
            entry.paths.append(EvidencePath([condition_row["id"], row["id"]], [row["via"]]))

    for key, entry in candidates.items():
        entry.breakdown = [ScoreComponent(source, round(value, 6)) for source, value in sorted(scores[key].items())]
        entry.score = round(sum(scores[key].values()), 6)
        entry.work_orders = sorted(set(entry.work_orders))
        entry.preceding_work_orders = sorted(set(entry.preceding_work_orders) - set(entry.work_orders))

    ranked = sorted(candidates.values(), key=lambda item: (-item.score, item.id))[:limit]
    return RootCauseResult(asset_row, condition_row, target_ids, ranked)


def _base_rates(store: GraphStore, equipment: list[str], candidate_ids: list[str], window_days: int) -> dict[str, float]:
    """Return, per candidate, the share of all work orders on `equipment` preceded by one involving it."""
    if not candidate_ids:
        return {}
    rows = store.read(BASE_RATE_QUERY, {"equipment": equipment, "candidates": candidate_ids, "window": window_days})
    return {row["id"]: row["preceded"] / row["total"] for row in rows if row["id"] is not None and row["total"]}
