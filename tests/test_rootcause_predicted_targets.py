"""The `predicted-co-occurrence` source of the root-cause ranking: work orders that a graph model predicts
to record the condition, kept apart from the asserted history."""

from __future__ import annotations

from datetime import date

import pytest

from kg_service.client import KGClient
from kg_service.graph.records import GraphBatch
from kg_service.graph.store import GraphStore
from kg_service.graph.writer import BatchedWriter
from kg_service.ingest import current_schema
from kg_service.reasoning.rootcause import (PREDICTED_TARGET_MIN_SCORE, PREDICTION_WEIGHT, RootCauseQuery,
                                            RootCauseResult, rank_causes)

pytestmark = pytest.mark.neo4j

# Written as kg_service.gnn.writeback writes a predicted link: score, modelVersion and predicted = true.
PREDICTED_LINK = ("MATCH (a:Entity {{id: $source}}), (b:Entity {{id: $target}}) "
                  "CREATE (a)-[r:{type}]->(b) SET r.score = $score, r.modelVersion = 'test-model', r.predicted = true")

# (key, asset, date, parts involved). ASSERTED names the three with an asserted Overheating link.
WORK_ORDERS = [
    ("wo:ac3:asserted1", "eq:ac3", date(2024, 5, 1), ["co:ac3:filter"]),
    ("wo:ac3:asserted2", "eq:ac3", date(2024, 5, 2), ["co:ac3:filter", "co:ac3:fan"]),
    # Predicted targets on AC-3 and its fan.
    ("wo:ac3:predicted1", "eq:ac3", date(2024, 5, 3), ["co:ac3:fan"]),
    ("wo:ac3:predicted2", "co:ac3:fan", date(2024, 5, 4), ["co:ac3:fan", "co:ac3:filter"]),
    # A prediction below the threshold, one on another asset, one outside the window and one on a work
    # order that also has the asserted link: none of them is a predicted target of AC-3 in 2024.
    ("wo:ac3:weak", "eq:ac3", date(2024, 5, 5), ["co:ac3:belt"]),
    ("wo:hp02:predicted", "eq:hp02", date(2024, 5, 6), ["co:hp02:valve"]),
    ("wo:ac3:old", "eq:ac3", date(2023, 5, 1), ["co:ac3:motor"]),
    ("wo:ac3:both", "eq:ac3", date(2024, 5, 7), ["co:ac3:compressor"]),
]

ASSERTED = ["wo:ac3:asserted1", "wo:ac3:asserted2", "wo:ac3:both"]

# (relationship type, work order, score); the type is a constant, never a test input.
PREDICTIONS = [
    ("PREDICTED_HAS_FAILURE_MODE", "wo:ac3:predicted1", 0.9),
    ("PREDICTED_HAS_FAILURE_MODE", "wo:ac3:predicted2", 0.7),
    ("PREDICTED_HAS_FAILURE_MODE", "wo:ac3:weak", 0.3),
    ("PREDICTED_HAS_FAILURE_MODE", "wo:hp02:predicted", 0.95),
    ("PREDICTED_HAS_FAILURE_MODE", "wo:ac3:old", 0.9),
    ("PREDICTED_HAS_FAILURE_MODE", "wo:ac3:both", 0.8),
]

IN_2024 = {"since": "2024-01-01", "until": "2024-12-31"}
# The ranking rounds each component to 6 decimals.
ROUNDING = 1e-6


