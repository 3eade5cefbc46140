"""Root-cause ranking from several evidence sources, the causRCA loader and the root-cause evaluations."""

from __future__ import annotations

import csv
import json
from datetime import datetime, timedelta

import pytest
from starlette.testclient import TestClient

from kg_service.api.app import create_app
from kg_service.errors import InputDataError, QueryError
from kg_service.evaluation.rootcause import evaluate_ai4i, evaluate_failure_mode_classifier
from kg_service.graph.records import GraphBatch
from kg_service.graph.writer import BatchedWriter
from kg_service.ingest import current_schema
from kg_service.reasoning.rootcause import RootCauseQuery, rank_causes
from loaders.causrca import find_fault_runs, load_causrca, read_changes
from tests.conftest import data_file
from tests.test_cli import run_cli

pytestmark = pytest.mark.neo4j

T0 = datetime(2025, 3, 1, 8, 0, 0)


@pytest.fixture
def chain_graph(core_graph):
    """A press with signals A -> B -> C, alarms on A, B and C in that order, a document and a prediction."""
    batch = GraphBatch()
    press = batch.add_node("Equipment", "eq:press", name="Press")
    pump = batch.add_node("Component", "co:pump", name="Pump")
    valve = batch.add_node("Component", "co:valve", name="Valve")
    batch.add_relationship("PART_OF", pump, press)
    batch.add_relationship("PART_OF", valve, press)
    for name in "ABC":
        signal = batch.add_node("Signal", f"sig:{name}", name=name)
        batch.add_relationship("HAS_SIGNAL", press, signal)
    batch.add_relationship("CAUSES", "sig:A", "sig:B")
    batch.add_relationship("CAUSES", "sig:B", "sig:C")
    for offset, name in enumerate("ABC"):
        alarm = batch.add_node("Alarm", f"alarm:{name}", name=f"alarm on {name}",
                               startTime=T0 + timedelta(seconds=10 * offset))
        batch.add_relationship("INVOLVES_SIGNAL", alarm, f"sig:{name}")
        batch.add_relationship("FOR_ASSET", alarm, press)
    mode = batch.add_node("FailureMode", "fm:leak", name="Leak")
    document = batch.add_node("Document", "doc:manual", name="Press manual")
    chunk = batch.add_node("Chunk", "chunk:manual:1", text="A worn valve seal makes the press leak.")
    batch.add_relationship("HAS_CHUNK", document, chunk)
    batch.add_relationship("MENTIONS", chunk, mode)
    batch.add_relationship("MENTIONS", chunk, valve)
    BatchedWriter(core_graph, current_schema(core_graph)).write(batch.nodes.values(), batch.relationships.values())
    # Link predictions come from a graph model, outside the core ontology, so the test writes one directly.
    core_graph.write("MATCH (a:Entity {id: $a}), (b:Entity {id: $b}) MERGE (a)-[r:PREDICTED_CAUSES]->(b) "
                     "SET r.score = $score", {"a": "co:pump", "b": "fm:leak", "score": 0.8})
    return core_graph


def test_causal_chain_ranks_origin_first(chain_graph):
    result = rank_causes(chain_graph, RootCauseQuery(event="alarm:C"))
    ranked = [candidate.id for candidate in result.candidates]
    assert ranked[:2] == ["sig:A", "sig:B"]
    assert result.candidates[0].component("causal") > result.candidates[1].component("causal")
    assert result.candidates[0].paths[0].relationships == ["CAUSES", "CAUSES"]
    assert [event.id for event in result.candidates[0].events] == ["alarm:A"]


def test_causal_without_events_prefers_nearest(chain_graph):
    chain_graph.write("MATCH (a:Alarm) WHERE a.id IN ['alarm:A', 'alarm:B'] DETACH DELETE a")
    result = rank_causes(chain_graph, RootCauseQuery(event="alarm:C"))
    assert [candidate.id for candidate in result.candidates] == ["sig:B", "sig:A"]


