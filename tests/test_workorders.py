"""Work orders from the real MaintKG export and from Chinese CSVs, including bad input."""

from __future__ import annotations

import csv
from collections import Counter
from pathlib import Path

import pytest

from kg_service.errors import InputDataError, MappingError, UnknownTermError
from kg_service.graph.checksum import graph_checksum
from kg_service.ingest import ingest_workorders
from tests.conftest import MAPPINGS_DIR, data_file

pytestmark = pytest.mark.neo4j

MAINTKG_MAPPING = MAPPINGS_DIR / "maintkg_pdl.yaml"

ZH_MAPPING = """
kind: workorders
source: zh-test
asset_namespace: zh-plant
language: zh
date_formats: ["%Y-%m-%d", "%Y/%m/%d"]
multi_value_separator: "|"
split: [failure_mode, action]
columns:
  id: 工单号
  date: 日期
  asset: 设备
  system: 系统
  part: 部件
  failure_mode: 故障模式
  action: 措施
  cost: 费用
  text: 描述
value_maps:
  failure_mode: {过热: Overheating}
"""

ZH_ROWS = [
    ["工单号", "日期", "设备", "系统", "部件", "故障模式", "措施", "费用", "描述"],
    ["WO-1", "2025-03-01", "3号空压机", "冷却系统", "冷却风扇", "过热", "更换", "1200.50", "排气温度高报警停机，更换冷却风扇。"],
    ["WO-2", "2025/03/09", "3号空压机", "冷却系统", "油冷却器", "过热|泄漏", "清洗|更换", "860", "油冷却器堵塞，清洗后恢复；轴承 6205-2RS 正常。"],
]


def maintkg_rows() -> list[dict[str, str]]:
    with open(data_file("maintkg_pdl", "case_study_pdl.csv"), encoding="utf-8", newline="") as handle:
        return list(csv.DictReader(handle))


def write_zh_csv(folder: Path, encoding: str, rows: list[list[str]] = ZH_ROWS) -> tuple[Path, Path]:
    data = folder / f"workorders_{encoding}.csv"
    with open(data, "w", encoding=encoding, newline="") as handle:
        csv.writer(handle).writerows(rows)
    mapping = folder / "zh.yaml"
    mapping.write_text(ZH_MAPPING, encoding="utf-8")
    return data, mapping


@pytest.fixture(scope="module")
def maintkg_graph(store, settings):
    from tests.conftest import CORE_ONTOLOGY, wipe
    from kg_service.ingest import load_ontologies

    wipe(store)
    load_ontologies(store, [CORE_ONTOLOGY])
    result = ingest_workorders(store, settings, data_file("maintkg_pdl", "case_study_pdl.csv"), MAINTKG_MAPPING)
    return store, result


def test_maintkg_counts_per_asset(maintkg_graph):
    store, result = maintkg_graph
    expected = Counter(row["Asset"] for row in maintkg_rows())
    rows = store.read("MATCH (wo:WorkOrder)-[:FOR_ASSET]->(e:Equipment) RETURN e.name AS asset, count(wo) AS n")
    assert {row["asset"]: row["n"] for row in rows} == dict(expected)
    assert result.rows == 5485


def test_maintkg_counts_per_failure_mode(maintkg_graph):
    store, _ = maintkg_graph
    expected: Counter = Counter()
    for row in maintkg_rows():
        for mode in {part.strip() for part in row["FM"].split("_") if part.strip()}:
            expected[mode] += 1
    rows = store.read("MATCH (wo:WorkOrder)-[:HAS_FAILURE_MODE]->(m:FailureMode) RETURN m.name AS mode, count(wo) AS n")
    assert {row["mode"]: row["n"] for row in rows} == dict(expected)


def test_maintkg_hierarchy_and_properties(maintkg_graph):
    store, _ = maintkg_graph
    row = store.read("MATCH (wo:WorkOrder {id: 'workorder:maintkg-pdl:1'}) "
                     "OPTIONAL MATCH (wo)-[:INVOLVES]->(c:Component)-[:PART_OF]->(s:System)-[:PART_OF]->(e:Equipment) "
                     "OPTIONAL MATCH (wo)-[:HAS_FAILURE_MODE]->(m) "
                     "RETURN wo.date AS date, wo.cost AS cost, wo.runningHours AS hours, c.name AS part, "
                     "s.name AS system, e.name AS asset, collect(m.name) AS modes")[0]
    assert str(row["date"]) == "2005-03-20"
    assert row["cost"] == pytest.approx(407.4)
    assert row["hours"] == pytest.approx(262.0)
    assert (row["part"], row["system"], row["asset"]) == ("Cylinder_Tilt", "Bucket", "A")
    assert row["modes"] == ["Leak"]


