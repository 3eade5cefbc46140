"""Held-out style inputs of `kg-service evaluate`: renamed failure-mode files, partial causRCA layouts, MaintIE files.

Every layout is built in tmp_path from copies of one or two files or runs of the shared data.
"""

from __future__ import annotations

import json
import logging
import shutil
from pathlib import Path

import pytest
from typer.testing import CliRunner

from kg_service.cli import app
from kg_service.errors import GraphStoreError, InputDataError
from kg_service.evaluation.extraction import load_gold
from kg_service.evaluation.rootcause import (detect_kind, evaluate_causrca, evaluate_failure_mode_classifier,
                                             failure_mode_files)
from kg_service.graph.records import GraphBatch
from kg_service.graph.writer import BatchedWriter
from kg_service.ingest import current_schema
from loaders.causrca import read_fault_run, run_key
from tests.conftest import DATA_DIR, data_file

SHARED_TRAIN = DATA_DIR / "mwo2kg" / "fmc" / "train.txt"
SHARED_CAUSRCA = DATA_DIR / "causrca"


def invoke(*args: str):
    return CliRunner().invoke(app, list(args))


def root_cause_json(*args: str) -> dict:
    result = invoke("evaluate", "root-cause", "--json", *args)
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout.strip().splitlines()[-1])


def dev_lines() -> list[str]:
    return [line for line in data_file("mwo2kg", "fmc", "dev.txt").read_text(encoding="utf-8").splitlines()
            if line.strip()]


# MWO2KG failure-mode files

def test_renamed_file_trains_on_shared_split(tmp_path: Path) -> None:
    scored = tmp_path / "test.csv"
    shutil.copy(data_file("mwo2kg", "fmc", "dev.txt"), scored)

    body = root_cause_json("--data", str(scored))

    result = body["failure_mode_classification"]
    assert result["data"] == str(scored)
    assert result["train_file"] == str(SHARED_TRAIN)
    assert result["dev_examples"] == len(dev_lines())
    assert result["accuracy"]["cases"] == len(dev_lines())
    assert body["failure_mode_classifications"] == [result]


def test_train_file_beside_scored_file(tmp_path: Path) -> None:
    lines = dev_lines()
    shutil.copy(SHARED_TRAIN, tmp_path / "train.txt")
    (tmp_path / "heldout.txt").write_text("\n".join(lines[:20]) + "\n", encoding="utf-8")

    result = root_cause_json("--data", str(tmp_path / "heldout.txt"))["failure_mode_classification"]

    assert result["train_file"] == str(tmp_path / "train.txt")
    assert result["dev_examples"] == 20


def test_folder_scores_dev_and_test(tmp_path: Path) -> None:
    lines = dev_lines()
    shutil.copy(SHARED_TRAIN, tmp_path / "train.txt")
    (tmp_path / "dev.txt").write_text("\n".join(lines[:30]), encoding="utf-8")
    (tmp_path / "test.txt").write_text("\n".join(lines[30:]), encoding="utf-8")

    body = root_cause_json("--data", str(tmp_path))

    scored = [(item["data"], item["dev_examples"]) for item in body["failure_mode_classifications"]]
    assert scored == [(str(tmp_path / "dev.txt"), 30), (str(tmp_path / "test.txt"), len(lines) - 30)]
    assert body["failure_mode_classification"]["data"] == str(tmp_path / "test.txt")
    assert {item["train_file"] for item in body["failure_mode_classifications"]} == {str(tmp_path / "train.txt")}


def test_train_option_overrides_default(tmp_path: Path) -> None:
    train = tmp_path / "other" / "my_training.csv"
    train.parent.mkdir()
    shutil.copy(SHARED_TRAIN, train)
    shutil.copy(data_file("mwo2kg", "fmc", "dev.txt"), tmp_path / "dev.txt")
    (tmp_path / "train.txt").write_text("pump leaking,Leakage\n", encoding="utf-8")

    result = root_cause_json("--data", str(tmp_path / "dev.txt"), "--train", str(train))

    assert result["failure_mode_classification"]["train_file"] == str(train)
    assert result["failure_mode_classification"]["train_examples"] > 500


def test_scoring_training_file_rejected(tmp_path: Path) -> None:
    copy = tmp_path / "test.txt"
    shutil.copy(SHARED_TRAIN, copy)

    same = invoke("evaluate", "root-cause", "--data", str(SHARED_TRAIN))
    copied = invoke("evaluate", "root-cause", "--data", str(copy), "--train", str(SHARED_TRAIN))

    assert same.exit_code == 1
    assert "the file to score is the training file" in same.output
    assert copied.exit_code == 1
    assert str(copy) in copied.output


