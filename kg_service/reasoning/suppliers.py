"""Supplier KPIs from the delivery history and the graph, and supplier ranking with decision methods.

Delivery KPIs come from each supplier's purchase order lines and their deliveries. They are
the shipment count, the on-time rate (share of deliveries with a delay of 0 days or less), the
mean and sample standard deviation of the delay in days, the mean lateness in days (the mean of
max(delay, 0), so an early delivery counts as 0 and cannot make up for a late one), the mean unit
price and the freight share (known freight cost over the value of the same lines).

Graph KPIs come from what the graph links to the supplier's parts. They count nonconformances
(Nonconformance CONCERNS_PART), failures (work orders with a failure mode that involve a
component INSTANCE_OF_PART one of its parts), single-source parts (parts with no other
supplier) and certifications. The country share is the share of suppliers with a known country
that are in the same country.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from kg_service.errors import DecisionInputError, QueryError
from kg_service.graph.store import GraphStore
from kg_service.reasoning import mcdm
from kg_service.reasoning.lookup import resolve_entity

logger = logging.getLogger(__name__)

# KPI name -> the direction in which it is better, used when a criterion gives none.
KPI_DIRECTIONS: dict[str, str] = {
    "shipmentCount": "benefit",
    "onTimeRate": "benefit",
    "meanDelayDays": "cost",
    "meanLatenessDays": "cost",
    "delayStdDays": "cost",
    "meanUnitPrice": "cost",
    "freightShare": "cost",
    "partCount": "benefit",
    "nonconformanceCount": "cost",
    "failureCount": "cost",
    "singleSourceParts": "cost",
    "certificationCount": "benefit",
    "countryShare": "cost",
}
KPI_NAMES = tuple(KPI_DIRECTIONS)

DELIVERY_KPI_QUERY = """
MATCH (s:Supplier)
WHERE $parts IS NULL OR EXISTS { MATCH (p:Part)-[:SUPPLIED_BY]->(s) WHERE p.id IN $parts }
CALL (s) {
  OPTIONAL MATCH (d:Delivery)-[:FULFILS]->(o:PurchaseOrder)-[:ORDERED_FROM]->(s)
  WHERE $parts IS NULL OR EXISTS { MATCH (o)-[:ORDERS_PART]->(p:Part) WHERE p.id IN $parts }
  RETURN count(d) AS shipmentCount,
         avg(CASE WHEN d.deliveryDelayDays IS NULL THEN null
                  WHEN d.deliveryDelayDays <= 0 THEN 1.0 ELSE 0.0 END) AS onTimeRate,
         avg(d.deliveryDelayDays) AS meanDelayDays,
         avg(CASE WHEN d.deliveryDelayDays IS NULL THEN null
                  WHEN d.deliveryDelayDays > 0 THEN toFloat(d.deliveryDelayDays) ELSE 0.0 END) AS meanLatenessDays,
         count(d.deliveryDelayDays) AS delayCount,
         stDev(d.deliveryDelayDays) AS delayStdDays,
         avg(o.orderUnitPrice) AS meanUnitPrice,
         sum(CASE WHEN d.freightCost IS NOT NULL AND o.lineValue IS NOT NULL THEN d.freightCost END) AS freight,
         sum(CASE WHEN d.freightCost IS NOT NULL THEN o.lineValue END) AS valueWithFreight
}
RETURN s.id AS id, s.name AS name, s.nameEn AS nameEn, s.nameZh AS nameZh, s.country AS country,
       shipmentCount, onTimeRate, meanDelayDays, meanLatenessDays, delayCount, delayStdDays, meanUnitPrice, freight,
       valueWithFreight
