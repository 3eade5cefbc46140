"""GNN export, neighbour sampling, link-prediction training and write-back on a real Neo4j."""

from __future__ import annotations

import csv
import json

import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("torch_geometric")

from starlette.testclient import TestClient  # noqa: E402
from torch_geometric.data import HeteroData  # noqa: E402
from torch_geometric.loader import LinkNeighborLoader  # noqa: E402

from kg_service.api.app import create_app  # noqa: E402
from kg_service.errors import QueryError, UnknownTermError  # noqa: E402
from kg_service.gnn.checkpoints import list_versions, load_checkpoint, save_checkpoint  # noqa: E402
from kg_service.gnn.export import export_graph  # noqa: E402
from kg_service.gnn.pipeline import embed_nodes, resolve_targets, write_all_predictions  # noqa: E402
from kg_service.gnn.sampler import TorchNeighborSampler, sample_in_edges  # noqa: E402
from kg_service.gnn.train import TrainConfig, train_link_predictor  # noqa: E402
from kg_service.ingest import ingest_workorders, load_ontologies  # noqa: E402
from kg_service.ontology.schema import GraphSchema  # noqa: E402
from tests.conftest import CORE_ONTOLOGY, MAPPINGS_DIR, data_file, wipe  # noqa: E402

pytestmark = pytest.mark.neo4j

SUBSET_ROWS = 200
CLASSES = ["WorkOrder", "Equipment", "System", "Component", "FailureMode", "MaintenanceAction"]
RELATIONSHIPS = ["FOR_ASSET", "INVOLVES", "HAS_FAILURE_MODE", "HAS_ACTION", "PART_OF"]
TARGET = ("WorkOrder", "HAS_FAILURE_MODE", "FailureMode")
SMALL = dict(epochs=3, hidden_channels=16, batch_size=128, fan_out=[5, 5], num_threads=1)


@pytest.fixture(scope="module", autouse=True)
def one_thread():
    """Run torch on one thread: on a shared 2-core machine more threads only add contention."""
    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(previous)


@pytest.fixture(scope="module")
def maintkg_subset(store, settings, tmp_path_factory):
    """The first SUBSET_ROWS MaintKG work orders, loaded with the ontology."""
    with open(data_file("maintkg_pdl", "case_study_pdl.csv"), encoding="utf-8", newline="") as handle:
        rows = list(csv.reader(handle))[:SUBSET_ROWS + 1]
    path = tmp_path_factory.mktemp("gnn") / "maintkg_subset.csv"
    with open(path, "w", encoding="utf-8", newline="") as handle:
        csv.writer(handle).writerows(rows)
    wipe(store)
    load_ontologies(store, [CORE_ONTOLOGY])
    ingest_workorders(store, settings, path, MAPPINGS_DIR / "maintkg_pdl.yaml")
    return store


@pytest.fixture(scope="module")
def exported(maintkg_subset, settings):
    return export_graph(maintkg_subset, GraphSchema.from_store(maintkg_subset), CLASSES, RELATIONSHIPS,
                        settings=settings, text_encoder="hashing", batch_size=64)


@pytest.fixture(scope="module")
def trained(exported, settings, tmp_path_factory):
    """A predictor trained on the subset, saved as a checkpoint under a temporary models folder."""
    predictor = train_link_predictor(exported.data, [TARGET], TrainConfig(**SMALL))
    models_dir = tmp_path_factory.mktemp("models")
    manifest = save_checkpoint(predictor, exported, models_dir)
    return predictor, manifest, models_dir


# sampling

def tiny_graph() -> HeteroData:
    data = HeteroData()
    data["a"].x = torch.randn(5, 3)
    data["b"].x = torch.randn(4, 3)
    edge_index = torch.tensor([[0, 0, 1, 2, 3, 4, 4, 4, 3], [0, 1, 1, 2, 3, 0, 1, 2, 1]])
    data["a", "r", "b"].edge_index = edge_index
    data["b", "rev_r", "a"].edge_index = edge_index.flip(0)
    return data


def graph_pairs(data: HeteroData, edge_type) -> set[tuple[int, int]]:
    return set(map(tuple, data[edge_type].edge_index.t().tolist()))


