"""Link-prediction evaluation: metric definitions, filtering, the split, Adamic–Adar and the command."""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from kg_service.evaluation.linkprediction import HitsAtK, MeanReciprocalRank, rank_true_scores, ranking_metrics
from kg_service.gnn.baselines import AdamicAdarScorer
from kg_service.gnn.evaluate import ConstantScorer, LinkGraph, rank_pairs, split_edges
from kg_service.gnn.synthetic import SYNTHETIC_TARGET, SyntheticPlantConfig, generate_plant, plant_to_hetero
from tests.conftest import ROOT

KG_SERVICE = str(Path(sys.executable).parent / "kg-service")
TARGET = ("WorkOrder", "HAS_FAILURE_MODE", "FailureMode")


class FixedTailScorer:
    """Scores a pair by its tail only: tail i scores `scores[i]`."""

    name = "fixed"

    def __init__(self, scores: list[float]) -> None:
        self.scores = np.asarray(scores, dtype=np.float64)

    def score(self, edge_type, src, dst):
        return self.scores[np.asarray(dst)]


def test_realistic_rank_of_ties():
    ranks = rank_true_scores(np.array([0.5]), np.array([[0.9, 0.5, 0.5, 0.1]]))

    assert ranks.optimistic.tolist() == [2.0]
    assert ranks.pessimistic.tolist() == [4.0]
    assert ranks.realistic.tolist() == [3.0]


def test_rank_ignores_masked_candidates():
    ranks = rank_true_scores(np.array([0.5]), np.array([[0.9, 0.8, 0.1]]), np.array([[False, True, True]]))

    assert ranks.realistic.tolist() == [2.0]


def test_metrics_match_hand_computed():
    ranks = np.array([1.0, 2.0, 4.0, 1.5])
    metrics = ranking_metrics(ranks)

    assert metrics.mrr == pytest.approx((1 + 1 / 2 + 1 / 4 + 1 / 1.5) / 4)
    assert metrics.hits_at_1 == pytest.approx(1 / 4)
    assert metrics.hits_at_3 == pytest.approx(3 / 4)
    assert metrics.hits_at_10 == pytest.approx(1.0)
    assert metrics.count == 4


def test_metric_classes_name_themselves():
    assert MeanReciprocalRank().name == "mrr"
    assert HitsAtK(3).name == "hits_at_3"
    assert math.isnan(MeanReciprocalRank()(np.array([])))


def _tiny_failure_graph() -> LinkGraph:
    # Work order 0 has failure modes 0, 1 and 2; work orders 1..3 one each, so the split has pairs to draw.
    pairs = np.array([[0, 0, 0, 1, 2, 3], [0, 1, 2, 3, 3, 3]])
    return LinkGraph({"WorkOrder": 4, "FailureMode": 4}, {TARGET: pairs})


def test_filtering_removes_other_true_tails():
    split = split_edges(_tiny_failure_graph(), [TARGET], valid_ratio=0.2, test_ratio=0.2, seed=1)
    # Put the pair (0, 2) into test whatever the seed drew, keeping every pair known.
    known = split.known_pairs(TARGET)
    test = np.array([[0], [2]])
    rest = known[:, ~((known[0] == 0) & (known[1] == 2))]
    split = split._replace(train=split.train | {TARGET: rest[:, 1:]}, valid=split.valid | {TARGET: rest[:, :1]},
                           test={TARGET: test})

    ranks = rank_pairs(split, FixedTailScorer([3.0, 2.0, 1.0, 0.0]))

    # Tails 0 and 1 score higher but are true pairs of work order 0, so they are filtered out.
    assert ranks[TARGET].tail.tolist() == [1.0]


def test_random_scorer_gets_middle_rank():
    split = split_edges(_tiny_failure_graph(), [TARGET], valid_ratio=0.2, test_ratio=0.2, seed=3)
    ranks = rank_pairs(split, ConstantScorer())

    assert np.all(ranks[TARGET].tail >= 1.0)
    assert np.all(ranks[TARGET].tail <= 4.0)


def test_split_is_disjoint_and_complete():
    plant = generate_plant(SyntheticPlantConfig.for_edges(1000))
    split = split_edges(plant.graph, [SYNTHETIC_TARGET], seed=7)
    parts = [split.train[SYNTHETIC_TARGET], split.valid[SYNTHETIC_TARGET], split.test[SYNTHETIC_TARGET]]
    codes = [set((pairs[0] * 1_000_000 + pairs[1]).tolist()) for pairs in parts]
    unique = np.unique(plant.graph.edges[SYNTHETIC_TARGET], axis=1)

    assert not codes[0] & codes[1]
    assert not codes[0] & codes[2]
    assert not codes[1] & codes[2]
    assert sum(len(part) for part in codes) == unique.shape[1]


