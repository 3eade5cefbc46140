"""Regressions: link-prediction export scope, document progress and --limit, loader and evaluation messages."""

from __future__ import annotations

import csv
import io
import json
import logging

import pytest
from typer.testing import CliRunner

from kg_service.errors import InputDataError, MappingError, QueryError
from kg_service.evaluation.extraction import evaluate_extraction, load_gold
from kg_service.extraction.backend import ScriptedBackend
from kg_service.extraction.scope import ExtractionScope, core_schema
from kg_service.gnn.evaluate_run import load_preset_data, resolve_graph
from kg_service.gnn.export import export_graph
from kg_service.ingest import ingest_telemetry, ingest_workorders
from kg_service.ontology.schema import GraphSchema
from kg_service.reasoning.suppliers import Constraint, Criterion, rank_suppliers
from loaders.csv_source import missing_columns_message
from loaders.mapping import load_mapping
from tests.conftest import MAPPINGS_DIR, SAMPLE_DIR, data_file, load_sample_plant

SAMPLE_SITE = "site:sample-plant:suzhou-plant"
EMPTY_ANSWER = '{"entities": [], "relations": []}'


def _maintkg_head(tmp_path, rows: int = 80) -> str:
    """Write the header and first `rows` work orders of the MaintKG case study to a CSV; return its path."""
    lines = data_file("maintkg_pdl", "case_study_pdl.csv").read_text(encoding="utf-8").splitlines()
    path = tmp_path / "maintkg_head.csv"
    path.write_text("\n".join(lines[:rows + 1]) + "\n", encoding="utf-8")
    return str(path)


@pytest.mark.neo4j
@pytest.mark.parametrize("graph", ["supplygraph", "synthetic", "workorder-csv"])
def test_link_prediction_export_skips_other_sources(store, settings, tmp_path, graph):
    load_sample_plant(store, settings)
    if graph == "workorder-csv":
        preset = resolve_graph(_maintkg_head(tmp_path), MAPPINGS_DIR / "maintkg_pdl.yaml")
    else:
        preset = resolve_graph(graph)
    load_preset_data(store, settings, preset, synthetic_size=600)

    exported = export_graph(store, GraphSchema.from_store(store), list(preset.classes),
                            list(preset.relationship_types), settings=settings, text_encoder="hashing",
                            scope=preset.scope)

    keys = {key for kind_keys in exported.node_keys.values() for key in kind_keys}
    assert store.read("MATCH (n:Site {id: $key}) RETURN n.id AS key", {"key": SAMPLE_SITE}), "sample plant missing"
    assert SAMPLE_SITE not in keys
    assert not [key for key in keys if "sample-plant" in key]
    shared = {key for kind in preset.scope.shared_classes for key in exported.node_keys.get(kind, [])}
    assert {key for key in keys - shared if not preset.scope.owns(key)} == set()


@pytest.mark.neo4j
def test_supplygraph_export_has_its_25_plants(store, settings):
    load_sample_plant(store, settings)
    preset = resolve_graph("supplygraph")
    load_preset_data(store, settings, preset)

    exported = export_graph(store, GraphSchema.from_store(store), list(preset.classes),
                            list(preset.relationship_types), settings=settings, text_encoder="hashing",
                            scope=preset.scope)

    assert len(exported.node_keys["Site"]) == 25
    assert len(exported.node_keys["Product"]) == 40
    assert all(key.startswith("supplygraph:") for key in exported.node_keys["Site"])


@pytest.mark.neo4j
def test_workorder_export_keeps_used_failure_modes(store, settings, tmp_path):
    load_sample_plant(store, settings)
    preset = resolve_graph(_maintkg_head(tmp_path), MAPPINGS_DIR / "maintkg_pdl.yaml")
    load_preset_data(store, settings, preset)
    used = {row["key"] for row in store.read(
        "MATCH (w:WorkOrder)-[:HAS_FAILURE_MODE]->(f:FailureMode) WHERE w.id STARTS WITH $prefix "
        "RETURN DISTINCT f.id AS key", {"prefix": "workorder:maintkg-pdl:"})}
    codes = {row["key"] for row in store.read(
        "MATCH (f:FailureMode)-[:HAS_CODE]->(c:FailureModeCode) WHERE f.id IN $modes RETURN DISTINCT c.id AS key",
        {"modes": sorted(used)})}
    every_mode = {row["key"] for row in store.read("MATCH (f:FailureMode) RETURN f.id AS key")}

    exported = export_graph(store, GraphSchema.from_store(store), list(preset.classes),
                            list(preset.relationship_types), settings=settings, text_encoder="hashing",
                            scope=preset.scope)

    assert "failure-mode:leak" in used, "the sample plant and MaintKG both record Leak"
    assert every_mode - used, "the sample plant has failure modes that MaintKG lacks"
    assert set(exported.node_keys["FailureMode"]) == used
    assert codes
    assert set(exported.node_keys["FailureModeCode"]) == codes