def test_sample_in_edges_fan_out():
    colptr = torch.tensor([0, 4, 4, 10])
    positions, targets = sample_in_edges(colptr, torch.tensor([0, 1, 2]), 3, torch.Generator().manual_seed(1))
    counts = torch.bincount(targets, minlength=3).tolist()
    assert counts == [3, 0, 3]
    assert set(positions[targets == 0].tolist()) <= {0, 1, 2, 3}
    assert set(positions[targets == 2].tolist()) <= set(range(4, 10))
    assert len(set(positions.tolist())) == 6


def test_sample_in_edges_all():
    colptr = torch.tensor([0, 2, 5])
    positions, targets = sample_in_edges(colptr, torch.tensor([1, 0]), -1)
    assert sorted(positions.tolist()) == [0, 1, 2, 3, 4]
    assert targets.tolist() == [1, 1, 1, 0, 0]


def test_sampler_edges_exist_in_graph():
    data = tiny_graph()
    sampler = TorchNeighborSampler(data, [2, 2], seed=3)
    out = sampler._sample({"b": torch.tensor([1, 2])})
    edge_type = ("a", "r", "b")
    sampled = {(int(out.node["a"][row]), int(out.node["b"][col]))
               for row, col in zip(out.row[edge_type], out.col[edge_type])}
    assert sampled <= graph_pairs(data, edge_type)
    assert out.node["b"][:2].tolist() == [1, 2]


def test_sampler_respects_fan_out():
    data = tiny_graph()
    sampler = TorchNeighborSampler(data, [2, 2], seed=3)
    out = sampler._sample({"b": torch.tensor([1])})
    edge_type = ("a", "r", "b")
    first_hop = out.num_sampled_edges[edge_type][0]
    targets_first_hop = out.col[edge_type][:first_hop]
    assert first_hop == 2
    assert torch.bincount(targets_first_hop).max() <= 2


def test_loader_batches_use_graph_edges():
    data = tiny_graph()
    edge_type = ("a", "r", "b")
    loader = LinkNeighborLoader(data, num_neighbors=[2, 2], edge_label_index=(edge_type, data[edge_type].edge_index),
                                neg_sampling="binary", batch_size=4,
                                neighbor_sampler=TorchNeighborSampler(data, [2, 2], seed=1))
    batch = next(iter(loader))
    edge_index = batch[edge_type].edge_index
    pairs = {(int(batch["a"].n_id[s]), int(batch["b"].n_id[d])) for s, d in edge_index.t().tolist()}
    assert pairs <= graph_pairs(data, edge_type)
    assert batch[edge_type].edge_label.sum().item() == 4


def test_sampler_rejects_weights():
    with pytest.raises(ValueError, match="weight_attr"):
        TorchNeighborSampler(tiny_graph(), [2], weight_attr="w")


# text features

@pytest.mark.parametrize("name", ["e5", "hashing"])
def test_encoder_rows_are_normalised(name):
    from kg_service.gnn.text_features import load_encoder

    matrix = load_encoder(name).encode(["Leak", "泄漏", "Bucket"])
    assert torch.allclose(matrix.norm(dim=1), torch.ones(3), atol=1e-4)


def test_e5_matches_across_languages():
    from kg_service.gnn.text_features import load_encoder

    matrix = load_encoder("e5").encode(["hydraulic oil leak", "液压油泄漏", "bucket teeth worn"])
    similarity = matrix @ matrix.t()
    assert similarity[0, 1] > similarity[0, 2]


def test_minilm_groups_synonyms():
    from kg_service.gnn.text_features import load_encoder

    matrix = load_encoder("minilm").encode(["engine overheating", "motor running too hot", "bucket teeth worn"])
    similarity = matrix @ matrix.t()
    assert similarity[0, 1] > similarity[0, 2]


# export

def test_export_node_counts(exported, maintkg_subset):
    for label in CLASSES:
        expected = maintkg_subset.read(f"MATCH (n:{label}) RETURN count(n) AS n")[0]["n"]
        assert len(exported.node_keys.get(label, [])) == expected, label


def test_export_edge_counts(exported, maintkg_subset):
    for edge_type in exported.edge_types():
        source, rel, target = edge_type
        expected = maintkg_subset.read(f"MATCH (:{source})-[r:{rel}]->(:{target}) RETURN count(r) AS n")[0]["n"]
        assert exported.data[edge_type].num_edges == expected, edge_type