ORDER BY id
"""

GRAPH_KPI_QUERY = """
MATCH (s:Supplier) WHERE s.id IN $ids
CALL (s) {
  OPTIONAL MATCH (p:Part)-[:SUPPLIED_BY]->(s)
  RETURN count(DISTINCT p) AS partCount,
         count(DISTINCT CASE WHEN p IS NOT NULL AND NOT EXISTS {
           MATCH (p)-[:SUPPLIED_BY]->(other:Supplier) WHERE other <> s } THEN p END) AS singleSourceParts
}
CALL (s) {
  OPTIONAL MATCH (n:Nonconformance)-[:CONCERNS_PART]->(:Part)-[:SUPPLIED_BY]->(s)
  RETURN count(DISTINCT n) AS nonconformanceCount
}
CALL (s) {
  OPTIONAL MATCH (wo:WorkOrder)-[:INVOLVES]->(:Component)-[:INSTANCE_OF_PART]->(:Part)-[:SUPPLIED_BY]->(s)
  WHERE EXISTS { (wo)-[:HAS_FAILURE_MODE]->() }
  RETURN count(DISTINCT wo) AS failureCount
}
CALL (s) {
  OPTIONAL MATCH (s)-[:HAS_CERTIFICATION]->(c)
  RETURN count(DISTINCT c) AS certificationCount
}
RETURN s.id AS id, partCount, singleSourceParts, nonconformanceCount, failureCount, certificationCount
"""

COUNTRY_QUERY = "MATCH (s:Supplier) WHERE s.country IS NOT NULL RETURN s.country AS country, count(s) AS suppliers"


@dataclass(frozen=True)
class SupplierKpiRow:
    """One supplier's KPIs; a value is None where the data gives no basis for it."""

    supplier_id: str
    properties: dict[str, Any]
    values: dict[str, float | None]


@dataclass(frozen=True)
class SupplierKpiTable:
    """The KPI table: column names and one row per supplier, ordered by supplier key."""

    columns: list[str]
    rows: list[SupplierKpiRow]

    def row(self, supplier_id: str) -> SupplierKpiRow:
        for item in self.rows:
            if item.supplier_id == supplier_id:
                return item
        raise KeyError(supplier_id)


@dataclass(frozen=True)
class Criterion:
    """A KPI to rank by, its weight (None when AHP gives the weights) and direction (None: the KPI's default)."""

    name: str
    weight: float | None = None
    direction: str | None = None


@dataclass(frozen=True)
class Constraint:
    """A hard limit on a KPI: suppliers below `minimum` or above `maximum` are excluded."""

    criterion: str
    minimum: float | None = None
    maximum: float | None = None


@dataclass(frozen=True)
class Exclusion:
    """A supplier left out of the ranking and the reasons."""

    supplier_id: str
    properties: dict[str, Any]
    reasons: list[str]


@dataclass(frozen=True)
class SupplierRanking:
    """A decision method's result over the suppliers in its matrix rows, plus those excluded.

    `warnings` name what weakens the ranking without stopping it, such as a criterion with the
    same value for every ranked supplier.
    """

    result: mcdm.DecisionResult
    suppliers: list[SupplierKpiRow]
    excluded: list[Exclusion]
    part_ids: list[str] | None
    ahp: mcdm.AhpResult | None = None
    warnings: list[str] = field(default_factory=list)


def check_kpi_name(name: str, parameter: str) -> str:
    """Return `name` when it is a KPI, else raise QueryError naming the parameter."""
    if name not in KPI_DIRECTIONS:
        raise QueryError(f"{parameter} = {name!r} is not a supplier KPI; use one of {', '.join(KPI_NAMES)}")
    return name


def _ratio(numerator: float | None, denominator: float | None) -> float | None:
    if numerator is None or not denominator:
        return None
    return numerator / denominator