def test_unseen_labels_count_as_errors(tmp_path: Path) -> None:
    lines = dev_lines()[:10] + ["hydraulic hose burst open,Label never seen in training"]
    scored = tmp_path / "test.txt"
    scored.write_text("\n".join(lines), encoding="utf-8")

    result = root_cause_json("--data", str(scored))["failure_mode_classification"]

    assert result["unseen_labels"] == ["Label never seen in training"]
    assert result["unseen_label_examples"] == 1
    assert result["accuracy"]["cases"] == 11
    assert result["accuracy"]["correct"] <= 10


def test_missing_training_file_names_option(tmp_path: Path) -> None:
    scored = tmp_path / "test.txt"
    shutil.copy(data_file("mwo2kg", "fmc", "dev.txt"), scored)

    with pytest.raises(InputDataError, match="--train") as caught:
        failure_mode_files(scored, None, tmp_path / "no-data")

    assert str(scored) in str(caught.value)


def test_header_and_quoted_lines_read(tmp_path: Path) -> None:
    scored = tmp_path / "test.csv"
    scored.write_text('observation,failure mode\n"leaking, badly",Leakage\nnoisy bearing,Noise\n', encoding="utf-8")

    result = root_cause_json("--data", str(scored))["failure_mode_classification"]

    assert result["dev_examples"] == 2
    assert "failure mode" not in result["unseen_labels"]


def test_file_kind_from_content(tmp_path: Path) -> None:
    ai4i_rows = data_file("ai4i2020", "ai4i2020.csv").read_text(encoding="utf-8").splitlines()[:50]
    ai4i_as_txt = tmp_path / "machines.txt"
    ai4i_as_txt.write_text("\n".join(ai4i_rows) + "\n", encoding="utf-8")
    observations_as_csv = tmp_path / "test.csv"
    shutil.copy(data_file("mwo2kg", "fmc", "dev.txt"), observations_as_csv)

    assert detect_kind(ai4i_as_txt) == "ai4i"
    assert detect_kind(observations_as_csv) == "mwo2kg"


def test_unusable_folder_error(tmp_path: Path) -> None:
    (tmp_path / "notes.md").write_text("nothing to score\n", encoding="utf-8")

    result = invoke("evaluate", "root-cause", "--data", str(tmp_path))

    assert result.exit_code == 1
    assert str(tmp_path) in result.output
    assert "no causRCA fault runs" in result.output
    assert "train.txt" in result.output


# causRCA layouts

def copy_run(target_scenario: Path, group: str, scenario: str, run: str, new_group: str | None = None,
             description_name: str | None = None) -> Path:
    """Copy one shared run and its scenario description into `target_scenario`; optionally rename the group.

    The description is saved as `description_name`, by default `<target folder name>_description.json`.
    """
    source = SHARED_CAUSRCA / "dig_twin" / f"exp_{group}" / scenario
    target_scenario.mkdir(parents=True, exist_ok=True)
    description = json.loads((source / f"{scenario}_description.json").read_text(encoding="utf-8"))
    if new_group is not None:
        description["group"] = new_group
    name = description_name or f"{target_scenario.name}_description.json"
    (target_scenario / name).write_text(json.dumps(description), encoding="utf-8")
    shutil.copytree(source / run, target_scenario / run)
    return target_scenario / run


def test_causrca_layout_kinds_detected(tmp_path: Path) -> None:
    copy_run(tmp_path / "exp_probe" / "exp_1", "probe", "exp_1", "run_1")

    assert detect_kind(tmp_path / "exp_probe") == "causrca"
    assert detect_kind(tmp_path / "exp_probe" / "exp_1") == "causrca"
    assert detect_kind(tmp_path / "exp_probe" / "exp_1" / "run_1") == "causrca"


@pytest.mark.neo4j
def test_scenario_folder_uses_shared_graph(core_graph, tmp_path: Path) -> None:
    scenario = tmp_path / "exp_1"
    copy_run(scenario, "probe", "exp_1", "run_1")
    copy_run(scenario, "probe", "exp_1", "run_2")

    body = root_cause_json("--data", str(scenario))["causrca"]

    assert body["runs"] == 2
    assert body["causal_graph_source"] == "default"
    assert body["causal_graph"] == str(SHARED_CAUSRCA)
    assert body["normal_recordings"] == str(SHARED_CAUSRCA)
    assert set(body["recall"]) == {"causal walk", "causal walk + deviations"}


@pytest.mark.neo4j
def test_dig_twin_without_expert_graph(core_graph, tmp_path: Path) -> None:
    copy_run(tmp_path / "dig_twin" / "exp_probe" / "exp_4", "probe", "exp_4", "run_1")

    result = evaluate_causrca(core_graph, current_schema(core_graph), tmp_path, data_dir=DATA_DIR)

    assert result.runs == 1
    assert [item.run for item in result.rankings] == ["probe/exp_4/run_1"]
    assert result.causal_graph_source == "default"