# Document ingestion and extraction evaluation: progress and --limit

def _documents(folder, names: list[str]):
    for name in names:
        (folder / name).write_text(f"Pump P-101 leaking oil, see {name}.", encoding="utf-8")


@pytest.mark.neo4j
def test_ingest_documents_limit_sorted_files(core_graph, tmp_path):
    from kg_service.cli import app

    _documents(tmp_path, ["c.txt", "a.txt", "b.md"])

    result = CliRunner().invoke(app, ["ingest", "documents", str(tmp_path / "c.txt"), str(tmp_path / "b.md"),
                                      str(tmp_path / "a.txt"), "--backend", "scripted", "--no-embeddings",
                                      "--limit", "2"])

    assert result.exit_code == 0, result.output
    lines = [json.loads(line) for line in result.stdout.strip().splitlines()]
    assert [line["source"].rsplit("/", 1)[-1] for line in lines[:-1]] == ["a.txt", "b.md"]
    assert lines[-1]["summary"]["ingested"] == 2


@pytest.mark.neo4j
def test_ingest_documents_limit_rejects_zero(core_graph, tmp_path):
    from kg_service.cli import app

    _documents(tmp_path, ["a.txt"])

    result = CliRunner().invoke(app, ["ingest", "documents", str(tmp_path), "--backend", "scripted", "--limit", "0"])

    assert result.exit_code == 2
    assert "--limit" in result.output


@pytest.mark.neo4j
def test_ingest_documents_logs_each_text(core_graph, tmp_path, caplog):
    from kg_service.cli import app

    _documents(tmp_path, ["a.txt", "b.txt"])
    (tmp_path / "rows.csv").write_text("id,description\n1,pump P-101 is leaking oil at the seal\n"
                                       "2,bearing of the compressor is worn and noisy\n", encoding="utf-8")
    caplog.set_level(logging.INFO, logger="kg_service.commands.documents")

    result = CliRunner().invoke(app, ["ingest", "documents", str(tmp_path), "--backend", "scripted",
                                      "--no-embeddings", "--text-column", "description"])

    assert result.exit_code == 0, result.output
    lines = [record.getMessage() for record in caplog.records if record.name == "kg_service.commands.documents"]
    assert len(lines) == 4, lines
    assert any("a.txt (file 1 of 3): ingested in " in line for line in lines)
    assert sum("rows.csv#row=" in line and "(file 3 of 3)" in line for line in lines) == 2
    assert all(line.endswith(" s") for line in lines)


def test_extraction_progress_per_batch():
    gold = load_gold(data_file("maintie", "gold_dev.json"), limit=5)
    calls = []

    class Recorder:
        def start(self, total: int) -> None:
            calls.append(("start", total))

        def advance(self, count: int) -> None:
            calls.append(("advance", count))

    evaluate_extraction(gold, ScriptedBackend([EMPTY_ANSWER] * 5), ExtractionScope.from_schema(core_schema()),
                        batch_size=2, progress=Recorder())

    assert calls == [("start", 5), ("advance", 2), ("advance", 2), ("advance", 1)]


def test_evaluate_extraction_logs_batches(caplog):
    from kg_service.cli import app

    caplog.set_level(logging.INFO, logger="kg_service.evaluation.extraction")
    gold = data_file("maintie", "gold_dev.json")

    result = CliRunner().invoke(app, ["evaluate", "extraction", "--gold", str(gold), "--limit", "3",
                                      "--batch-size", "2", "--backend", "scripted", "--json"])

    assert result.exit_code == 0, result.output
    lines = [record.getMessage() for record in caplog.records if record.name == "kg_service.evaluation.extraction"]
    assert "extracting 3 gold texts of gold_dev.json with backend scripted (model scripted) in batches of 2" in lines
    assert any(line.startswith("extracted gold texts 1 to 2 of 3 in ") for line in lines)
    assert any(line.startswith("extracted gold texts 3 to 3 of 3 in ") for line in lines)
    assert json.loads(result.stdout)["examples"] == 3