def test_split_depends_on_seed():
    plant = generate_plant(SyntheticPlantConfig.for_edges(1000))
    first = split_edges(plant.graph, [SYNTHETIC_TARGET], seed=1).test[SYNTHETIC_TARGET]
    second = split_edges(plant.graph, [SYNTHETIC_TARGET], seed=2).test[SYNTHETIC_TARGET]
    again = split_edges(plant.graph, [SYNTHETIC_TARGET], seed=1).test[SYNTHETIC_TARGET]

    assert np.array_equal(first, again)
    assert not np.array_equal(first, second)


def test_training_data_hides_held_out_edges():
    from kg_service.gnn.evaluate_gnn import training_data

    plant = generate_plant(SyntheticPlantConfig.for_edges(1000))
    data = plant_to_hetero(plant)
    split = split_edges(plant.graph, [SYNTHETIC_TARGET], seed=7)
    train = training_data(data, split)
    held_out = np.concatenate([split.valid[SYNTHETIC_TARGET], split.test[SYNTHETIC_TARGET]], axis=1)
    held_codes = set((held_out[0] * 1_000_000 + held_out[1]).tolist())
    forward = train[SYNTHETIC_TARGET].edge_index.numpy()
    reverse = train["FailureMode", "rev_HAS_FAILURE_MODE", "WorkOrder"].edge_index.numpy()

    assert not held_codes & set((forward[0] * 1_000_000 + forward[1]).tolist())
    assert not held_codes & set((reverse[1] * 1_000_000 + reverse[0]).tolist())
    assert forward.shape[1] == split.train[SYNTHETIC_TARGET].shape[1]


def test_train_graph_keeps_other_types():
    plant = generate_plant(SyntheticPlantConfig.for_edges(1000))
    split = split_edges(plant.graph, [SYNTHETIC_TARGET], seed=7)
    train = split.train_graph()
    other = ("WorkOrder", "FOR_ASSET", "Equipment")

    assert train.edges[other].shape == plant.graph.edges[other].shape
    assert train.edges[SYNTHETIC_TARGET].shape[1] < plant.graph.edges[SYNTHETIC_TARGET].shape[1]


def test_adamic_adar_on_tiny_graph():
    # a-b, a-c, b-d, c-d, c-e: a and d share b (degree 2) and c (degree 3).
    names = {"a": 0, "b": 1, "c": 2, "d": 3, "e": 4}
    edges = [("a", "b"), ("a", "c"), ("b", "d"), ("c", "d"), ("c", "e")]
    pairs = np.array([[names[x] for x, _ in edges], [names[y] for _, y in edges]])
    scorer = AdamicAdarScorer(LinkGraph({"N": 5}, {("N", "R", "N"): pairs}))
    edge_type = ("N", "R", "N")

    scores = scorer.score(edge_type, np.array([0, 0, 1, 4]), np.array([3, 4, 2, 1]))

    assert scores[0] == pytest.approx(1 / math.log(2) + 1 / math.log(3))
    assert scores[1] == pytest.approx(1 / math.log(3))
    assert scores[2] == pytest.approx(1 / math.log(2) + 1 / math.log(2))
    assert scores[3] == pytest.approx(0.0)


def test_synthetic_plant_reaches_size():
    config = SyntheticPlantConfig.for_edges(10_000)
    plant = generate_plant(config)

    assert 8_000 <= plant.graph.num_edges <= 12_000
    assert plant.graph.num_nodes["WorkOrder"] == config.work_orders


@pytest.mark.neo4j
def test_evaluate_command_json(core_graph):
    env = os.environ.copy()
    result = subprocess.run(
        [KG_SERVICE, "evaluate", "link-prediction", "--graph", "synthetic", "--synthetic-edges", "1500",
         "--models", "gnn,random", "--gnn-epochs", "8", "--text-encoder", "hashing", "--torch-threads", "1",
         "--json"],
        capture_output=True, text=True, cwd=ROOT, env=env, timeout=300)
    assert result.returncode == 0, result.stderr[-2000:]
    report = json.loads(result.stdout)
    by_model = {entry["model"]: entry for entry in report["results"]}

    for entry in report["results"]:
        for field in ("mrr", "hits_at_1", "hits_at_3", "hits_at_10"):
            assert 0.0 <= entry["both"][field] <= 1.0, (entry["model"], field)
    assert by_model["gnn-rgcn"]["tail"]["mrr"] > by_model["random"]["tail"]["mrr"]
    assert report["target_types"] == ["WorkOrder|HAS_FAILURE_MODE|FailureMode"]


@pytest.mark.neo4j
def test_evaluate_command_rejects_model(core_graph):
    result = subprocess.run([KG_SERVICE, "evaluate", "link-prediction", "--graph", "synthetic", "--models", "bogus"],
                            capture_output=True, text=True, cwd=ROOT, env=os.environ.copy(), timeout=120)

    assert result.returncode == 1
    assert "bogus" in result.stderr