def test_maintkg_reload_changes_nothing(maintkg_graph, settings):
    store, _ = maintkg_graph
    before = (store.counts(), graph_checksum(store))
    again = ingest_workorders(store, settings, data_file("maintkg_pdl", "case_study_pdl.csv"), MAINTKG_MAPPING)
    assert again.report.nodes_created == 0
    assert again.report.relationships_created == 0
    assert (store.counts(), graph_checksum(store)) == before


@pytest.mark.parametrize("encoding", ["gb18030", "gbk", "utf-8-sig", "utf-8"])
def test_chinese_csv_round_trips(core_graph, settings, tmp_path, encoding):
    data, mapping = write_zh_csv(tmp_path, encoding)
    result = ingest_workorders(core_graph, settings, data, mapping)
    assert result.rows == 2
    rows = core_graph.read("MATCH (wo:WorkOrder)-[:FOR_ASSET]->(e:Equipment) RETURN wo.name AS id, wo.text AS text, "
                           "e.name AS asset, wo.language AS language ORDER BY id")
    assert [row["text"] for row in rows] == [ZH_ROWS[1][8], ZH_ROWS[2][8]]
    assert {row["asset"] for row in rows} == {"3号空压机"}
    assert {row["language"] for row in rows} == {"zh"}
    modes = core_graph.read("MATCH (m:FailureMode) RETURN m.name AS name, m.nameZh AS zh ORDER BY name")
    assert modes == [{"name": "Overheating", "zh": "过热"}, {"name": "泄漏", "zh": "泄漏"}]


def test_explicit_encoding_overrides_detection(core_graph, settings, tmp_path):
    data, mapping = write_zh_csv(tmp_path, "gb18030")
    before = _graph_state(core_graph)
    with pytest.raises(InputDataError, match="not valid utf-8"):
        ingest_workorders(core_graph, settings, data, mapping, encoding="utf-8")
    assert _graph_state(core_graph) == before
    result = ingest_workorders(core_graph, settings, data, mapping, encoding="gb18030")
    assert result.encoding == "gb18030"


def _graph_state(store):
    return store.counts(), graph_checksum(store)


def test_missing_column_names_file_and_column(core_graph, settings, tmp_path):
    rows = [[cell for index, cell in enumerate(row) if index != 2] for row in ZH_ROWS]
    data, mapping = write_zh_csv(tmp_path, "utf-8", rows)
    before = _graph_state(core_graph)
    with pytest.raises(InputDataError) as caught:
        ingest_workorders(core_graph, settings, data, mapping)
    message = str(caught.value)
    assert str(data) in message
    assert "'设备'" in message
    assert "line 1" in message
    assert _graph_state(core_graph) == before


def test_empty_file_is_rejected(core_graph, settings, tmp_path):
    data, mapping = write_zh_csv(tmp_path, "utf-8")
    data.write_bytes(b"")
    with pytest.raises(InputDataError, match="empty"):
        ingest_workorders(core_graph, settings, data, mapping)


def test_header_only_file_is_rejected(core_graph, settings, tmp_path):
    data, mapping = write_zh_csv(tmp_path, "utf-8", ZH_ROWS[:1])
    with pytest.raises(InputDataError, match="no data rows"):
        ingest_workorders(core_graph, settings, data, mapping)


def test_binary_file_is_rejected(core_graph, settings, tmp_path):
    data, mapping = write_zh_csv(tmp_path, "utf-8")
    data.write_bytes(b"PK\x03\x04\x00\x00binary\x00\xff\xfe" * 50)
    before = _graph_state(core_graph)
    with pytest.raises(InputDataError, match="binary"):
        ingest_workorders(core_graph, settings, data, mapping)
    assert _graph_state(core_graph) == before


def test_bad_date_names_line_and_writes_nothing(core_graph, settings, tmp_path):
    rows = [list(row) for row in ZH_ROWS]
    rows[2][1] = "2025-13-45"
    data, mapping = write_zh_csv(tmp_path, "utf-8", rows)
    before = _graph_state(core_graph)
    with pytest.raises(InputDataError) as caught:
        ingest_workorders(core_graph, settings, data, mapping)
    message = str(caught.value)
    assert "line 3" in message
    assert "'2025-13-45'" in message
    assert "'日期'" in message
    assert _graph_state(core_graph) == before