# Loader messages

def _delimited_copy(source, target, delimiter: str = ";", rows: int = 5):
    """Copy the header and first `rows` rows of a CSV file to `target`, separated by `delimiter`."""
    lines = source.read_text(encoding="utf-8-sig").splitlines()[:rows + 1]
    parsed = list(csv.reader(io.StringIO("\n".join(lines))))
    buffer = io.StringIO()
    csv.writer(buffer, delimiter=delimiter, lineterminator="\n").writerows(parsed)
    target.write_text(buffer.getvalue(), encoding="utf-8")
    return target


@pytest.mark.neo4j
def test_wrong_delimiter_named_before_columns(core_graph, settings, tmp_path):
    data = _delimited_copy(SAMPLE_DIR / "workorders_en.csv", tmp_path / "orders.csv")

    with pytest.raises(InputDataError) as caught:
        ingest_workorders(core_graph, settings, data, SAMPLE_DIR / "workorders_en.yaml")

    message = str(caught.value)
    assert message.startswith(f"{data}, line 1: the delimiter looks wrong: ")
    assert "separated by ';', but the mapping's delimiter is ','" in message
    assert "14 mapped columns are missing ('wo_id', 'date', 'asset', ...)" in message
    assert "is not in" not in message
    assert message.endswith("Set 'delimiter: \";\"' in the mapping file " + str(SAMPLE_DIR / "workorders_en.yaml"))


@pytest.mark.neo4j
def test_tab_delimiter_hint_escapes_tab(core_graph, settings, tmp_path):
    data = _delimited_copy(SAMPLE_DIR / "workorders_en.csv", tmp_path / "orders.tsv", delimiter="\t")

    with pytest.raises(InputDataError) as caught:
        ingest_workorders(core_graph, settings, data, SAMPLE_DIR / "workorders_en.yaml")

    message = str(caught.value)
    assert "\t" not in message.split(": the delimiter looks wrong")[1], "a literal tab is in the message"
    assert "separated by tabs ('\\t')" in message
    assert "Set 'delimiter: \"\\t\"'" in message


@pytest.mark.neo4j
def test_wrong_delimiter_wide_telemetry(core_graph, settings, tmp_path):
    data = _delimited_copy(data_file("ai4i2020", "ai4i2020.csv"), tmp_path / "ai4i.csv")

    with pytest.raises(InputDataError) as caught:
        ingest_telemetry(core_graph, settings, data, MAPPINGS_DIR / "ai4i2020.yaml")

    message = str(caught.value)
    assert "the delimiter looks wrong" in message
    assert "14 mapped columns are missing" in message
    assert "is not in" not in message


LONG_MAPPING = """kind: telemetry
layout: long
source: long-delimiter
columns: {asset: machine, elapsed: t, signal: name, value: value}
time_origin: 2025-06-01T00:00:00
signals:
  - {column: temp, name: temperature, unit: degC}
"""


@pytest.mark.neo4j
def test_wrong_delimiter_long_telemetry(core_graph, settings, tmp_path):
    data = tmp_path / "long.csv"
    data.write_text("t;machine;name;value\n0;M-1;temp;20.5\n1;M-1;temp;21.0\n", encoding="utf-8")
    mapping = tmp_path / "long.yaml"
    mapping.write_text(LONG_MAPPING, encoding="utf-8")

    with pytest.raises(InputDataError) as caught:
        ingest_telemetry(core_graph, settings, data, mapping)

    message = str(caught.value)
    assert "the delimiter looks wrong" in message
    assert "4 mapped columns are missing ('machine', 't', 'name', ...)" in message
    assert f"Set 'delimiter: \";\"' in the mapping file {mapping}" in message