def supplier_kpis(store: GraphStore, part_ids: Sequence[str] | None = None) -> SupplierKpiTable:
    """Compute the KPI table of every supplier, or of the suppliers of `part_ids`.

    With `part_ids`, delivery KPIs count only order lines for those parts; graph KPIs always
    cover all of a supplier's parts.
    """
    parts = list(part_ids) if part_ids is not None else None
    delivery_rows = store.read(DELIVERY_KPI_QUERY, {"parts": parts})
    ids = [row["id"] for row in delivery_rows]
    graph_rows = {row["id"]: row for row in store.read(GRAPH_KPI_QUERY, {"ids": ids})}
    countries = {row["country"]: row["suppliers"] for row in store.read(COUNTRY_QUERY)}
    known_country_total = sum(countries.values())

    rows = []
    for row in delivery_rows:
        graph = graph_rows.get(row["id"], {})
        country = row["country"]
        values: dict[str, float | None] = {
            "shipmentCount": float(row["shipmentCount"]),
            "onTimeRate": row["onTimeRate"],
            "meanDelayDays": row["meanDelayDays"],
            "meanLatenessDays": row["meanLatenessDays"],
            # The sample standard deviation needs two delays; Cypher's stDev returns 0 for one.
            "delayStdDays": row["delayStdDays"] if row["delayCount"] >= 2 else None,
            "meanUnitPrice": row["meanUnitPrice"],
            "freightShare": _ratio(row["freight"], row["valueWithFreight"]),
            "partCount": float(graph.get("partCount", 0)),
            "nonconformanceCount": float(graph.get("nonconformanceCount", 0)),
            "failureCount": float(graph.get("failureCount", 0)),
            "singleSourceParts": float(graph.get("singleSourceParts", 0)),
            "certificationCount": float(graph.get("certificationCount", 0)),
            # NOTE: the SCMS delivery history does not say where a vendor is based, so after loading
            # it alone every supplier's country, and so its country share, is unknown.
            "countryShare": _ratio(countries.get(country), known_country_total) if country else None,
        }
        properties = {name: row[name] for name in ("name", "nameEn", "nameZh", "country") if row[name] is not None}
        rows.append(SupplierKpiRow(row["id"], properties, values))
    logger.debug("computed KPIs of %d suppliers (parts filter: %s)", len(rows), parts)
    return SupplierKpiTable(list(KPI_NAMES), rows)


def resolve_parts(store: GraphStore, part: str | None, category: str | None) -> list[str] | None:
    """Return the keys of the part named by `part` (key or name) and of the parts in `category`.

    None means no filter. Raises NotFoundError for an unknown part and QueryError for a
    category that no part has.
    """
    if part is None and category is None:
        return None
    if part is not None and not part.strip():
        raise QueryError("part must not be empty; pass a part key or name, or omit it")
    if category is not None and not category.strip():
        raise QueryError("category must not be empty; pass a product group such as 'ARV', or omit it")
    ids: list[str] | None = None
    if part is not None:
        ids = [resolve_entity(store, part, ["Part"])["id"]]
    if category is not None:
        in_category = [row["id"] for row in store.read(
            "MATCH (p:Part) WHERE toLower(p.productGroup) = toLower($category) RETURN p.id AS id ORDER BY id",
            {"category": category.strip()})]
        if not in_category:
            groups = [row["group"] for row in store.read(
                "MATCH (p:Part) WHERE p.productGroup IS NOT NULL RETURN DISTINCT p.productGroup AS group ORDER BY group")]
            raise QueryError(f"category = {category!r} matches no part's product group; use one of "
                             f"{', '.join(groups) or '(none loaded)'}")
        ids = in_category if ids is None else [item for item in ids if item in in_category]
        if not ids:
            raise QueryError(f"part {part!r} is not in category {category!r}; drop one of the two filters")
    return ids


def _check_criteria(criteria: Sequence[Criterion], constraints: Sequence[Constraint], ahp) -> None:
    if not criteria:
        raise QueryError("criteria must name at least one KPI")
    seen: set[str] = set()
    for index, criterion in enumerate(criteria):
        check_kpi_name(criterion.name, f"criteria[{index}].name")
        if criterion.name in seen:
            raise QueryError(f"criteria[{index}].name = {criterion.name!r} is repeated; name each KPI once")
        seen.add(criterion.name)
        if criterion.direction is not None and mcdm.normalize_direction(criterion.direction) is None:
            raise QueryError(f"criteria[{index}].direction = {criterion.direction!r} is invalid; use 'benefit' or "
                             "'cost' (any case)")
        if ahp is None and criterion.weight is None:
            raise QueryError(f"criteria[{index}].weight is missing; give every criterion a weight or pass an ahp matrix")
        if criterion.weight is not None and not criterion.weight >= 0:
            raise QueryError(f"criteria[{index}].weight = {criterion.weight} is invalid; weights must be non-negative")
    weighted = [f"criteria[{index}] ({criterion.name})" for index, criterion in enumerate(criteria)
                if criterion.weight is not None]
    if ahp is not None and weighted:
        raise QueryError(f"ahp is given, so the criteria must not carry weights, but {', '.join(weighted)} "
                         f"{'has one' if len(weighted) == 1 else 'have them'}; omit the weights to use the AHP "
                         "weights, or omit ahp to use the weights")
    for index, constraint in enumerate(constraints):
        check_kpi_name(constraint.criterion, f"constraints[{index}].criterion")
        if constraint.minimum is None and constraint.maximum is None:
            raise QueryError(f"constraints[{index}] sets neither min nor max; give at least one")
        if constraint.minimum is not None and constraint.maximum is not None and constraint.minimum > constraint.maximum:
            raise QueryError(f"constraints[{index}] ({constraint.criterion}) has min {constraint.minimum} above max "
                             f"{constraint.maximum}, so no supplier could pass it; swap min and max, or correct the "
                             "one that is wrong")