@pytest.mark.neo4j
def test_own_expert_graph_preferred(core_graph, tmp_path: Path) -> None:
    shutil.copytree(SHARED_CAUSRCA / "expert_graph", tmp_path / "expert_graph")
    copy_run(tmp_path / "dig_twin" / "exp_probe" / "exp_1", "probe", "exp_1", "run_1")

    own = evaluate_causrca(core_graph, current_schema(core_graph), tmp_path, data_dir=DATA_DIR)
    chosen = evaluate_causrca(core_graph, current_schema(core_graph), tmp_path / "dig_twin",
                              causal_graph=SHARED_CAUSRCA / "expert_graph", data_dir=DATA_DIR)

    assert (own.causal_graph, own.causal_graph_source) == (str(tmp_path.resolve()), "input")
    assert (chosen.causal_graph, chosen.causal_graph_source) == (str(SHARED_CAUSRCA), "option")
    assert own.runs == chosen.runs == 1


@pytest.mark.neo4j
def test_no_normal_recordings_scores_walk(core_graph, tmp_path: Path) -> None:
    shutil.copytree(SHARED_CAUSRCA / "expert_graph", tmp_path / "expert_graph")
    copy_run(tmp_path / "dig_twin" / "exp_probe" / "exp_1", "probe", "exp_1", "run_1")

    result = evaluate_causrca(core_graph, current_schema(core_graph), tmp_path, data_dir=tmp_path / "no-data")

    assert result.normal_recordings is None
    assert list(result.recall) == ["causal walk"]
    assert result.runs == 1


@pytest.mark.neo4j
def test_new_group_rerun_changes_nothing(core_graph, tmp_path: Path) -> None:
    group = tmp_path / "exp_hydro"
    copy_run(group / "exp_99", "coolant", "exp_22", "run_1", new_group="hydro")
    schema = current_schema(core_graph)
    count = ("CALL () { MATCH (n) RETURN count(n) AS nodes } CALL () { MATCH ()-[r]->() RETURN count(r) AS edges } "
             "CALL () { MATCH (a:Alarm) WHERE a.source = 'causrca:hydro/exp_99/run_1' "
             "RETURN collect(toString(a.startTime)) AS times } RETURN nodes, edges, times")

    first = evaluate_causrca(core_graph, schema, group, data_dir=DATA_DIR, keep=True)
    after_first = core_graph.read(count)[0]
    again = evaluate_causrca(core_graph, schema, group / "exp_99", data_dir=DATA_DIR, keep=True)
    after_again = core_graph.read(count)[0]

    assert [item.run for item in first.rankings] == ["hydro/exp_99/run_1"]
    assert first.recall == again.recall
    assert after_first["times"]
    assert after_again == after_first


def test_invalid_causal_graph_option(tmp_path: Path) -> None:
    copy_run(tmp_path / "exp_1", "probe", "exp_1", "run_1")

    result = invoke("evaluate", "root-cause", "--data", str(tmp_path / "exp_1"), "--causal-graph", str(tmp_path))

    assert result.exit_code == 1
    assert "expert_graph/all_nodes.csv" in result.output
    assert "--causal-graph" in result.output


def test_anomalies_on_scenario_folder(tmp_path: Path) -> None:
    copy_run(tmp_path / "exp_1", "probe", "exp_1", "run_1")

    result = invoke("evaluate", "anomalies", "--data", str(tmp_path / "exp_1"), "--detector", "baseline", "--json")

    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout.strip().splitlines()[-1])
    assert report["kind"] == "causrca"
    assert report["series"] == 1
    assert report["labels"] == 1
    assert report["normal_recordings"] == str(SHARED_CAUSRCA)


# MaintIE gold files

def test_chinese_gold_detected_by_content(tmp_path: Path) -> None:
    rows = json.loads(data_file("maintie_zh", "gold_zh_dev.json").read_text(encoding="utf-8"))[:4]
    renamed = tmp_path / "gold_en_test.json"
    renamed.write_text(json.dumps(rows, ensure_ascii=False), encoding="utf-8-sig")

    gold = load_gold(renamed)

    assert gold.lang == "zh"
    assert len(gold.examples) == 4


def test_gold_without_relations_or_entities(tmp_path: Path) -> None:
    rows = json.loads(data_file("maintie", "gold_dev.json").read_text(encoding="utf-8"))[:3]
    rows[0]["relations"] = []
    del rows[1]["relations"]
    rows[2]["entities"], rows[2]["relations"] = [], []
    rows.append({"text": "pump ok", "tokens": ["pump", "ok"]})
    subset = tmp_path / "test.json"
    subset.write_text(json.dumps(rows), encoding="utf-8")

    result = invoke("evaluate", "extraction", "--gold", str(subset), "--backend", "scripted", "--json")

    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout.strip().splitlines()[-1])
    assert report["examples"] == 4
    assert report["lang"] == "en"
    expected_entities = sum(len(row.get("entities", [])) for row in rows)
    assert report["scores"]["entity_exact"]["gold"] == expected_entities