@pytest.mark.neo4j
def test_one_missing_column_keeps_clause(core_graph, settings, tmp_path):
    data = _delimited_copy(SAMPLE_DIR / "workorders_en.csv", tmp_path / "orders.csv", delimiter=",")
    mapping = tmp_path / "orders.yaml"
    mapping.write_text((SAMPLE_DIR / "workorders_en.yaml").read_text(encoding="utf-8").replace("text: text",
                                                                                              "text: texts"),
                       encoding="utf-8")

    with pytest.raises(InputDataError) as caught:
        ingest_workorders(core_graph, settings, data, mapping)

    message = str(caught.value)
    assert "column 'texts' is not in orders.csv; did you mean 'text'?" in message
    assert "delimiter" not in message
    assert f"Fix the column names in the mapping file {mapping} or in the CSV" in message


@pytest.mark.neo4j
def test_hint_after_full_stop_capitalised(core_graph, settings, tmp_path):
    data = tmp_path / "empty.csv"
    data.write_text("\n", encoding="utf-8")

    with pytest.raises(InputDataError) as caught:
        ingest_workorders(core_graph, settings, data, SAMPLE_DIR / "workorders_en.yaml")

    assert str(caught.value) == f"{data}: the file is empty. Export the data again with a header row"


def test_clause_after_question_capitalised(tmp_path):
    message = missing_columns_message(tmp_path / "f.csv", ["vibb", "tempp"], ["vib", "temp"])

    assert "did you mean 'vib'? Column 'tempp' is not in f.csv; did you mean 'temp'?" in message


def test_mapping_problem_after_question_capitalised(tmp_path):
    mapping = tmp_path / "typos.yaml"
    mapping.write_text((SAMPLE_DIR / "workorders_en.yaml").read_text(encoding="utf-8")
                       + 'date_fromats: ["%Y"]\nsplitt: [system]\n', encoding="utf-8")

    with pytest.raises(MappingError) as caught:
        load_mapping(mapping)

    assert "did you mean 'date_formats'? Unknown key 'splitt' in typos.yaml; did you mean 'split'?" in str(caught.value)


@pytest.mark.neo4j
def test_supplier_min_above_max_hint(store):
    with pytest.raises(QueryError) as caught:
        rank_suppliers(store, [Criterion("shipmentCount", 1.0)],
                       constraints=[Constraint("shipmentCount", minimum=50.0, maximum=10.0)])

    message = str(caught.value)
    assert message.startswith("constraints[0] (shipmentCount) has min 50.0 above max 10.0")
    assert "swap min and max, or correct the one that is wrong" in message


@pytest.mark.neo4j
def test_evaluate_ask_headers_whole_when_piped(store, settings, monkeypatch):
    from kg_service.cli import app

    load_sample_plant(store, settings)
    monkeypatch.delenv("COLUMNS", raising=False)

    result = CliRunner().invoke(app, ["evaluate", "ask", "--backend", "rules"])

    assert result.exit_code == 0, result.output
    header = next(line for line in result.stdout.splitlines() if "mapper" in line)
    for column in ("mapper", "model", "questions", "correct", "tool correct", "invalid outputs",
                   "seconds per question"):
        assert f" {column} " in header, header
    table = result.stdout.split("└")[0]
    assert "…" not in table, table


# Free-text columns of document CSV files

def test_chinese_text_column_guessed(tmp_path):
    """A Chinese work-order CSV had no free-text column, because Chinese prose has no spaces between words."""
    from loaders.documents import load_document

    path = tmp_path / "workorders_zh.csv"
    path.write_text((SAMPLE_DIR / "workorders_zh.csv").read_text(encoding="utf-8"), encoding="utf-8")

    documents = load_document(path)

    # Only the `text` column is prose: short names such as "1号数控车床" or "液压系统" are not.
    with path.open(encoding="utf-8") as handle:
        expected = [row["text"].strip() for row in csv.DictReader(handle)]
    assert [document.text for document in documents] == expected
    assert all(expected)


def test_text_column_found_by_name(tmp_path):
    """A CSV whose column named `text` contains short notes failed with "no free-text column found"."""
    from loaders.documents import load_document

    path = tmp_path / "notes.csv"
    path.write_text("id,text\n1,pump leak\n2,worn\n", encoding="utf-8")

    documents = load_document(path)

    assert [document.text for document in documents] == ["pump leak", "worn"]
