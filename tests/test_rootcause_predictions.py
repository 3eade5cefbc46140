"""The `prediction` source of the root-cause ranking: which predicted links make a candidate a cause."""

from __future__ import annotations

from datetime import date

import pytest

from kg_service.graph.records import GraphBatch
from kg_service.graph.store import GraphStore
from kg_service.graph.writer import BatchedWriter
from kg_service.ingest import current_schema
from kg_service.reasoning.rootcause import RootCauseQuery, rank_causes, rank_root_causes

pytestmark = pytest.mark.neo4j

# Written as kg_service.gnn.writeback writes a predicted link: score, modelVersion and predicted = true.
PREDICTED_LINK = ("MATCH (a:Entity {{id: $source}}), (b:Entity {{id: $target}}) "
                  "CREATE (a)-[r:{type}]->(b) SET r.score = $score, r.modelVersion = 'test-model', r.predicted = true")

# (relationship type, source key, target key, score); the type is a constant, never a test input.
PREDICTIONS = [
    # Work orders predicted to record the condition: one of another asset, one of the asset itself.
    ("PREDICTED_HAS_FAILURE_MODE", "wo:hp02:1", "fm:overheating", 0.95),
    ("PREDICTED_HAS_FAILURE_MODE", "wo:ac3:2", "fm:overheating", 0.9),
    # Causes of the condition, in the direction that makes the candidate a cause.
    ("PREDICTED_HAS_CAUSE", "fm:overheating", "cause:dust", 0.7),
    ("PREDICTED_CAUSES", "co:ac3:filter", "fm:overheating", 0.6),
    ("PREDICTED_CAUSES", "sig:ac3:temperature", "fm:overheating", 0.5),
    # The same kind of link from parts, signals and part types of the other asset.
    ("PREDICTED_CAUSES", "co:hp02:valve", "fm:overheating", 0.9),
    ("PREDICTED_CAUSES", "sig:hp02:pressure", "fm:overheating", 0.9),
    ("PREDICTED_CAUSES", "part:seal", "fm:overheating", 0.9),
    # The condition predicted to cause the fan: the fan is a consequence, not a cause.
    ("PREDICTED_CAUSES", "fm:overheating", "co:ac3:fan", 0.9),
    # Classes that are never causes.
    ("PREDICTED_CAUSES", "doc:manual", "fm:overheating", 0.9),
    ("PREDICTED_CAUSES", "fm:leak", "fm:overheating", 0.9),
]


@pytest.fixture
def predicted_graph(core_graph: GraphStore) -> GraphStore:
    """Compressor AC-3 and heat pump HP-02, one asserted Overheating work order on AC-3, and PREDICTIONS."""
    batch = GraphBatch()
    ac3 = batch.add_node("Equipment", "eq:ac3", name="AC-3")
    hp02 = batch.add_node("Equipment", "eq:hp02", name="HP-02")
    for key, name, asset in [("co:ac3:filter", "Air Filter", ac3), ("co:ac3:fan", "Fan", ac3),
                             ("co:hp02:valve", "Valve", hp02)]:
        batch.add_relationship("PART_OF", batch.add_node("Component", key, name=name), asset)
    for key, name, asset in [("sig:ac3:temperature", "Temperature", ac3), ("sig:hp02:pressure", "Pressure", hp02)]:
        batch.add_relationship("HAS_SIGNAL", asset, batch.add_node("Signal", key, name=name))
    seal = batch.add_node("Part", "part:seal", name="Seal")
    batch.add_relationship("INSTANCE_OF_PART", "co:hp02:valve", seal)
    overheating = batch.add_node("FailureMode", "fm:overheating", name="Overheating")
    batch.add_node("FailureMode", "fm:leak", name="Leak")
    batch.add_node("FailureCause", "cause:dust", name="Dust")
    batch.add_node("Document", "doc:manual", name="Compressor manual")

    for key, asset in [("wo:ac3:1", ac3), ("wo:ac3:2", ac3), ("wo:hp02:1", hp02)]:
        batch.add_relationship("FOR_ASSET", batch.add_node("WorkOrder", key, date=date(2024, 5, 1)), asset)
    batch.add_relationship("HAS_FAILURE_MODE", "wo:ac3:1", overheating)
    batch.add_relationship("INVOLVES", "wo:ac3:1", "co:ac3:filter")
    BatchedWriter(core_graph, current_schema(core_graph)).write(batch.nodes.values(), batch.relationships.values())

    for type_, source, target, score in PREDICTIONS:
        core_graph.write(PREDICTED_LINK.format(type=type_), {"source": source, "target": target, "score": score})
    return core_graph