def test_gold_bad_relation_index(tmp_path: Path) -> None:
    rows = json.loads(data_file("maintie", "gold_dev.json").read_text(encoding="utf-8"))[:1]
    rows[0]["relations"] = [{"head": 0, "tail": 99, "type": "hasPart"}]
    bad = tmp_path / "test.json"
    bad.write_text(json.dumps(rows), encoding="utf-8")

    with pytest.raises(InputDataError, match="example 1 is invalid"):
        load_gold(bad)


@pytest.mark.neo4j
def test_ingest_scenario_folder_matches_data_set(core_graph, tmp_path: Path) -> None:
    scenario = tmp_path / "exp_1"
    copy_run(scenario, "probe", "exp_1", "run_1")

    first = invoke("ingest", "causrca", str(scenario), "--run", "all")
    again = invoke("ingest", "causrca", str(SHARED_CAUSRCA), "--run", "dig_twin/exp_probe/exp_1/run_1")

    assert first.exit_code == 0, first.output
    assert again.exit_code == 0, again.output
    loaded = json.loads(first.stdout.strip().splitlines()[-1])
    reloaded = json.loads(again.stdout.strip().splitlines()[-1])
    assert loaded["runs"] == ["probe/exp_1/run_1"]
    assert loaded["causal_edges"] == 102
    # The copied run gets the keys and times of the same run in the full data set.
    assert reloaded["nodes_created"] == 0
    assert reloaded["relationships_created"] == 0


@pytest.mark.neo4j
def test_ingest_expert_graph_folder_option(core_graph, tmp_path: Path) -> None:
    result = invoke("ingest", "causrca", str(tmp_path), "--causal-graph", str(SHARED_CAUSRCA / "expert_graph"))

    assert result.exit_code == 0, result.output
    body = json.loads(result.stdout.strip().splitlines()[-1])
    assert body["runs"] == []
    assert body["variables"] == 92


def test_two_ai4i_files_both_reported(tmp_path: Path) -> None:
    lines = data_file("ai4i2020", "ai4i2020.csv").read_text(encoding="utf-8").splitlines()
    first, second = tmp_path / "first.csv", tmp_path / "second.csv"
    first.write_text("\n".join(lines[:2001]) + "\n", encoding="utf-8")
    second.write_text("\n".join([lines[0], *lines[2001:4001]]) + "\n", encoding="utf-8")

    body = root_cause_json("--data", str(first), "--data", str(second))

    assert [item["data"] for item in body["ai4i_evaluations"]] == [str(first), str(second)]
    assert body["ai4i"]["data"] == str(second)
    counts = [item["failed_machines"] for item in body["ai4i_evaluations"]]
    assert counts[0] != counts[1]


def flat(text: str) -> str:
    """Return `text` with every run of whitespace as one space, so wrapped console output can be searched."""
    return " ".join(text.split())


# Failure-mode files without `observation,failure mode` lines

@pytest.mark.parametrize("option", ["--data", "--train"])
def test_line_without_comma_rejected(tmp_path: Path, option: str) -> None:
    bad = tmp_path / "bad.txt"
    bad.write_text("pump leaking,Leakage\n\nhello world\n", encoding="utf-8")
    scored = tmp_path / "test.txt"
    scored.write_text("\n".join(dev_lines()[:10]) + "\n", encoding="utf-8")
    args = ["--data", str(bad)] if option == "--data" else ["--data", str(scored), "--train", str(bad)]

    result = invoke("evaluate", "root-cause", *args)

    assert result.exit_code == 1, result.output
    assert f"{bad}, line 3" in flat(result.output)
    assert "'hello world'" in result.output
    assert "observation,failure mode" in result.output


def test_line_with_empty_observation_rejected(tmp_path: Path) -> None:
    bad = tmp_path / "test.txt"
    bad.write_text("pump leaking,Leakage\n,Leakage\n", encoding="utf-8")

    with pytest.raises(InputDataError, match="line 2"):
        evaluate_failure_mode_classifier(bad, SHARED_TRAIN)


def test_failure_mode_counts_both_files(tmp_path: Path) -> None:
    lines = dev_lines()[:12]
    scored = tmp_path / "test.txt"
    scored.write_text("\n".join(lines) + "\n", encoding="utf-8")
    scored_labels = {line.rpartition(",")[2].strip() for line in lines}
    train_labels = {line.rpartition(",")[2].strip() for line in SHARED_TRAIN.read_text(encoding="utf-8").splitlines()
                    if line.strip()}

    result = root_cause_json("--data", str(scored))["failure_mode_classification"]
    text = flat(invoke("evaluate", "root-cause", "--data", str(scored)).output)

    assert result["scored_examples"] == 12
    assert result["dev_examples"] == 12
    assert result["scored_labels"] == len(scored_labels)
    assert result["train_labels"] == len(train_labels)
    assert f"(12 examples, {len(scored_labels)} labels)" in text
    assert f"({result['train_examples']} examples, {len(train_labels)} labels)" in text


