"""Held-out style inputs of `kg-service evaluate`: renamed failure-mode files, partial causRCA layouts, MaintIE files.

Every layout is built in tmp_path from copies of one or two files or runs of the shared data.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from typer.testing import CliRunner

from kg_service.cli import app
from kg_service.errors import InputDataError
from kg_service.evaluation.extraction import load_gold
from kg_service.evaluation.rootcause import detect_kind, evaluate_causrca, failure_mode_files
from kg_service.ingest import current_schema
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

def copy_run(target_scenario: Path, group: str, scenario: str, run: str, new_group: str | None = None) -> Path:
    """Copy one shared run and its scenario description into `target_scenario`; optionally rename the group."""
    source = SHARED_CAUSRCA / "dig_twin" / f"exp_{group}" / scenario
    target_scenario.mkdir(parents=True, exist_ok=True)
    description = json.loads((source / f"{scenario}_description.json").read_text(encoding="utf-8"))
    if new_group is not None:
        description["group"] = new_group
    (target_scenario / f"{target_scenario.name}_description.json").write_text(json.dumps(description),
                                                                               encoding="utf-8")
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

    first = evaluate_causrca(core_graph, schema, group, data_dir=DATA_DIR)
    after_first = core_graph.read(count)[0]
    again = evaluate_causrca(core_graph, schema, group / "exp_99", data_dir=DATA_DIR)
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