def _by_id(result) -> dict:
    return {candidate.id: candidate for candidate in result.candidates}


def test_predicted_work_orders_are_not_causes(predicted_graph):
    for query in [RootCauseQuery(asset="AC-3", failure_mode="Overheating", limit=100),
                  RootCauseQuery(failure_mode="Overheating", limit=100)]:
        result = rank_causes(predicted_graph, query)
        ids = set(_by_id(result))
        assert not [candidate.id for candidate in result.candidates if "WorkOrder" in candidate.classes]
        assert "wo:hp02:1" not in ids
        assert "wo:ac3:2" not in ids


def test_predicted_work_orders_not_targets(predicted_graph):
    result = rank_causes(predicted_graph, RootCauseQuery(asset="AC-3", failure_mode="Overheating"))
    assert result.target_work_orders == ["wo:ac3:1"]


def test_predictions_of_other_assets_ignored(predicted_graph):
    result = rank_root_causes(predicted_graph, "AC-3", failure_mode="Overheating", limit=100)
    ids = set(_by_id(result))
    assert "co:hp02:valve" not in ids
    assert "sig:hp02:pressure" not in ids
    assert "part:seal" not in ids


def test_predictions_of_own_asset_scored(predicted_graph):
    by_id = _by_id(rank_root_causes(predicted_graph, "AC-3", failure_mode="Overheating", limit=100))
    assert by_id["co:ac3:filter"].component("prediction") == pytest.approx(0.3)
    assert by_id["co:ac3:filter"].component("co-occurrence") == pytest.approx(1.0)
    assert by_id["sig:ac3:temperature"].component("prediction") == pytest.approx(0.25)


def test_predicted_cause_scored(predicted_graph):
    """A predicted cause is tied to no asset, so it counts with and without an asset."""
    for query in [RootCauseQuery(asset="AC-3", failure_mode="Overheating"), RootCauseQuery(failure_mode="Overheating")]:
        dust = _by_id(rank_causes(predicted_graph, query))["cause:dust"]
        assert dust.component("prediction") == pytest.approx(0.35)
        assert dust.paths[0].nodes == ["fm:overheating", "cause:dust"]
        assert dust.paths[0].relationships == ["PREDICTED_HAS_CAUSE"]


def test_predictions_without_asset_kept(predicted_graph):
    by_id = _by_id(rank_causes(predicted_graph, RootCauseQuery(failure_mode="Overheating", limit=100)))
    assert by_id["co:hp02:valve"].component("prediction") == pytest.approx(0.45)
    assert by_id["sig:hp02:pressure"].component("prediction") == pytest.approx(0.45)
    assert by_id["part:seal"].component("prediction") == pytest.approx(0.45)


def test_predictions_follow_equipment_scope(predicted_graph):
    query = RootCauseQuery(failure_mode="Overheating", equipment=["eq:hp02"], limit=100)
    ids = set(_by_id(rank_causes(predicted_graph, query)))
    assert "co:hp02:valve" in ids
    assert "part:seal" in ids
    assert "co:ac3:filter" not in ids
    assert "sig:ac3:temperature" not in ids


def test_predicted_consequence_not_cause(predicted_graph):
    ids = set(_by_id(rank_causes(predicted_graph, RootCauseQuery(failure_mode="Overheating", limit=100))))
    assert "co:ac3:fan" not in ids


def test_predicted_non_cause_classes_ignored(predicted_graph):
    ids = set(_by_id(rank_causes(predicted_graph, RootCauseQuery(failure_mode="Overheating", limit=100))))
    assert "doc:manual" not in ids
    assert "fm:leak" not in ids