# causRCA scenario descriptions

def test_renamed_scenario_folder_read(tmp_path: Path) -> None:
    run_dir = copy_run(tmp_path / "scen", "probe", "exp_1", "run_1", description_name="exp_1_description.json")
    shared = read_fault_run(SHARED_CAUSRCA / "dig_twin" / "exp_probe" / "exp_1" / "run_1")

    run = read_fault_run(run_dir)

    assert run.manipulated == shared.manipulated
    assert run.scenario_alarms == shared.scenario_alarms
    assert run.key == "probe/scen/run_1"
    assert run_key(run_dir) == "probe/scen/run_1"


def test_run_folder_alone_names_description(tmp_path: Path) -> None:
    run_dir = tmp_path / "single_run"
    shutil.copytree(SHARED_CAUSRCA / "dig_twin" / "exp_probe" / "exp_1" / "run_1", run_dir)

    with pytest.raises(InputDataError) as caught:
        read_fault_run(run_dir)

    message = str(caught.value)
    assert "must be in the folder above the run" in message
    assert str(tmp_path) in message
    assert "single_run_description.json" not in message


def test_two_scenario_descriptions_rejected(tmp_path: Path) -> None:
    run_dir = copy_run(tmp_path / "scen", "probe", "exp_1", "run_1", description_name="exp_1_description.json")
    shutil.copy(run_dir.parent / "exp_1_description.json", run_dir.parent / "exp_2_description.json")

    with pytest.raises(InputDataError, match="several scenario descriptions"):
        read_fault_run(run_dir)


# causRCA evaluations leave the configured graph as they found it

def add_plant(store) -> None:
    """Write a small plant: the Equipment 'Press 1' with a System 'Tool', a name the causRCA lathe also uses."""
    batch = GraphBatch()
    press = batch.add_node("Equipment", "asset:plant:press-1", name="Press 1", source="plant")
    tool = batch.add_node("System", "asset:plant:press-1:tool", name="Tool", source="plant")
    batch.add_relationship("PART_OF", tool, press)
    BatchedWriter(store, current_schema(store)).write(batch.nodes.values(), batch.relationships.values())


def causrca_nodes(store) -> int:
    return store.read("MATCH (n:Entity) WHERE n.source STARTS WITH 'causrca' RETURN count(n) AS nodes")[0]["nodes"]


@pytest.mark.neo4j
def test_root_cause_leaves_graph_unchanged(core_graph, tmp_path: Path) -> None:
    add_plant(core_graph)
    copy_run(tmp_path / "exp_1", "probe", "exp_1", "run_1")
    before = core_graph.counts()

    body = root_cause_json("--data", str(tmp_path / "exp_1"))["causrca"]

    changes = body["graph_changes"]
    assert body["runs"] == 1
    assert core_graph.counts() == before
    assert causrca_nodes(core_graph) == 0
    assert changes["kept"] is False
    assert changes["nodes_added"] > 100
    assert changes["nodes_removed"] == changes["nodes_added"]
    assert changes["relationships_added"] > 100
    assert changes["relationships_removed"] == changes["relationships_added"]
    plant = core_graph.read("MATCH (t:System {id: 'asset:plant:press-1:tool'})-[:PART_OF]->(p:Equipment) "
                            "RETURN t.name AS tool, p.name AS press")
    assert plant == [{"tool": "Tool", "press": "Press 1"}]


@pytest.mark.neo4j
def test_root_cause_keeps_ingested_causrca(core_graph, tmp_path: Path) -> None:
    scenario = tmp_path / "exp_1"
    copy_run(scenario, "probe", "exp_1", "run_1")
    loaded = invoke("ingest", "causrca", str(scenario), "--run", "all", "--start", "2030-06-01T00:00:00")
    assert loaded.exit_code == 0, loaded.output
    times = ("MATCH (a:Alarm) WHERE a.source = 'causrca:probe/exp_1/run_1' "
             "RETURN a.id AS id, toString(a.startTime) AS start ORDER BY id")
    before, alarms_before = core_graph.counts(), core_graph.read(times)

    changes = root_cause_json("--data", str(scenario))["causrca"]["graph_changes"]

    assert core_graph.counts() == before
    assert core_graph.read(times) == alarms_before
    assert alarms_before[0]["start"].startswith("2030-")
    assert changes["nodes_added"] == 0
    assert changes["relationships_added"] == 0
    assert changes["nodes_removed"] == 0
    # The evaluation anchors the run at its own start time, so the cleanup writes the ingested times back.
    assert changes["nodes_restored"] >= len(alarms_before)


