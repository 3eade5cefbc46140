"""GraphQL fields for supplier selection: the supplier KPI table and `rankSuppliers`.

`rankSuppliers` returns every table of the decision method (decision, normalised and weighted
matrices, ideal and anti-ideal, distances, scores) so a client can explain the ranking, and
the suppliers that hard constraints excluded with the reasons. The tables page by supplier
rows; the per-criterion vectors come whole with every page. Criterion names are checked
against the KPI list; none of them reaches Cypher.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
from typing import Any

import strawberry
from strawberry.types import Info

from kg_service.api.context import request_store
from kg_service.api.execution import PURE_RESOLVER
from kg_service.api.limits import Cost
from kg_service.api.paging import (Connection, Page, check_first, connection, decode_key_cursor, encode_key_cursor,
                                   fingerprint, keyset_page_info, page_info, slice_page)
from kg_service.api.types import Entity, PageInfo
from kg_service.reasoning.mcdm import AhpResult, DecisionResult
from kg_service.reasoning.suppliers import (Constraint, Criterion, SupplierKpiRow, SupplierRanking, rank_suppliers,
                                            supplier_kpis)

logger = logging.getLogger(__name__)


def _supplier(supplier_id: str, properties: dict[str, Any]) -> Entity:
    return Entity.from_row(supplier_id, ["Supplier", "Entity"], properties)


@strawberry.type(name="SupplierNamedValue", description="A named value, such as one KPI of a supplier or one distance of a ranked supplier")
class NamedValue:
    name: str
    value: float | None


@strawberry.type(name="SupplierNamedVector", description="A named vector with one value per supplier row of a tables page, in table row order")
class NamedVector:
    name: str
    values: list[float]


@strawberry.type(name="SupplierKpiRow", description="One supplier's KPIs; a value is null where the data gives no basis for it")
class SupplierKpiRowType:
    supplier: Entity
    values: list[float | None] = strawberry.field(description="KPI values in the order of the table's columns")
    kpis: list[NamedValue]


@strawberry.type
class SupplierKpiEdge:
    cursor: str
    node: SupplierKpiRowType


@strawberry.type(description="Relay-style page of the supplier KPI table, ordered by supplier key")
class SupplierKpiConnection:
    columns: list[str]
    total_count: int
    edges: list[SupplierKpiEdge]
    page_info: PageInfo


@strawberry.input(description="A KPI to rank by; direction defaults to the KPI's own ('benefit' or 'cost')")
class CriterionInput:
    name: str
    weight: float | None = strawberry.field(default=None, description="Non-negative weight; omit when ahp is given")
    direction: str | None = None


@strawberry.input(description="A hard limit on a KPI; suppliers outside [min, max] are excluded")
class ConstraintInput:
    criterion: str
    min: float | None = None
    max: float | None = None


@strawberry.type(description="A supplier's place in the ranking with its score and distances")
class RankedSupplier:
    rank: int = strawberry.field(description="1-based standard competition rank: tied scores share the best rank "
                                             "of the tie and the next rank is skipped (1, 2, 2, 4)")
    supplier: Entity
    score: float = strawberry.field(description="TOPSIS closeness, WSM weighted sum or VIKOR Q")
    distances: list[NamedValue]
    values: list[float] = strawberry.field(description="The supplier's row of the decision matrix")


@strawberry.type(description="A supplier left out of the ranking and why")
class ExcludedSupplier:
    supplier: Entity
    reasons: list[str]


@strawberry.type(name="SupplierDecisionTables", description="Every table of the decision method for one page of "
                 "supplier rows. Rows follow `alternatives` and columns follow `criteria`. The per-criterion "
                 "vectors (criteria, directions, weights, ideal, antiIdeal) are whole on every page")
class DecisionTables:
    alternatives: list[str] = strawberry.field(description="Supplier keys of this page, one per row, in the row "
                                                           "order of the whole tables")
    criteria: list[str]
    directions: list[str]
    weights: list[float] = strawberry.field(description="Criterion weights scaled to sum to 1")
    decision: list[list[float]]
    normalized: list[list[float]]
    weighted: list[list[float]]
    ideal: list[float]
    anti_ideal: list[float]
    distances: list[NamedVector]
    scores: list[float]
    total_count: int = strawberry.field(description="Rows of the whole tables: the number of ranked suppliers")
    page_info: PageInfo


@strawberry.type(name="SupplierAhpConsistency", description="AHP weights with Saaty's consistency measures")
class AhpConsistency:
    weights: list[float]
    lambda_max: float
    consistency_index: float
    random_index: float
    consistency_ratio: float


@strawberry.type(description="Relay-style page of ranked suppliers, best first")
class RankedSupplierConnection(Connection[RankedSupplier]):
    pass


@strawberry.type(description="Relay-style page of the suppliers left out of a ranking, ordered by supplier key")
class ExcludedSupplierConnection(Connection[ExcludedSupplier]):
    pass


# Default page size of `ranking` and `excluded`; either takes `first` up to 200.
SUPPLIER_PAGE = 20
# Default number of supplier rows of `tables`; `first` goes up to 200.
TABLE_ROWS_PAGE = 100


@strawberry.type(description="Suppliers ranked by a decision method, with its tables and the exclusions")
class SupplierRankingResult:
    method: str
    higher_is_better: bool = strawberry.field(description="Whether a higher score ranks better (false for VIKOR)")
    part_ids: list[str] | None = strawberry.field(description="Keys of the parts that filtered the suppliers")
    ahp: AhpConsistency | None
    warnings: list[str] = strawberry.field(description="What weakens the ranking without stopping it, such as a "
                                                       "criterion with the same value for every ranked supplier, "
                                                       "whose weight then carries no information")
    scope: strawberry.Private[dict[str, Any]]
    decision: strawberry.Private[DecisionResult]
    ranked: strawberry.Private[list[RankedSupplier]]
    excluded_items: strawberry.Private[list[ExcludedSupplier]]

    @strawberry.field(description="Every table of the method for the `first` supplier rows after `after`, in "
                                  "the row order of the whole tables (not by rank)", metadata={PURE_RESOLVER: True})
    def tables(self, first: int = TABLE_ROWS_PAGE, after: str | None = None) -> DecisionTables:
        rows = slice_page(range(len(self.decision.alternatives)), first, after,
                          fingerprint("SupplierRankingResult.tables", self.scope), "tables")
        return _tables(self.decision, rows)

    @strawberry.field(description="Suppliers by rank, best first; ranks and scores come from the whole ranking")
    def ranking(self, first: int = SUPPLIER_PAGE, after: str | None = None) -> RankedSupplierConnection:
        return connection(RankedSupplierConnection, self.ranked, first, after,
                          fingerprint("SupplierRankingResult.ranking", self.scope), "ranking")

    @strawberry.field(description="Suppliers that the hard constraints or missing KPI values left out, with the "
                                  "reasons")
    def excluded(self, first: int = SUPPLIER_PAGE, after: str | None = None) -> ExcludedSupplierConnection:
        return connection(ExcludedSupplierConnection, self.excluded_items, first, after,
                          fingerprint("SupplierRankingResult.excluded", self.scope), "excluded")


def _kpi_row(row: SupplierKpiRow, columns: list[str]) -> SupplierKpiRowType:
    return SupplierKpiRowType(supplier=_supplier(row.supplier_id, row.properties),
                              values=[row.values[name] for name in columns],
                              kpis=[NamedValue(name=name, value=row.values[name]) for name in columns])


def _matrix(values) -> list[list[float]]:
    return [[float(value) for value in row] for row in values]


def _tables(result: DecisionResult, rows: Page[int]) -> DecisionTables:
    """Return the tables of `result` for the row indexes of one page."""
    indexes = [index for _, index in rows.items]
    return DecisionTables(
        alternatives=[result.alternatives[index] for index in indexes], criteria=result.criteria,
        directions=result.directions, weights=[float(value) for value in result.weights],
        decision=_matrix(result.decision_matrix[indexes]), normalized=_matrix(result.normalized_matrix[indexes]),
        weighted=_matrix(result.weighted_matrix[indexes]), ideal=[float(value) for value in result.ideal],
        anti_ideal=[float(value) for value in result.anti_ideal],
        distances=[NamedVector(name=name, values=[float(vector[index]) for index in indexes])
                   for name, vector in result.distances.items()],
        scores=[float(result.scores[index]) for index in indexes], total_count=rows.total, page_info=page_info(rows))


def _ahp(result: AhpResult | None) -> AhpConsistency | None:
    if result is None:
        return None
    return AhpConsistency(weights=[float(value) for value in result.weights], lambda_max=result.lambda_max,
                          consistency_index=result.consistency_index, random_index=result.random_index,
                          consistency_ratio=result.consistency_ratio)


def _ranking_result(ranking: SupplierRanking, scope: dict[str, Any]) -> SupplierRankingResult:
    result = ranking.result
    ranks = result.ranks
    ranked = []
    for index in result.ranking:
        row = ranking.suppliers[index]
        ranked.append(RankedSupplier(
            rank=ranks[index], supplier=_supplier(row.supplier_id, row.properties), score=float(result.scores[index]),
            distances=[NamedValue(name=name, value=float(vector[index])) for name, vector in result.distances.items()],
            values=[float(value) for value in result.decision_matrix[index]]))
    excluded = [ExcludedSupplier(supplier=_supplier(item.supplier_id, item.properties), reasons=item.reasons)
                for item in ranking.excluded]
    return SupplierRankingResult(method=result.method, higher_is_better=result.higher_is_better,
                                 part_ids=ranking.part_ids, ahp=_ahp(ranking.ahp), warnings=ranking.warnings,
                                 scope=scope, decision=result, ranked=ranked, excluded_items=excluded)


@strawberry.type
class SupplierQuery:
    @strawberry.field(description="Supplier KPIs from the delivery history and the graph, one row per supplier",
                      directives=[Cost(weight=100)])
    async def supplier_kpis(self, info: Info, first: int = 20, after: str | None = None) -> SupplierKpiConnection:
        check_first(first, "supplierKpis")
        scope = fingerprint("supplierKpis", {})
        position = decode_key_cursor(after, scope, "supplierKpis", (str,))
        after_id = position[0] if position else None
        table = await asyncio.to_thread(supplier_kpis, request_store(info))
        rest = [row for row in table.rows if after_id is None or row.supplier_id > after_id]
        page = rest[:first]
        edges = [SupplierKpiEdge(cursor=encode_key_cursor(scope, [row.supplier_id]), node=_kpi_row(row, table.columns))
                 for row in page]
        return SupplierKpiConnection(columns=table.columns, total_count=len(table.rows), edges=edges,
                                     page_info=keyset_page_info(edges, len(rest) > len(page), after))

    @strawberry.field(description="Suppliers ranked on KPI criteria by TOPSIS (default), VIKOR or WSM, optionally for "
                                  "one part or product group, after hard constraints",
                      directives=[Cost(weight=200)])
    async def rank_suppliers(self, info: Info, criteria: list[CriterionInput], part: str | None = None,
                             category: str | None = None, method: str = "TOPSIS",
                             constraints: list[ConstraintInput] | None = None,
                             ahp: list[list[float]] | None = None) -> SupplierRankingResult:
        criteria_values = [Criterion(item.name, item.weight, item.direction) for item in criteria]
        constraint_values = [Constraint(item.criterion, item.min, item.max) for item in constraints or []]
        ranking = await asyncio.to_thread(rank_suppliers, request_store(info), criteria_values, method,
                                          constraint_values, part, category, ahp)
        scope = {"criteria": [dataclasses.asdict(item) for item in criteria], "part": part, "category": category,
                 "method": method, "constraints": [dataclasses.asdict(item) for item in constraints or []],
                 "ahp": ahp}
        return _ranking_result(ranking, scope)


query_type = SupplierQuery