def test_bad_row_keeps_stored_data(core_graph, settings, tmp_path):
    data, mapping = write_zh_csv(tmp_path, "utf-8")
    ingest_workorders(core_graph, settings, data, mapping)
    stored = _graph_state(core_graph)
    rows = [list(row) for row in ZH_ROWS] + [["WO-3", "2025-04-01", "3号空压机", "", "", "", "", "abc", "费用无效"]]
    bad, _ = write_zh_csv(tmp_path / "..", "utf-8", rows)
    with pytest.raises(InputDataError, match="'abc' is not a number"):
        ingest_workorders(core_graph, settings, bad, mapping)
    assert _graph_state(core_graph) == stored


def test_duplicate_id_is_rejected(core_graph, settings, tmp_path):
    rows = [list(row) for row in ZH_ROWS] + [list(ZH_ROWS[1])]
    data, mapping = write_zh_csv(tmp_path, "utf-8", rows)
    with pytest.raises(InputDataError, match="duplicate work-order id 'WO-1' \\(first on line 2\\)"):
        ingest_workorders(core_graph, settings, data, mapping)


def test_invalid_mapping_names_field(core_graph, settings, tmp_path):
    data, mapping = write_zh_csv(tmp_path, "utf-8")
    mapping.write_text(ZH_MAPPING.replace("  asset: 设备\n", ""), encoding="utf-8")
    with pytest.raises(MappingError) as caught:
        ingest_workorders(core_graph, settings, data, mapping)
    assert "columns.asset" in str(caught.value)
    assert str(mapping) in str(caught.value)


def test_ingest_without_ontology_is_rejected(empty_graph, settings, tmp_path):
    data, mapping = write_zh_csv(tmp_path, "utf-8")
    with pytest.raises(Exception, match="no ontology is loaded"):
        ingest_workorders(empty_graph, settings, data, mapping)
    assert empty_graph.counts() == (0, 0)


def test_writer_rejects_label_outside_ontology(core_graph):
    from kg_service.graph.records import NodeRecord
    from kg_service.graph.writer import BatchedWriter
    from kg_service.ontology.schema import GraphSchema

    writer = BatchedWriter(core_graph, GraphSchema.from_store(core_graph))
    with pytest.raises(UnknownTermError):
        writer.write([NodeRecord("Equipment`) DETACH DELETE n //", "x", {"name": "x"})], [])
    with pytest.raises(UnknownTermError):
        writer.write([NodeRecord("Equipment", "x", {"nam`e": "x"})], [])
    assert core_graph.read("MATCH (n:Entity) RETURN count(n) AS n")[0]["n"] == 0


def test_utf16_with_bom_loads(core_graph, settings, tmp_path):
    data, mapping = write_zh_csv(tmp_path, "utf-16")
    result = ingest_workorders(core_graph, settings, data, mapping)
    assert result.encoding == "utf-16"
    assert result.rows == 2


def test_column_typo_suggests_close_name(core_graph, settings, tmp_path):
    data, mapping = write_zh_csv(tmp_path, "utf-8")
    mapping.write_text(ZH_MAPPING.replace("text: 描述", "text: 描述文本"), encoding="utf-8")
    with pytest.raises(InputDataError) as caught:
        ingest_workorders(core_graph, settings, data, mapping)
    message = str(caught.value)
    assert "column '描述文本' is not in workorders_utf-8.csv; did you mean '描述'?" in message
    assert str(mapping) in message


def test_wrong_delimiter_is_named(core_graph, settings, tmp_path):
    data, mapping = write_zh_csv(tmp_path, "utf-8")
    data.write_text("\n".join(";".join(row) for row in ZH_ROWS) + "\n", encoding="utf-8")
    with pytest.raises(InputDataError, match="separated by ';'"):
        ingest_workorders(core_graph, settings, data, mapping)


def test_folder_instead_of_file(core_graph, settings, tmp_path):
    _, mapping = write_zh_csv(tmp_path, "utf-8")
    with pytest.raises(InputDataError, match="is a folder, not a CSV file"):
        ingest_workorders(core_graph, settings, tmp_path, mapping)