@pytest.mark.neo4j
def test_root_cause_keep_option_keeps(core_graph, tmp_path: Path) -> None:
    copy_run(tmp_path / "exp_1", "probe", "exp_1", "run_1")
    before = core_graph.counts()

    changes = root_cause_json("--data", str(tmp_path / "exp_1"), "--keep")["causrca"]["graph_changes"]

    nodes, relationships = core_graph.counts()
    assert changes["kept"] is True
    assert changes["nodes_added"] > 100
    assert nodes == before[0] + changes["nodes_added"]
    assert relationships == before[1] + changes["relationships_added"]
    assert changes["nodes_removed"] == 0
    assert causrca_nodes(core_graph) == changes["nodes_added"]


@pytest.mark.neo4j
def test_failed_evaluation_still_cleans_up(core_graph, tmp_path: Path, monkeypatch, caplog) -> None:
    import kg_service.reasoning.rootcause as reasoning

    def fail(*args, **kwargs):
        raise GraphStoreError("ranking failed on purpose")

    monkeypatch.setattr(reasoning, "rank_causes", fail)
    add_plant(core_graph)
    copy_run(tmp_path / "exp_1", "probe", "exp_1", "run_1")
    before = core_graph.counts()

    with caplog.at_level(logging.INFO, logger="kg_service.evaluation"), pytest.raises(GraphStoreError):
        evaluate_causrca(core_graph, current_schema(core_graph), tmp_path / "exp_1", data_dir=DATA_DIR)

    assert core_graph.counts() == before
    assert causrca_nodes(core_graph) == 0
    assert "the evaluation failed or was interrupted; removing what it added" in caplog.text
    assert "removed" in caplog.text.split("the evaluation failed")[1]


@pytest.mark.neo4j
def test_interrupted_evaluation_cleans_up_after_broken_cleanup(core_graph, tmp_path: Path, monkeypatch) -> None:
    """Ctrl-C during an evaluation could leave the loaded causRCA nodes in the graph for good."""
    import kg_service.reasoning.rootcause as reasoning
    from kg_service.evaluation.graph_changes import GraphSnapshot

    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt

    undo = GraphSnapshot.undo
    calls = []

    def undo_fails_once(self, store):
        calls.append(store)
        if len(calls) == 1:
            raise GraphStoreError("connection broken by the interrupt")
        return undo(self, store)

    monkeypatch.setattr(reasoning, "rank_causes", interrupted)
    monkeypatch.setattr(GraphSnapshot, "undo", undo_fails_once)
    copy_run(tmp_path / "exp_1", "probe", "exp_1", "run_1")
    before = core_graph.counts()

    with pytest.raises(KeyboardInterrupt):
        evaluate_causrca(core_graph, current_schema(core_graph), tmp_path / "exp_1", data_dir=DATA_DIR)

    assert len(calls) == 2
    assert core_graph.counts() == before


def test_ctrl_c_waits_for_block() -> None:
    import os
    import signal

    from kg_service.evaluation.rootcause import deferred_interrupts

    # A CI runner may start the tests with SIGINT ignored; the test then installs Python's own handler.
    before = signal.signal(signal.SIGINT, signal.default_int_handler)
    finished = []
    with pytest.raises(KeyboardInterrupt):
        with deferred_interrupts():
            os.kill(os.getpid(), signal.SIGINT)
            finished.append(True)
    handler = signal.signal(signal.SIGINT, before)
    assert finished == [True]
    assert handler is signal.default_int_handler


@pytest.mark.neo4j
def test_root_cause_table_reports_cleanup(core_graph, tmp_path: Path) -> None:
    copy_run(tmp_path / "exp_1", "probe", "exp_1", "run_1")
    (tmp_path / "exp_1" / "notes.txt").write_text("lab notes\n", encoding="utf-8")

    result = invoke("evaluate", "root-cause", "--data", str(tmp_path / "exp_1"))

    text = flat(result.output)
    assert result.exit_code == 0, result.output
    assert "1 fault run (0 skipped)" in text
    assert "1 fault runs" not in text
    assert "skipped 1 file outside the fault runs" in text
    assert "notes.txt" in text
    assert "then removed" in text
    assert "--keep" in text


@pytest.mark.neo4j
def test_skipped_files_in_json(core_graph, tmp_path: Path) -> None:
    copy_run(tmp_path / "exp_1", "probe", "exp_1", "run_1")
    (tmp_path / "exp_1" / "notes.txt").write_text("lab notes\n", encoding="utf-8")
    (tmp_path / "exp_1" / "run_1" / "plot.png").write_bytes(b"not read")

    body = root_cause_json("--data", str(tmp_path / "exp_1"))["causrca"]

    assert body["skipped_files"] == ["notes.txt"]