def _exclusion_reasons(row: SupplierKpiRow, criteria: Sequence[Criterion], constraints: Sequence[Constraint]) -> list[str]:
    reasons = []
    for constraint in constraints:
        value = row.values[constraint.criterion]
        if value is None:
            reasons.append(f"{constraint.criterion} is unknown, so the constraint cannot be checked")
        elif constraint.minimum is not None and value < constraint.minimum:
            reasons.append(f"{constraint.criterion} {value:.6g} is below the minimum {constraint.minimum:g}")
        elif constraint.maximum is not None and value > constraint.maximum:
            reasons.append(f"{constraint.criterion} {value:.6g} is above the maximum {constraint.maximum:g}")
    for criterion in criteria:
        if row.values[criterion.name] is None:
            reasons.append(f"{criterion.name} is unknown (no data for it)")
    return reasons


def _count(number: int, noun: str = "supplier") -> str:
    return f"{number} {noun}" if number == 1 else f"{number} {noun}s"


def _scope(part: str | None, category: str | None) -> str:
    if part is not None:
        return f" of part {part!r}"
    if category is not None:
        return f" in category {category!r}"
    return ""


def _no_supplier_message(part: str | None, category: str | None) -> str:
    """Return the error for a part filter, or a graph, that leaves no supplier at all.

    Only the message for a part or category filter advises ranking without that filter.
    """
    retry = ""
    if part is not None:
        subject = f"part {part!r} has no supplier in the graph"
        retry = ", or rank without the part filter"
    elif category is not None:
        subject = f"no part in category {category!r} has a supplier in the graph"
        retry = ", or rank without the category filter"
    else:
        subject = "the graph has no supplier"
    return (f"{subject}; a supplier is linked to a part by Part -SUPPLIED_BY-> Supplier, which 'kg-service ingest "
            "shipments' creates from a delivery history and 'kg-service ingest rdf' from kg:suppliedBy. Load "
            f"one{retry}")


def _all_excluded_message(table: SupplierKpiTable, criteria: Sequence[Criterion], constraints: Sequence[Constraint],
                          part: str | None, category: str | None) -> str:
    """Return the error for a ranking that excludes every supplier, with the count behind each cause."""
    total = len(table.rows)
    causes, advice = [], []

    # A supplier without a value for a constrained KPI counts as breaking that constraint.
    for index, constraint in enumerate(constraints):
        breaking = sum(1 for row in table.rows if _exclusion_reasons(row, [], [constraint]))
        if breaking:
            limits = [f"min {constraint.minimum:g}" if constraint.minimum is not None else "",
                      f"max {constraint.maximum:g}" if constraint.maximum is not None else ""]
            verb = "breaks" if breaking == 1 else "break"
            causes.append(f"{_count(breaking)} {verb} constraints[{index}] ({constraint.criterion} "
                          f"{' '.join(filter(None, limits))})")
    if causes:
        advice.append("relax or drop the constraints")

    missing_counts = {criterion.name: sum(1 for row in table.rows if row.values[criterion.name] is None)
                      for criterion in criteria}
    for name, missing in missing_counts.items():
        if missing:
            causes.append(f"{_count(missing)} {'has' if missing == 1 else 'have'} no value for {name}")
    if any(missing_counts.values()):
        holders = "this supplier has" if total == 1 else "these suppliers have"
        advice.append(f"rank on KPIs that {holders} values for (supplierKpis lists them)")

    head = "the only supplier" if total == 1 else f"all {total} suppliers"
    return (f"no supplier is left to rank: {head}{_scope(part, category)} {'was' if total == 1 else 'were'} "
            f"excluded. {'; '.join(causes)}. To rank {'it' if total == 1 else 'them'}, {' or '.join(advice)}")