def test_event_of_other_asset_rejected(chain_graph):
    """An event of another asset used to give an empty ranking without an error."""
    chain_graph.write("CREATE (:Entity:Asset:Equipment {id: 'eq:lathe', name: 'Lathe'})")
    with pytest.raises(QueryError, match="event alarm:C is for eq:press, not for eq:lathe"):
        rank_causes(chain_graph, RootCauseQuery(asset="eq:lathe", event="alarm:C"))
    own_asset = rank_causes(chain_graph, RootCauseQuery(asset="eq:press", event="alarm:C"))
    assert own_asset.candidates


def test_event_outside_window_rejected(chain_graph):
    with pytest.raises(QueryError, match="event alarm:C starts at 2025-03-01 08:00:20, outside the window"):
        rank_causes(chain_graph, RootCauseQuery(event="alarm:C", since=T0 - timedelta(days=2),
                                                until=T0 - timedelta(days=1)))


def test_asset_window_finds_alarms(chain_graph):
    result = rank_causes(chain_graph, RootCauseQuery(asset="Press", since=T0 + timedelta(seconds=15),
                                                     until=T0 + timedelta(minutes=1)))
    assert result.start["id"] == "eq:press"
    assert [event.id for event in result.observed_events] == ["alarm:C"]
    assert result.candidates[0].id == "sig:A"


def test_asset_window_keeps_first_alarm(chain_graph):
    result = rank_causes(chain_graph, RootCauseQuery(asset="eq:press", since=T0, until=T0 + timedelta(minutes=1)))
    assert len(result.observed_events) == 3
    assert result.candidates[0].id == "sig:A"


def test_asset_window_includes_anomalies(chain_graph):
    batch = GraphBatch()
    batch.add_node("Equipment", "eq:press", name="Press")
    batch.add_node("Signal", "sig:A", name="A")
    anomaly = batch.add_node("AnomalyEvent", "anomaly:press:A", name="anomaly on A",
                             startTime=T0 - timedelta(seconds=5))
    batch.add_relationship("INVOLVES_SIGNAL", anomaly, "sig:A")
    batch.add_relationship("FOR_ASSET", anomaly, "eq:press")
    BatchedWriter(chain_graph, current_schema(chain_graph)).write(batch.nodes.values(), batch.relationships.values())
    window = {"asset": "eq:press", "since": T0 - timedelta(minutes=1), "until": T0 + timedelta(minutes=1)}

    with_anomalies = rank_causes(chain_graph, RootCauseQuery(**window))
    without = rank_causes(chain_graph, RootCauseQuery(**window, use_anomalies=False))
    assert [event.id for event in with_anomalies.observed_events][0] == "anomaly:press:A"
    assert len(with_anomalies.observed_events) == 4
    assert "anomaly:press:A" not in [event.id for event in without.observed_events]
    assert len(without.observed_events) == 3


OBSERVED_SIGNALS = """query($since: String!, $until: String!, $eventAfter: String, $first: Int!, $after: String) {
  rootCauses(asset: "eq:press", since: $since, until: $until) {
    observedEvents(first: 1, after: $eventAfter) { pageInfo { endCursor } edges { node { id
      signals(first: $first, after: $after) { totalCount pageInfo { hasNextPage endCursor } edges { node } } } } } }
}"""


@pytest.fixture
def signals_api(chain_graph, settings):
    """The press with an anomaly event on all three signals before its alarms, served by the GraphQL API."""
    batch = GraphBatch()
    batch.add_node("Equipment", "eq:press", name="Press")
    anomaly = batch.add_node("AnomalyEvent", "anomaly:press:ABC", name="anomaly on A, B and C",
                             startTime=T0 - timedelta(seconds=5))
    for name in "ABC":
        batch.add_node("Signal", f"sig:{name}", name=name)
        batch.add_relationship("INVOLVES_SIGNAL", anomaly, f"sig:{name}")
    batch.add_relationship("FOR_ASSET", anomaly, "eq:press")
    BatchedWriter(chain_graph, current_schema(chain_graph)).write(batch.nodes.values(), batch.relationships.values())
    with TestClient(create_app(settings, chain_graph)) as client:
        yield lambda **variables: client.post("/graphql", json={"query": OBSERVED_SIGNALS, "variables": {
            "since": (T0 - timedelta(minutes=1)).isoformat(), "until": (T0 + timedelta(minutes=1)).isoformat(),
            **variables}}).json()