# Extraction output

def test_scripted_extraction_says_canned(tmp_path: Path) -> None:
    rows = json.loads(data_file("maintie", "gold_dev.json").read_text(encoding="utf-8"))[:2]
    gold = tmp_path / "test.json"
    gold.write_text(json.dumps(rows), encoding="utf-8")

    result = invoke("evaluate", "extraction", "--gold", str(gold), "--backend", "scripted")

    text = flat(result.output)
    assert result.exit_code == 0, result.output
    assert "scripted scripted" not in text
    assert "replays canned answers" in text


def test_gold_span_out_of_range_warns(tmp_path: Path, caplog) -> None:
    rows = json.loads(data_file("maintie", "gold_dev.json").read_text(encoding="utf-8"))[:2]
    rows[1]["id"] = "wo-17"
    rows[1]["entities"].append({"start": len(rows[1]["tokens"]), "end": len(rows[1]["tokens"]) + 2,
                                "type": "PhysicalObject"})
    gold = tmp_path / "test.json"
    gold.write_text(json.dumps(rows), encoding="utf-8")

    with caplog.at_level(logging.WARNING, logger="kg_service.evaluation.extraction"):
        loaded = load_gold(gold)

    assert len(loaded.examples) == 2
    assert "example 2, id 'wo-17'" in caplog.text
    assert "example 1," not in caplog.text
    assert "outside them" in caplog.text


@pytest.mark.neo4j
def test_graphrag_comparison_keeps_foreign_nodes(core_graph) -> None:
    from kg_service.evaluation.graphrag_comparison import compare_with_graphrag
    from kg_service.extraction.backend import ScriptedBackend
    from kg_service.extraction.scope import ExtractionScope, core_schema

    core_graph.write("CREATE (:__KGBuilder__:__Entity__ {name: $name})", {"name": "kept by the user"})
    gold = load_gold(data_file("maintie", "gold_dev.json"), limit=1)

    try:
        with pytest.raises(GraphStoreError, match="KG_BOLT_PORT"):
            compare_with_graphrag(gold, ScriptedBackend(lambda request: "{}"),
                                  ExtractionScope.from_schema(core_schema()), core_graph)

        assert core_graph.read("MATCH (n:__KGBuilder__) RETURN n.name AS name") == [{"name": "kept by the user"}]
    finally:
        core_graph.write("MATCH (n:__KGBuilder__) DETACH DELETE n")


def test_unused_files_skip_group_graph(tmp_path: Path) -> None:
    from loaders.causrca import find_fault_runs, find_unused_files

    group = tmp_path / "exp_probe"
    copy_run(group / "exp_1", "probe", "exp_1", "run_1")
    shutil.copy(SHARED_CAUSRCA / "dig_twin" / "exp_probe" / "probe_nodes.csv", group / "probe_nodes.csv")
    (group / "notes.md").write_text("lab notes\n", encoding="utf-8")
    (group / "exp_1" / ".DS_Store").write_bytes(b"")

    unused = find_unused_files(group, find_fault_runs(group))

    assert unused == ["notes.md"]


@pytest.mark.neo4j
def test_link_prediction_reports_loaded_graph(core_graph) -> None:
    options = ["evaluate", "link-prediction", "--graph", "synthetic", "--synthetic-edges", "500", "--models",
               "random", "--text-encoder", "hashing", "--torch-threads", "1"]
    before = core_graph.counts()

    loaded = invoke(*options, "--json")
    after_load = core_graph.counts()
    stored = invoke(*options, "--stored", "--json")
    table = invoke(*options)

    assert loaded.exit_code == 0, loaded.output
    body = json.loads(loaded.stdout.strip().splitlines()[-1])
    assert body["loaded"]["kept"] is True
    assert body["loaded"]["graph"].startswith(core_graph.uri)
    assert after_load[0] > before[0]
    assert stored.exit_code == 0, stored.output
    assert json.loads(stored.stdout.strip().splitlines()[-1])["loaded"] is None
    assert table.exit_code == 0, table.output
    assert f"loaded synthetic into {core_graph.uri}" in flat(table.output)
    assert "--stored" in table.output


# Every --data input is checked before the first one is scored

def record_scoring(monkeypatch) -> list[str]:
    """Replace the root-cause scorers with ones that only record the input they receive, and return that record."""
    import kg_service.evaluation.rootcause as rootcause

    calls: list[str] = []
    monkeypatch.setattr(rootcause, "evaluate_ai4i", lambda path, *args, **kwargs: calls.append(f"ai4i {path}"))
    monkeypatch.setattr(rootcause, "score_failure_mode_classifier",
                        lambda train_file, scored_file: calls.append(f"mwo2kg {scored_file}"))
    monkeypatch.setattr(rootcause, "evaluate_causrca",
                        lambda store, schema, root, *args, **kwargs: calls.append(f"causrca {root}"))
    return calls