def _constant_criteria_warnings(result: mcdm.DecisionResult) -> list[str]:
    """Return a warning for each criterion that has one value for every ranked supplier.

    Raises DecisionInputError when every criterion is so, because then no criterion distinguishes the suppliers.
    """
    rows = len(result.alternatives)
    if rows == 1:
        return [f"only 1 supplier ({result.alternatives[0]}) is left to rank, so the criteria compare nothing and "
                "it ranks first"]
    constant = mcdm.constant_criteria(result.decision_matrix)
    values = {result.criteria[index]: float(result.decision_matrix[0, index]) for index in constant}
    if len(constant) == len(result.criteria):
        named = ", ".join(f"{name} = {value:g}" for name, value in values.items())
        raise DecisionInputError(f"every criterion has the same value for all {rows} ranked suppliers ({named}), so "
                                 "no criterion can tell them apart; rank on a KPI whose values differ (supplierKpis "
                                 "lists them)")
    return [f"criterion {result.criteria[index]} has the same value ({values[result.criteria[index]]:g}) for all "
            f"{rows} ranked suppliers, so its weight {float(result.weights[index]):.3g} carries no information; drop "
            "it or rank on a KPI whose values differ" for index in constant]


def rank_suppliers(store: GraphStore, criteria: Sequence[Criterion], method: str = "TOPSIS",
                   constraints: Sequence[Constraint] = (), part: str | None = None, category: str | None = None,
                   ahp: Sequence[Sequence[float]] | None = None) -> SupplierRanking:
    """Rank suppliers on KPI criteria with TOPSIS, VIKOR or WSM after applying hard constraints.

    Suppliers that violate a constraint, or lack a value for a criterion, are excluded with
    their reasons. With `ahp`, the weights come from that pairwise comparison matrix (rows and
    columns in criteria order), and the criteria must not carry weights. A criterion with the
    same value for every ranked supplier gives a warning; when all criteria are so, it raises
    DecisionInputError.
    """
    if method.upper() not in mcdm.METHODS and method.upper() != "WEIGHTED_SUM":
        raise QueryError(f"method = {method!r} is invalid; use one of {', '.join(mcdm.METHODS)}")
    _check_criteria(criteria, constraints, ahp)

    ahp_result = None
    if ahp is not None:
        ahp_result = mcdm.ahp_weights(ahp, name="ahp")
        if len(ahp_result.weights) != len(criteria):
            raise QueryError(f"ahp is {len(ahp_result.weights)}x{len(ahp_result.weights)} but there are "
                             f"{len(criteria)} criteria; compare each pair of criteria, in criteria order")
        weights = [float(weight) for weight in ahp_result.weights]
    else:
        weights = [float(criterion.weight) for criterion in criteria]

    part_ids = resolve_parts(store, part, category)
    table = supplier_kpis(store, part_ids)
    if not table.rows:
        raise QueryError(_no_supplier_message(part, category))

    candidates, excluded = [], []
    for row in table.rows:
        reasons = _exclusion_reasons(row, criteria, constraints)
        if reasons:
            excluded.append(Exclusion(row.supplier_id, row.properties, reasons))
        else:
            candidates.append(row)
    if not candidates:
        raise QueryError(_all_excluded_message(table, criteria, constraints, part, category))

    names = [criterion.name for criterion in criteria]
    directions = [mcdm.normalize_direction(criterion.direction) or KPI_DIRECTIONS[criterion.name]
                  for criterion in criteria]
    matrix = [[row.values[name] for name in names] for row in candidates]
    result = mcdm.rank(method, matrix, weights, directions, [row.supplier_id for row in candidates], names)
    warnings = _constant_criteria_warnings(result)
    logger.info("ranked %d suppliers with %s on %s (%d excluded, %d warnings)", len(candidates), result.method,
                names, len(excluded), len(warnings))
    return SupplierRanking(result, candidates, excluded, part_ids, ahp_result, warnings)