@pytest.mark.parametrize("first", [1, 2])
def test_signal_pages_match_ranking(signals_api, chain_graph, first):
    ranking = rank_causes(chain_graph, RootCauseQuery(asset="eq:press", since=T0 - timedelta(minutes=1),
                                                      until=T0 + timedelta(minutes=1)))
    assert [len(event.signals) for event in ranking.observed_events] == [3, 1, 1, 1]
    event_after = None
    for event in ranking.observed_events:
        keys, pages, after = [], [], None
        while True:
            body = signals_api(eventAfter=event_after, first=first, after=after)
            assert "errors" not in body, body["errors"]
            events = body["data"]["rootCauses"]["observedEvents"]
            node = events["edges"][0]["node"]
            assert node["id"] == event.id
            pages.append(node["signals"])
            keys += [edge["node"] for edge in node["signals"]["edges"]]
            if not node["signals"]["pageInfo"]["hasNextPage"]:
                break
            after = node["signals"]["pageInfo"]["endCursor"]
        assert keys == event.signals
        assert {page["totalCount"] for page in pages} == {len(event.signals)}
        assert len(pages) == -(-len(event.signals) // first)
        event_after = events["pageInfo"]["endCursor"]


def test_signal_cursor_other_event_rejected(signals_api):
    events = signals_api(eventAfter=None, first=1, after=None)["data"]["rootCauses"]["observedEvents"]
    cursor = events["edges"][0]["node"]["signals"]["pageInfo"]["endCursor"]
    body = signals_api(eventAfter=events["pageInfo"]["endCursor"], first=1, after=cursor)
    message = body["errors"][0]["message"]
    assert "belongs to another list or to a request with other arguments" in message
    assert "after of signals" in message


@pytest.mark.parametrize("first", [0, 201])
def test_signals_first_out_of_range(signals_api, first):
    body = signals_api(eventAfter=None, first=first, after=None)
    assert f"first of signals must be between 1 and 200, got {first}" in body["errors"][0]["message"]


def test_named_events_deduplicated(chain_graph):
    single = rank_causes(chain_graph, RootCauseQuery(event="alarm:C"))
    before = chain_graph.query_count
    rank_causes(chain_graph, RootCauseQuery(event="alarm:C"))
    queries_single = chain_graph.query_count - before
    before = chain_graph.query_count
    repeated = rank_causes(chain_graph, RootCauseQuery(event="alarm:C", events=["alarm:C"] * 20))
    assert chain_graph.query_count - before == queries_single
    assert [candidate.id for candidate in repeated.candidates] == [candidate.id for candidate in single.candidates]


def test_too_many_named_events_rejected(chain_graph):
    before = chain_graph.query_count
    with pytest.raises(QueryError, match="events names 21 events; name at most 20"):
        rank_causes(chain_graph, RootCauseQuery(events=[f"alarm:{index}" for index in range(21)]))
    assert chain_graph.query_count == before


def test_mechanism_paths_reach_part(chain_graph):
    batch = GraphBatch()
    batch.add_node("FailureMode", "fm:leak", name="Leak")
    mechanism = batch.add_node("FailureMechanism", "mech:seal-wear", name="Seal wear")
    batch.add_relationship("HAS_MECHANISM", "fm:leak", mechanism)
    BatchedWriter(chain_graph, current_schema(chain_graph)).write(batch.nodes.values(), batch.relationships.values())
    # No core property links a mechanism to a component, so the test writes one link directly.
    # The ranking follows any relationship between them.
    chain_graph.write("MATCH (m:Entity {id: 'mech:seal-wear'}), (c:Entity {id: 'co:valve'}) "
                      "MERGE (m)-[:AFFECTS]->(c)")

    result = rank_causes(chain_graph, RootCauseQuery(failure_mode="fm:leak"))
    by_id = {candidate.id: candidate for candidate in result.candidates}
    assert by_id["mech:seal-wear"].component("mechanism") == pytest.approx(0.5)
    assert by_id["mech:seal-wear"].paths[0].nodes == ["fm:leak", "mech:seal-wear"]
    assert by_id["mech:seal-wear"].paths[0].relationships == ["HAS_MECHANISM"]
    valve = by_id["co:valve"]
    assert valve.component("mechanism") == pytest.approx(0.25)
    mechanism_path = next(path for path in valve.paths if "mech:seal-wear" in path.nodes)
    assert mechanism_path.nodes == ["fm:leak", "mech:seal-wear", "co:valve"]
    assert mechanism_path.relationships == ["HAS_MECHANISM", "AFFECTS"]
    assert "mechanism" in result.sources


def test_prediction_adds_component(chain_graph):
    result = rank_causes(chain_graph, RootCauseQuery(failure_mode="Leak"))
    pump = next(candidate for candidate in result.candidates if candidate.id == "co:pump")
    assert pump.component("prediction") == pytest.approx(0.4)
    assert pump.paths[0].relationships == ["PREDICTED_CAUSES"]


def test_chunk_mention_adds_text(chain_graph):
    result = rank_causes(chain_graph, RootCauseQuery(failure_mode="fm:leak"))
    valve = next(candidate for candidate in result.candidates if candidate.id == "co:valve")
    assert valve.component("text") > 0
    assert valve.documents == ["doc:manual"]
    assert valve.chunks == ["chunk:manual:1"]
    assert "text" in result.sources


def test_causrca_loader_counts_match(core_graph):
    root = data_file("causrca")
    runs = [path for path in find_fault_runs(root) if path.parent.name == "exp_1" and "probe" in str(path)]
    load = load_causrca(core_graph, current_schema(core_graph), root, runs, T0)

    with (root / "expert_graph" / "all_nodes.csv").open(encoding="utf-8") as handle:
        variables = {row["label"] for row in csv.DictReader(handle)}
    with (root / "expert_graph" / "all_edges.csv").open(encoding="utf-8") as handle:
        pairs = {(row["source_label"], row["target_label"]) for row in csv.DictReader(handle)}
    alarms = sum(1 for run in runs for change in read_changes(next(run.glob("faultDataset_*.csv")))
                 if change.kind == "Alarm" and change.value == "True")

    counts = core_graph.read(
        "CALL () { MATCH (s:Signal {source: 'causrca'}) RETURN count(s) AS signals } "
        "CALL () { MATCH (:Signal)-[c:CAUSES]->(:Signal) RETURN count(c) AS edges } "
        "CALL () { MATCH (a:Alarm)-[:INVOLVES_SIGNAL]->(:Signal) RETURN count(a) AS alarms } "
        "CALL () { MATCH (s:Signal) WHERE NOT (s)<-[:HAS_SIGNAL]-(:Asset) RETURN count(s) AS orphans } "
        "RETURN signals, edges, alarms, orphans")[0]
    assert counts["signals"] == len(variables)
    assert counts["edges"] == len(pairs)
    assert counts["alarms"] == alarms
    assert counts["orphans"] == 0
    assert load.runs == [f"probe/exp_1/run_{number}" for number in range(1, 7)]


def test_causrca_probe_group_is_subgraph(core_graph):
    root = data_file("causrca")
    load_causrca(core_graph, current_schema(core_graph), root, [], T0)
    with (root / "dig_twin" / "exp_probe" / "probe_edges.csv").open(encoding="utf-8") as handle:
        pairs = [[row["source_label"], row["target_label"]] for row in csv.DictReader(handle)]
    found = core_graph.read("UNWIND $pairs AS pair "
                            "MATCH (:Signal {name: pair[0]})-[:CAUSES]->(:Signal {name: pair[1]}) "
                            "RETURN count(*) AS n", {"pairs": pairs})[0]["n"]
    assert found == len(pairs)


def test_ai4i_rules_find_modes():
    result = evaluate_ai4i(data_file("ai4i2020", "ai4i2020.csv"))
    # Measured 2026-12-04: 1.000 on the 287 HDF/PWF/OSF machines and 0.994 over all 330 flagged failures.
    assert result.rule_mode_accuracy.cases == 287
    assert result.rule_mode_accuracy.value >= 0.99
    assert result.accuracy.value >= 0.98


def test_classifier_beats_majority_baseline():
    [result] = evaluate_failure_mode_classifier(data_file("mwo2kg", "fmc"))
    assert result.accuracy.value > result.baseline_accuracy.value
    assert result.macro_f1.value > result.baseline_macro_f1.value


def test_evaluate_command_prints_json(core_graph):
    output = run_cli("evaluate", "root-cause", "--json", "--data", str(data_file("causrca")),
                     "--data", str(data_file("ai4i2020", "ai4i2020.csv")), "--data", str(data_file("mwo2kg", "fmc")))
    body = json.loads(output.stdout)
    recall = {metric["k"]: metric["value"] for metric in body["causrca"]["recall"]["causal walk + deviations"]}
    assert body["causrca"]["runs"] == 45
    assert recall[3] >= 0.9
    assert body["ai4i"]["accuracy"]["cases"] == 330
    assert 0 < body["failure_mode_classification"]["macro_f1"]["value"] <= 1


def test_failure_event_combines_sources(chain_graph):
    batch = GraphBatch()
    batch.add_node("Equipment", "eq:press", name="Press")
    batch.add_node("Signal", "sig:C", name="C")
    batch.add_node("FailureMode", "fm:leak", name="Leak")
    event = batch.add_node("FailureEvent", "failure:press:1", name="Leak on the press",
                           startTime=T0 + timedelta(seconds=30))
    batch.add_relationship("FOR_ASSET", event, "eq:press")
    batch.add_relationship("HAS_FAILURE_MODE", event, "fm:leak")
    batch.add_relationship("INVOLVES_SIGNAL", event, "sig:C")
    BatchedWriter(chain_graph, current_schema(chain_graph)).write(batch.nodes.values(), batch.relationships.values())

    result = rank_causes(chain_graph, RootCauseQuery(event="failure:press:1"))
    assert result.condition["id"] == "fm:leak"
    assert result.asset["id"] == "eq:press"
    assert result.sources == ["causal", "prediction", "text"]
    assert result.candidates[0].id == "sig:A"


def test_causrca_missing_folder_rejected(core_graph, tmp_path):
    with pytest.raises(InputDataError, match="all_nodes.csv: file not found"):
        load_causrca(core_graph, current_schema(core_graph), tmp_path, [], T0)
    assert core_graph.read("MATCH (s:Signal) RETURN count(s) AS n")[0]["n"] == 0


def test_condition_without_asset_uses_history(chain_graph):
    batch = GraphBatch()
    for label, key in [("Equipment", "eq:press"), ("Component", "co:valve"), ("Component", "co:pump"),
                       ("FailureMode", "fm:leak")]:
        batch.add_node(label, key)
    symptom = batch.add_node("Symptom", "sy:oil", name="Oil on floor")
    for number, (condition, relationship, part) in enumerate(
            [("fm:leak", "HAS_FAILURE_MODE", "co:valve"), (symptom, "HAS_SYMPTOM", "co:pump")], start=1):
        order = batch.add_node("WorkOrder", f"wo:{number}", date=T0.date() + timedelta(days=number))
        batch.add_relationship("FOR_ASSET", order, "eq:press")
        batch.add_relationship(relationship, order, condition)
        batch.add_relationship("INVOLVES", order, part)
    BatchedWriter(chain_graph, current_schema(chain_graph)).write(batch.nodes.values(), batch.relationships.values())

    by_mode = rank_causes(chain_graph, RootCauseQuery(failure_mode="Leak"))
    valve = next(candidate for candidate in by_mode.candidates if candidate.id == "co:valve")
    by_symptom = rank_causes(chain_graph, RootCauseQuery(symptom="Oil on floor"))
    assert by_mode.asset is None
    assert valve.component("co-occurrence") == 1.0
    assert valve.work_orders == ["wo:1"]
    assert by_symptom.target_work_orders == ["wo:2"]
    assert by_symptom.candidates[0].id == "co:pump"


def test_ingest_command_loads_run(core_graph):
    root = data_file("causrca")
    run = root / "dig_twin" / "exp_probe" / "exp_1" / "run_1"
    output = run_cli("ingest", "causrca", str(root), "--run", "dig_twin/exp_probe/exp_1/run_1")
    body = json.loads(output.stdout)
    alarms = sum(1 for change in read_changes(next(run.glob("faultDataset_*.csv")))
                 if change.kind == "Alarm" and change.value == "True")
    assert body["runs"] == ["probe/exp_1/run_1"]
    assert body["alarms"] == alarms
    assert body["causal_edges"] == 102