def two_good_inputs(tmp_path: Path) -> tuple[Path, Path]:
    """Write a small AI4I-style CSV and a failure-mode file with its train.txt beside it."""
    ai4i_lines = data_file("ai4i2020", "ai4i2020.csv").read_text(encoding="utf-8").splitlines()
    ai4i = tmp_path / "machines.csv"
    ai4i.write_text("\n".join(ai4i_lines[:200]) + "\n", encoding="utf-8")
    failure_modes = tmp_path / "modes" / "heldout.txt"
    failure_modes.parent.mkdir()
    failure_modes.write_text("\n".join(dev_lines()[:10]) + "\n", encoding="utf-8")
    shutil.copy(SHARED_TRAIN, failure_modes.parent / "train.txt")
    return ai4i, failure_modes


def test_bad_third_data_input_fails_before_scoring(tmp_path: Path, monkeypatch) -> None:
    calls = record_scoring(monkeypatch)
    ai4i, failure_modes = two_good_inputs(tmp_path)
    missing = tmp_path / "no-such-input"

    result = invoke("evaluate", "root-cause", "--data", str(ai4i), "--data", str(failure_modes),
                    "--data", str(missing))

    assert result.exit_code == 1, result.output
    assert calls == []
    text = flat(result.output)
    assert f"--data input 3: {missing}: file or folder not found" in text
    assert "1 of 3 --data inputs are invalid, so none was evaluated" in text
    assert "an AI4I-style CSV" in text
    assert str(ai4i) not in text
    assert str(failure_modes) not in text


def test_bad_later_file_content_fails_before_scoring(tmp_path: Path, monkeypatch) -> None:
    calls = record_scoring(monkeypatch)
    ai4i, failure_modes = two_good_inputs(tmp_path)
    no_label = tmp_path / "modes" / "second.txt"
    no_label.write_text("pump leaking,Leakage\nhello world\n", encoding="utf-8")
    few_columns = tmp_path / "few_columns.csv"
    few_columns.write_text("UDI,Type\n1,L\n", encoding="utf-8")

    result = invoke("evaluate", "root-cause", "--data", str(ai4i), "--data", str(failure_modes),
                    "--data", str(no_label), "--data", str(few_columns))

    assert result.exit_code == 1, result.output
    assert calls == []
    text = flat(result.output)
    assert "2 of 4 --data inputs are invalid" in text
    assert f"--data input 3: {no_label}, line 2" in text
    assert f"--data input 4: {few_columns}: missing AI4I columns" in text


def test_bad_causal_graph_option_fails_before_scoring(tmp_path: Path, monkeypatch) -> None:
    calls = record_scoring(monkeypatch)
    ai4i, _ = two_good_inputs(tmp_path)
    scenario = tmp_path / "exp_1"
    copy_run(scenario, "probe", "exp_1", "run_1")

    result = invoke("evaluate", "root-cause", "--data", str(ai4i), "--data", str(scenario),
                    "--causal-graph", str(tmp_path / "no-graph"))

    assert result.exit_code == 1, result.output
    assert calls == []
    text = flat(result.output)
    assert f"--data input 2 ({scenario}): {tmp_path / 'no-graph'}: not a causRCA expert graph" in text


def test_good_inputs_scored_in_order(tmp_path: Path, monkeypatch) -> None:
    calls = record_scoring(monkeypatch)
    ai4i, failure_modes = two_good_inputs(tmp_path)
    monkeypatch.setattr("kg_service.cli._store", lambda *args, **kwargs: pytest.fail("no causRCA input, no store"))

    # The stand-ins return no results, so the command's output is not checked here.
    invoke("evaluate", "root-cause", "--data", str(failure_modes), "--data", str(ai4i))

    assert calls == [f"mwo2kg {failure_modes}", f"ai4i {ai4i}"]


def test_bad_second_run_fails_before_loading(tmp_path: Path, monkeypatch) -> None:
    import loaders.causrca

    scenario = tmp_path / "exp_1"
    copy_run(scenario, "probe", "exp_1", "run_1")
    (scenario / "run_2").mkdir()
    loads: list[object] = []
    monkeypatch.setattr(loaders.causrca, "load_causrca", lambda *args, **kwargs: loads.append(args))
    monkeypatch.setattr("kg_service.cli._store", lambda *args, **kwargs: loads.append("store"))

    result = invoke("ingest", "causrca", str(scenario), "--run", "run_1", "--run", "run_2", "--run", "run_3")

    assert result.exit_code == 1, result.output
    assert loads == []
    text = flat(result.output)
    assert "--run run_2 (no causes.json, so not a fault-run folder), run_3 (folder not found)" in text
    assert "nothing was loaded" in text
    assert "such as run_1, or --run all" in text