@pytest.fixture
def predicted_targets_graph(core_graph: GraphStore) -> GraphStore:
    """Compressor AC-3 and heat pump HP-02 with the WORK_ORDERS, ASSERTED Overheating links and PREDICTIONS."""
    batch = GraphBatch()
    ac3 = batch.add_node("Equipment", "eq:ac3", name="AC-3")
    hp02 = batch.add_node("Equipment", "eq:hp02", name="HP-02")
    parts = [("co:ac3:filter", "Air Filter", ac3), ("co:ac3:fan", "Fan", ac3), ("co:ac3:belt", "Belt", ac3),
             ("co:ac3:motor", "Motor", ac3), ("co:ac3:compressor", "Compressor", ac3),
             ("co:hp02:valve", "Valve", hp02)]
    for key, name, asset in parts:
        batch.add_relationship("PART_OF", batch.add_node("Component", key, name=name), asset)
    overheating = batch.add_node("FailureMode", "fm:overheating", name="Overheating")

    for key, asset, day, involved in WORK_ORDERS:
        batch.add_relationship("FOR_ASSET", batch.add_node("WorkOrder", key, date=day), asset)
        for part in involved:
            batch.add_relationship("INVOLVES", key, part)
    for key in ASSERTED:
        batch.add_relationship("HAS_FAILURE_MODE", key, overheating)
    BatchedWriter(core_graph, current_schema(core_graph)).write(batch.nodes.values(), batch.relationships.values())

    for type_, source, score in PREDICTIONS:
        core_graph.write(PREDICTED_LINK.format(type=type_),
                         {"source": source, "target": "fm:overheating", "score": score})
    return core_graph


def _rank(store: GraphStore, **arguments) -> RootCauseResult:
    query = RootCauseQuery(failure_mode="Overheating", limit=100, **arguments)
    return rank_causes(store, query)


def _by_id(result) -> dict:
    return {candidate.id: candidate for candidate in result.candidates}


def _predicted_component(result: RootCauseResult, key: str) -> float:
    """Return the candidate's predicted-co-occurrence, 0 when it is no candidate.

    A part can still be a candidate through another source, such as `precedence`.
    """
    candidate = _by_id(result).get(key)
    return candidate.component("predicted-co-occurrence") if candidate is not None else 0.0


def test_predicted_targets_listed_apart(predicted_targets_graph):
    result = _rank(predicted_targets_graph, asset="AC-3", **IN_2024)
    assert result.target_work_orders == ASSERTED
    assert result.predicted_target_work_orders == ["wo:ac3:predicted1", "wo:ac3:predicted2"]
    assert "predicted-co-occurrence" in result.sources


def test_predicted_co_occurrence_scored(predicted_targets_graph):
    by_id = _by_id(_rank(predicted_targets_graph, asset="AC-3", **IN_2024))
    # The fan is in both predicted targets (mean score 0.8), the filter in one of two (score 0.7).
    assert PREDICTED_TARGET_MIN_SCORE == 0.5
    fan = by_id["co:ac3:fan"].component("predicted-co-occurrence")
    filter_ = by_id["co:ac3:filter"].component("predicted-co-occurrence")
    assert fan == pytest.approx(PREDICTION_WEIGHT * 1.0 * 0.8, abs=ROUNDING)
    assert filter_ == pytest.approx(PREDICTION_WEIGHT * 0.5 * 0.7, abs=ROUNDING)


def test_asserted_co_occurrence_unchanged(predicted_targets_graph):
    by_id = _by_id(_rank(predicted_targets_graph, asset="AC-3", **IN_2024))
    fan = by_id["co:ac3:fan"]
    filter_ = by_id["co:ac3:filter"]
    assert fan.component("co-occurrence") == pytest.approx(1 / 3, abs=ROUNDING)
    assert filter_.component("co-occurrence") == pytest.approx(2 / 3, abs=ROUNDING)
    assert fan.work_orders == ["wo:ac3:asserted2"]
    assert filter_.work_orders == ["wo:ac3:asserted1", "wo:ac3:asserted2"]


def test_predicted_work_orders_in_evidence(predicted_targets_graph):
    fan = _by_id(_rank(predicted_targets_graph, asset="AC-3", **IN_2024))["co:ac3:fan"]
    assert fan.predicted_work_orders == ["wo:ac3:predicted1", "wo:ac3:predicted2"]
    predicted_paths = [path for path in fan.paths if "PREDICTED_HAS_FAILURE_MODE" in path.relationships]
    assert [path.nodes for path in predicted_paths] == [["fm:overheating", "wo:ac3:predicted1", "co:ac3:fan"],
                                                        ["fm:overheating", "wo:ac3:predicted2", "co:ac3:fan"]]
    assert all(path.relationships == ["PREDICTED_HAS_FAILURE_MODE", "INVOLVES"] for path in predicted_paths)
    asserted_paths = [path for path in fan.paths if path.relationships == ["INVOLVES"]]
    assert [path.nodes for path in asserted_paths] == [["wo:ac3:asserted2", "co:ac3:fan"]]