def test_export_adds_reverse_edges(exported):
    forward = exported.data["WorkOrder", "FOR_ASSET", "Equipment"].edge_index
    reverse = exported.data["Equipment", "rev_FOR_ASSET", "WorkOrder"].edge_index
    assert torch.equal(forward.flip(0), reverse)


def test_export_maps_keys_and_element_ids(exported, maintkg_subset):
    rows = maintkg_subset.read("MATCH (n:FailureMode) RETURN n.id AS key, elementId(n) AS element_id")
    for row in rows:
        index = exported.index_of("FailureMode", row["key"])
        assert exported.node_keys["FailureMode"][index] == row["key"]
        assert exported.element_ids["FailureMode"][index] == row["element_id"]


def test_export_edge_points_at_right_nodes(exported, maintkg_subset):
    row = maintkg_subset.read("MATCH (w:WorkOrder)-[:FOR_ASSET]->(e:Equipment) RETURN w.id AS w, e.id AS e "
                              "ORDER BY w.id LIMIT 1")[0]
    pair = [exported.index_of("WorkOrder", row["w"]), exported.index_of("Equipment", row["e"])]
    edges = exported.data["WorkOrder", "FOR_ASSET", "Equipment"].edge_index.t().tolist()
    assert pair in edges


def test_export_standardises_numbers(exported):
    assert "cost" in exported.numeric_features["WorkOrder"]
    column = exported.data["WorkOrder"].x[:, -len(exported.numeric_features["WorkOrder"]):]
    assert column.mean(dim=0).abs().max() < 1e-4


def test_export_rejects_predicted_type(maintkg_subset, settings):
    with pytest.raises(QueryError, match="predictions"):
        export_graph(maintkg_subset, GraphSchema.from_store(maintkg_subset), ["WorkOrder"],
                     ["PREDICTED_HAS_FAILURE_MODE"], settings=settings, text_encoder="hashing")


def test_export_rejects_unknown_class(maintkg_subset, settings):
    with pytest.raises(UnknownTermError):
        export_graph(maintkg_subset, GraphSchema.from_store(maintkg_subset), ["Equipment`) DETACH DELETE n //"],
                     [], settings=settings, text_encoder="hashing")


def test_resolve_targets_unknown(exported):
    with pytest.raises(QueryError, match="matches no exported edges"):
        resolve_targets(exported, ["SUPPLIED_BY"])


# training

