"""One causRCA fault scenario end to end: machine structure, causal edges, alarms, anomaly events, root causes."""

from __future__ import annotations

import csv
from datetime import datetime, timedelta

import pytest
from starlette.testclient import TestClient

from kg_service.api.app import create_app
from kg_service.ingest import current_schema, load_ontologies
from loaders.causrca import (RUN_SPACING, alarm_key, detect_deviations, find_fault_runs, learn_normal_profile,
                             load_causrca, read_expert_graph, read_fault_run, read_normal_recordings)
from tests.conftest import CORE_ONTOLOGY, data_file, wipe

pytestmark = pytest.mark.neo4j

START = datetime(2025, 2, 1)
GROUP = "probe"
SCENARIO = "exp_1"
ROOT_CAUSES = """
query($event: String!) {
  rootCauses(event: $event) {
    observedEvents { edges { node { id signals { edges { node } } } } }
    candidates(first: 5) { edges { node { entity { id classes label(lang: "en") } score breakdown { source value }
      paths(first: 50) { edges { node { nodes relationships } } } events(first: 50) { edges { node { id } } } } } }
  }
}
"""


def group_rows(name: str) -> list[dict[str, str]]:
    with data_file("causrca", "dig_twin", f"exp_{GROUP}", f"{GROUP}_{name}.csv").open(encoding="utf-8") as handle:
        return list(csv.DictReader(handle))


@pytest.fixture(scope="module")
def scenario(store, settings):
    """Load the expert graph and every run of the probe scenario exp_1; return the runs and their start times."""
    wipe(store)
    load_ontologies(store, [CORE_ONTOLOGY])
    root = data_file("causrca")
    all_runs = find_fault_runs(root)
    run_dirs = [path for path in all_runs if path.parent.name == SCENARIO and path.parent.parent.name == f"exp_{GROUP}"]
    load = load_causrca(store, current_schema(store), root, run_dirs, START)
    starts = {path: START + all_runs.index(path) * RUN_SPACING for path in run_dirs}
    runs = [read_fault_run(path) for path in run_dirs]
    return load, runs, starts


@pytest.fixture(scope="module")
def client(scenario, store, settings):
    with TestClient(create_app(settings, store)) as test_client:
        yield test_client


def test_scenario_loads_every_run(scenario):
    load, runs, _ = scenario
    assert len(runs) == 6
    assert load.runs == [run.key for run in runs]


def test_machine_structure_holds_group(scenario, store):
    for row in group_rows("nodes"):
        found = store.read("MATCH (s:Signal {name: $name})<-[:HAS_SIGNAL]-(part:Asset) "
                           "MATCH path = (part)-[:PART_OF*0..]->(lathe:Equipment) "
                           "RETURN part.description AS path, lathe.name AS lathe, length(path) AS depth",
                           {"name": row["label"]})
        assert len(found) == 1, row["label"]
        assert found[0]["path"] == f"Lathe/{row['path']}"
        assert found[0]["lathe"] == "Lathe"
        assert found[0]["depth"] == row["path"].count("/") + 1


def test_causal_edges_are_explained(scenario, store):
    pairs = [[row["source_label"], row["target_label"]] for row in group_rows("edges")]
    found = store.read("UNWIND $pairs AS pair "
                       "MATCH (:Signal {name: pair[0]})-[c:CAUSES]->(:Signal {name: pair[1]}) "
                       "WHERE size(c.description) > 0 RETURN count(*) AS n", {"pairs": pairs})[0]["n"]
    assert found == len(pairs)


def test_alarms_match_each_run(scenario, store):
    _, runs, starts = scenario
    for run in runs:
        intervals = run.alarm_intervals()
        rows = store.read("MATCH (a:Alarm {source: $source})-[:INVOLVES_SIGNAL]->(s:Signal) "
                          "MATCH (a)-[:FOR_ASSET]->(asset:Asset)-[:HAS_SIGNAL]->(s) "
                          "RETURN a.id AS id, s.name AS signal, a.startTime AS start ORDER BY a.id",
                          {"source": f"causrca:{run.key}"})
        assert len(rows) == len(intervals), run.key
        by_key = {row["id"]: row for row in rows}
        for number, interval in enumerate(intervals, start=1):
            row = by_key[alarm_key(run, number)]
            assert row["signal"] == interval.signal
            assert row["start"].to_native() == starts[run.path] + timedelta(seconds=interval.start)


def test_scenario_alarm_in_every_run(scenario, store):
    _, runs, _ = scenario
    for run in runs:
        raised = store.read("MATCH (a:Alarm {source: $source})-[:INVOLVES_SIGNAL]->(s:Signal) "
                            "RETURN collect(DISTINCT s.name) AS names", {"source": f"causrca:{run.key}"})[0]["names"]
        assert set(run.scenario_alarms) <= set(raised), run.key


def test_anomaly_events_match_deviations(scenario, store):
    _, runs, _ = scenario
    root = data_file("causrca")
    graph = read_expert_graph(root)
    profile = learn_normal_profile(read_normal_recordings(root), graph)
    for run in runs:
        deviations = detect_deviations(run, graph, profile)
        rows = store.read("MATCH (e:AnomalyEvent {source: $source})-[:INVOLVES_SIGNAL]->(s:Signal) "
                          "MATCH (e)-[:FOR_ASSET]->(:Asset) RETURN s.name AS signal",
                          {"source": f"causrca:{run.key}"})
        assert len(rows) == len(deviations), run.key
        assert set(run.manipulated) <= {row["signal"] for row in rows}, run.key


def test_root_causes_from_alarm(scenario, client):
    _, runs, _ = scenario
    run = runs[0]
    number = next(number for number, interval in enumerate(run.alarm_intervals(), start=1)
                  if interval.signal in run.scenario_alarms)
    response = client.post("/graphql", json={"query": ROOT_CAUSES, "variables": {"event": alarm_key(run, number)}})
    assert response.status_code == 200
    body = response.json()
    assert "errors" not in body, body.get("errors")
    result = body["data"]["rootCauses"]
    candidates = [edge["node"] for edge in result["candidates"]["edges"]]
    names = [candidate["entity"]["label"] for candidate in candidates]
    assert result["observedEvents"]["edges"][0]["node"]["id"] == alarm_key(run, number)
    assert run.manipulated[0] in names
    walked = next(candidate for candidate in candidates if candidate["entity"]["label"] == run.manipulated[0])
    assert walked["paths"]["edges"][0]["node"]["relationships"][0] == "CAUSES"
    assert walked["events"]["edges"], "the manipulated variable has no anomaly event as evidence"


def test_root_causes_from_anomaly(scenario, store):
    from kg_service.reasoning.rootcause import RootCauseQuery, rank_causes

    _, runs, _ = scenario
    event = store.read("MATCH (e:AnomalyEvent {source: $source})-[:INVOLVES_SIGNAL]->(s:Signal)<-[:CAUSES]-(:Signal) "
                       "RETURN DISTINCT e.id AS id, s.id AS signal ORDER BY id LIMIT 1",
                       {"source": f"causrca:{runs[0].key}"})
    assert event, "no anomaly event of the run involves a signal with a causal parent"
    result = rank_causes(store, RootCauseQuery(event=event[0]["id"]))
    causal = [candidate for candidate in result.candidates if candidate.component("causal") > 0]
    assert result.observed_events[0].id == event[0]["id"]
    assert causal
    for candidate in causal:
        assert set(candidate.paths[0].relationships) == {"CAUSES"}, candidate.id
        assert event[0]["signal"] in candidate.paths[0].nodes, candidate.id