def test_prediction_below_threshold_ignored(predicted_targets_graph):
    result = _rank(predicted_targets_graph, asset="AC-3", **IN_2024)
    assert "wo:ac3:weak" not in result.predicted_target_work_orders
    assert _predicted_component(result, "co:ac3:belt") == 0.0


def test_prediction_of_other_asset_ignored(predicted_targets_graph):
    result = _rank(predicted_targets_graph, asset="AC-3", **IN_2024)
    assert "wo:hp02:predicted" not in result.predicted_target_work_orders
    assert _predicted_component(result, "co:hp02:valve") == 0.0


def test_prediction_outside_window_ignored(predicted_targets_graph):
    result = _rank(predicted_targets_graph, asset="AC-3", **IN_2024)
    assert "wo:ac3:old" not in result.predicted_target_work_orders
    assert _predicted_component(result, "co:ac3:motor") == 0.0

    whole = _rank(predicted_targets_graph, asset="AC-3")
    assert "wo:ac3:old" in whole.predicted_target_work_orders
    assert _by_id(whole)["co:ac3:motor"].component("predicted-co-occurrence") > 0


def test_asserted_and_predicted_counted_once(predicted_targets_graph):
    result = _rank(predicted_targets_graph, asset="AC-3", **IN_2024)
    assert "wo:ac3:both" in result.target_work_orders
    assert "wo:ac3:both" not in result.predicted_target_work_orders
    compressor = _by_id(result)["co:ac3:compressor"]
    assert compressor.component("co-occurrence") == pytest.approx(1 / 3, abs=ROUNDING)
    assert compressor.component("predicted-co-occurrence") == 0.0
    assert compressor.work_orders == ["wo:ac3:both"]
    assert compressor.predicted_work_orders == []


def test_predicted_targets_without_asset(predicted_targets_graph):
    result = _rank(predicted_targets_graph, **IN_2024)
    assert result.predicted_target_work_orders == ["wo:ac3:predicted1", "wo:ac3:predicted2", "wo:hp02:predicted"]
    valve = _by_id(result)["co:hp02:valve"]
    expected = PREDICTION_WEIGHT * (1 / 3) * 0.95
    assert valve.component("predicted-co-occurrence") == pytest.approx(expected, abs=ROUNDING)
    assert valve.component("co-occurrence") == 0.0


def test_predicted_targets_follow_equipment_scope(predicted_targets_graph):
    result = _rank(predicted_targets_graph, equipment=["eq:hp02"], **IN_2024)
    assert result.predicted_target_work_orders == ["wo:hp02:predicted"]
    assert _predicted_component(result, "co:ac3:fan") == 0.0


def test_client_reads_predicted_evidence(predicted_targets_graph):
    """The GraphQL fields predictedTargetWorkOrders and predictedWorkOrders reach the client's tables."""
    with KGClient(store=predicted_targets_graph) as client:
        causes = client.root_causes(asset="AC-3", failure_mode="Overheating", limit=10, **IN_2024)
    assert causes.target_work_orders == 3
    assert causes.predicted_target_work_orders == 2

    fan = causes.candidates.set_index("id").loc["co:ac3:fan"]
    assert fan["predicted-co-occurrence"] == pytest.approx(PREDICTION_WEIGHT * 0.8, abs=ROUNDING)
    assert fan["work_orders"] == 1

    evidence = causes.evidence[causes.evidence["candidate"] == "co:ac3:fan"]
    predicted = sorted(evidence[evidence["kind"] == "predicted_work_order"]["id"])
    asserted = sorted(evidence[evidence["kind"] == "work_order"]["id"])
    assert predicted == ["wo:ac3:predicted1", "wo:ac3:predicted2"]
    assert asserted == ["wo:ac3:asserted2"]
    assert causes.graph.has_edge("fm:overheating", "wo:ac3:predicted1", key="PREDICTED_HAS_FAILURE_MODE")