def planted_graph(seed: int = 0, sources: int = 60, targets: int = 30, groups: int = 6, per_source: int = 3):
    """A bipartite graph whose edges stay inside groups; 20% of edges are held out."""
    generator = torch.Generator().manual_seed(seed)
    source_group = torch.arange(sources) % groups
    target_group = torch.arange(targets) % groups
    pairs = []
    for source in range(sources):
        members = (target_group == source_group[source]).nonzero().flatten()
        for target in members[torch.randperm(len(members), generator=generator)[:per_source]].tolist():
            pairs.append((source, target))
    edge_index = torch.tensor(pairs).t()
    order = torch.randperm(edge_index.size(1), generator=generator)
    held_out = edge_index[:, order[:len(pairs) // 5]]
    kept = edge_index[:, order[len(pairs) // 5:]]
    data = HeteroData()
    data["A"].x = torch.randn(sources, 8, generator=generator)
    data["B"].x = torch.randn(targets, 8, generator=generator)
    data["A", "R", "B"].edge_index = kept
    data["B", "rev_R", "A"].edge_index = kept.flip(0)
    return data, edge_index, held_out


def filtered_ranks(predictor, all_edges, held_out, targets: int) -> list[tuple[int, int]]:
    """Return (rank, candidate count) per held-out edge, other true edges filtered out."""
    known = set(map(tuple, all_edges.t().tolist()))
    results = []
    for source, target in held_out.t().tolist():
        scores = predictor.score(("A", "R", "B"), torch.full((targets,), source), torch.arange(targets))
        candidates = torch.tensor([(source, other) not in known or other == target for other in range(targets)])
        rank = 1 + int(((scores > scores[target]) & candidates).sum())
        results.append((rank, int(candidates.sum())))
    return results


def test_training_beats_random_mrr():
    data, all_edges, held_out = planted_graph()
    predictor = train_link_predictor(data, [("A", "R", "B")],
                                     TrainConfig(model="rgcn", epochs=30, hidden_channels=32, batch_size=64,
                                                 fan_out=[5, 5], num_threads=1))
    ranks = filtered_ranks(predictor, all_edges, held_out, 30)
    mrr = sum(1 / rank for rank, _ in ranks) / len(ranks)
    # A uniformly random ranking of n candidates has expected reciprocal rank H(n) / n.
    random_mrr = sum(sum(1 / i for i in range(1, n + 1)) / n for _, n in ranks) / len(ranks)
    assert mrr > random_mrr + 0.1


def test_training_is_repeatable(exported):
    first = train_link_predictor(exported.data, [TARGET], TrainConfig(**SMALL))
    second = train_link_predictor(exported.data, [TARGET], TrainConfig(**SMALL))
    assert first.metrics["loss_history"] == second.metrics["loss_history"]


@pytest.mark.parametrize("kind", ["sage", "hgt"])
def test_other_models_train(exported, kind):
    predictor = train_link_predictor(exported.data, [TARGET], TrainConfig(model=kind, **SMALL))
    scores = predictor.score(TARGET, torch.tensor([0, 1]), torch.tensor([0, 0]))
    assert scores.shape == (2,)
    assert bool(((scores >= 0) & (scores <= 1)).all())


def test_training_rejects_missing_target(exported):
    with pytest.raises(QueryError, match="not in the exported graph"):
        train_link_predictor(exported.data, [("Equipment", "HAS_CAUSE", "FailureMode")], TrainConfig(**SMALL))


def test_checkpoint_round_trip(trained, exported):
    predictor, manifest, models_dir = trained
    loaded, loaded_manifest, node_keys = load_checkpoint(models_dir, "latest", device="cpu")
    pairs = (torch.tensor([0, 1, 2]), torch.tensor([0, 1, 0]))
    assert list_versions(models_dir) == [manifest.version]
    assert loaded_manifest.data_hash == manifest.data_hash
    assert torch.allclose(loaded.score(TARGET, *pairs), predictor.score(TARGET, *pairs))
    assert node_keys == exported.node_keys


# write-back

def test_similar_returns_nearest_over_graphql(trained, exported, maintkg_subset, settings):
    predictor, manifest, _ = trained
    schema = GraphSchema.from_store(maintkg_subset)
    report = embed_nodes(maintkg_subset, schema, predictor, exported.node_keys, manifest.version, settings)
    assert report.nodes == sum(len(keys) for keys in exported.node_keys.values())

    embeddings = predictor.embed()
    kinds = list(exported.node_keys)
    matrix = torch.nn.functional.normalize(torch.cat([embeddings[kind] for kind in kinds]), dim=1)
    keys = [key for kind in kinds for key in exported.node_keys[kind]]
    query = keys.index(exported.node_keys["FailureMode"][0])
    similarity = matrix @ matrix[query]
    similarity[query] = -2.0
    nearest = keys[int(similarity.argmax())]

    with TestClient(create_app(settings, maintkg_subset)) as client:
        response = client.post("/graphql", json={"query": """
            query($entity: String!) { similar(entity: $entity) {
              entity { id } modelVersion
              neighbours(first: 3) { edges { node { entity { id label(lang: "zh") } score } } } } }""",
            "variables": {"entity": keys[query]}})
    body = response.json()
    assert "errors" not in body, body
    result = body["data"]["similar"]
    assert result["modelVersion"] == manifest.version
    neighbours = [edge["node"] for edge in result["neighbours"]["edges"]]
    assert len(neighbours) == 3
    assert neighbours[0]["entity"]["id"] == nearest


NEIGHBOURS = """query($key: String!, $first: Int!, $after: String) { similar(entity: $key) {
  neighbours(first: $first, after: $after) { totalCount pageInfo { hasNextPage endCursor }
                                            edges { node { entity { id } score } } } } }"""


def test_similar_pages_match_unpaged(trained, exported, maintkg_subset, settings):
    predictor, manifest, _ = trained
    embed_nodes(maintkg_subset, GraphSchema.from_store(maintkg_subset), predictor, exported.node_keys,
                manifest.version, settings)
    key = exported.node_keys["FailureMode"][0]
    with TestClient(create_app(settings, maintkg_subset)) as client:
        def page(first: int, after: str | None) -> dict:
            body = client.post("/graphql", json={"query": NEIGHBOURS, "variables": {"key": key, "first": first,
                                                                                   "after": after}}).json()
            assert "errors" not in body, body
            return body["data"]["similar"]["neighbours"]

        whole = page(6, None)
        head = page(4, None)
        tail = page(2, head["pageInfo"]["endCursor"])
    assert [edge["node"] for edge in head["edges"] + tail["edges"]] == [edge["node"] for edge in whole["edges"]]
    assert head["totalCount"] == whole["totalCount"]


def test_similar_rejects_large_first(trained, exported, maintkg_subset, settings):
    predictor, manifest, _ = trained
    embed_nodes(maintkg_subset, GraphSchema.from_store(maintkg_subset), predictor, exported.node_keys,
                manifest.version, settings)
    key = exported.node_keys["FailureMode"][0]
    query = 'query($key: String!) { similar(entity: $key) { neighbours(first: 1000) { totalCount } } }'
    with TestClient(create_app(settings, maintkg_subset)) as client:
        body = client.post("/graphql", json={"query": query, "variables": {"key": key}}).json()
    assert "first of neighbours must be between 1 and 100" in body["errors"][0]["message"]


def count(store, cypher: str) -> int:
    return store.read(cypher)[0]["n"]


def test_predictions_replace_previous_version(trained, maintkg_subset, settings):
    predictor, manifest, _ = trained
    store = maintkg_subset
    schema = GraphSchema.from_store(store)
    node_keys = load_checkpoint(trained[2])[2]
    asserted_before = count(store, "MATCH ()-[r:HAS_FAILURE_MODE]->() RETURN count(r) AS n")

    first = write_all_predictions(store, schema, predictor, node_keys, "v1", settings, top_k=2, min_score=0.0)
    assert first[0].written == count(store, "MATCH ()-[r:PREDICTED_HAS_FAILURE_MODE]->() RETURN count(r) AS n")
    assert first[0].written > 0
    assert count(store, "MATCH ()-[r:PREDICTED_HAS_FAILURE_MODE]->() WHERE r.modelVersion = 'v1' AND "
                        "r.predicted = true AND 0.0 <= r.score <= 1.0 RETURN count(r) AS n") == first[0].written
    assert count(store, "MATCH (a)-[:PREDICTED_HAS_FAILURE_MODE]->(b) WHERE (a)-[:HAS_FAILURE_MODE]->(b) "
                        "RETURN count(*) AS n") == 0

    second = write_all_predictions(store, schema, predictor, node_keys, "v2", settings, top_k=1, min_score=0.0)
    assert second[0].removed == first[0].written
    assert count(store, "MATCH ()-[r:PREDICTED_HAS_FAILURE_MODE]->() WHERE r.modelVersion = 'v1' "
                        "RETURN count(r) AS n") == 0
    assert count(store, "MATCH ()-[r:PREDICTED_HAS_FAILURE_MODE]->() RETURN count(r) AS n") == second[0].written
    assert count(store, "MATCH ()-[r:HAS_FAILURE_MODE]->() RETURN count(r) AS n") == asserted_before


def test_cli_train_embed_predict(maintkg_subset, settings):
    from typer.testing import CliRunner

    from kg_service.cli import app

    runner = CliRunner()
    trained = runner.invoke(app, ["train", "--epochs", "2", "--hidden", "16", "--text-encoder", "hashing",
                                  "--threads", "1", "--write-embeddings"])
    assert trained.exit_code == 0, trained.output
    assert "checkpoint:" in trained.output
    predicted = runner.invoke(app, ["predict", "--top-k", "1", "--min-score", "0", "--json"])
    assert predicted.exit_code == 0, predicted.output
    report = json.loads(predicted.output.strip().splitlines()[-1])[0]
    assert report["relationship_type"] == "PREDICTED_HAS_FAILURE_MODE"
    assert report["written"] == count(maintkg_subset, "MATCH ()-[r:PREDICTED_HAS_FAILURE_MODE]->() "
                                                      "RETURN count(r) AS n")


def test_cli_rejects_unknown_target(maintkg_subset):
    from typer.testing import CliRunner

    from kg_service.cli import app

    result = CliRunner().invoke(app, ["train", "--target", "NO_SUCH_TYPE", "--text-encoder", "hashing"])
    assert result.exit_code == 1
    assert "matches no exported edges" in result.output
