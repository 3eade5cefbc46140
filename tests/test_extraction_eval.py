"""Extraction evaluation: gold loading, span mapping, metrics, scoring through the real pipeline, the CLI."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from kg_service.cli import app
from kg_service.evaluation.extraction import (EntityKey, GoldSet, PrecisionRecallF1, RelationKey, char_span_to_tokens,
                                              evaluate_extraction, load_gold, predicted_keys, score, token_offsets,
                                              truncate)
from kg_service.evaluation.type_mappings import MAINTIE, MWO2KG
from kg_service.extraction.backend import GenerationRequest, ScriptedBackend
from kg_service.extraction.results import ChunkExtraction, ExtractedEntity, ExtractedRelation
from kg_service.extraction.scope import ExtractionScope, core_schema
from tests.conftest import data_file

# Ontology classes whose MaintIE mapping has the given top-level type, for oracle answers.
ORACLE_CLASS = {"PhysicalObject": "Component", "Activity": "MaintenanceAction", "State": "FailureMode",
                "Process": "FailureMechanism", "Property": "Signal"}


def _oracle(gold: GoldSet) -> ScriptedBackend:
    """Return a backend that answers each gold text with its gold entities and hasPart relations."""
    by_text = {example.text: example for example in gold.examples}

    def answer(request: GenerationRequest) -> str:
        text = request.messages[-1]["content"].removeprefix("Text: ")
        example = by_text[text]
        entities = []
        for entity in example.entities:
            start = example.offsets[entity.start][0]
            end = example.offsets[entity.end - 1][1]
            entities.append({"text": text[start:end], "start": start, "confidence": 0.9,
                             "type": ORACLE_CLASS[entity.type.split("/")[0]]})
        index = {(entity.start, entity.end): position for position, entity in enumerate(example.entities)}
        relations = []
        for relation in example.relations:
            head, tail = index[relation.head], index[relation.tail]
            if relation.type == "hasPart" and entities[head]["type"] == entities[tail]["type"] == "Component":
                relations.append({"source": tail, "type": "PART_OF", "target": head, "confidence": 0.8})
        return json.dumps({"entities": entities, "relations": relations}, ensure_ascii=False)

    return ScriptedBackend(answer, model_id="oracle")


@pytest.fixture(scope="module")
def scope() -> ExtractionScope:
    return ExtractionScope.from_schema(core_schema())


# gold files

def test_load_maintie_english() -> None:
    gold = load_gold(data_file("maintie", "gold_dev.json"))
    assert gold.scheme == "maintie"
    assert gold.lang == "en"
    assert len(gold.examples) == 300
    assert sum(len(example.relations) for example in gold.examples) == 638


def test_load_maintie_chinese() -> None:
    gold = load_gold(data_file("maintie_zh", "gold_zh_dev.json"), limit=10)
    first = gold.examples[0]
    assert gold.lang == "zh"
    assert len(gold.examples) == 10
    assert first.tokens[0] == "<id>"
    assert first.offsets[1] == (4, 5)


def test_load_mwo2kg_dedupes_mentions() -> None:
    gold = load_gold(data_file("mwo2kg", "ner", "dev_401.json"))
    first = gold.examples[0]
    assert gold.scheme == "mwo2kg"
    assert len(gold.examples) == 401
    assert len(first.entities) == len(set(first.entities))
    assert EntityKey(0, 1, "Activity") in first.entities
    assert all(entity.type != "Typo" for example in gold.examples for entity in example.entities)


def test_load_gold_rejects_non_json(tmp_path: Path) -> None:
    from kg_service.errors import InputDataError

    path = tmp_path / "gold.json"
    path.write_text("not json at all", encoding="utf-8")
    with pytest.raises(InputDataError, match="not JSON"):
        load_gold(path)


def test_load_gold_missing_file(tmp_path: Path) -> None:
    from kg_service.errors import InputDataError

    with pytest.raises(InputDataError, match="not found"):
        load_gold(tmp_path / "absent.json")


# spans and metrics

def test_token_offsets_chinese_placeholder() -> None:
    assert token_offsets("<id>空调坏", ["<id>", "空", "调", "坏"]) == [(0, 4), (4, 5), (5, 6), (6, 7)]


def test_char_span_to_tokens_overlap() -> None:
    offsets = token_offsets("air conditioner warm", ["air", "conditioner", "warm"])
    assert char_span_to_tokens(offsets, 0, 15) == (0, 2)
    assert char_span_to_tokens(offsets, 4, 8) == (1, 2)
    assert char_span_to_tokens(offsets, 15, 16) is None


def test_truncate_depth() -> None:
    assert truncate("PhysicalObject/SensingObject/TemperatureSensingObject", 2) == "PhysicalObject/SensingObject"
    assert truncate("State", 3) == "State"


def test_precision_recall_f1_counts() -> None:
    metric = PrecisionRecallF1.compute([{1, 2, 3}, set()], [{1, 2}, {4}])
    assert metric.true_positives == 2
    assert metric.precision == pytest.approx(2 / 3)
    assert metric.recall == pytest.approx(2 / 3)
    assert metric.f1 == pytest.approx(2 / 3)


def test_precision_recall_f1_empty() -> None:
    metric = PrecisionRecallF1.compute([set()], [set()])
    assert metric.f1 == 0.0


def test_score_depth_and_exact() -> None:
    gold = load_gold(data_file("maintie", "gold_dev.json"), limit=1)
    example = gold.examples[0]
    predicted = [EntityKey(1, 3, "PhysicalObject"), EntityKey(3, 4, "State/UndesirableState")]
    relations = [RelationKey((1, 3), (0, 1), "hasParticipant")]
    scores = score(gold, [(predicted, relations)], depth=1)
    assert len(example.entities) == 2
    assert scores.entity_at_depth.f1 == 1.0
    assert scores.entity_exact.true_positives == 1
    assert scores.entity_span.f1 == 1.0
    assert scores.relation_exact.true_positives == 0


def test_mappings_cover_maintie_top_levels() -> None:
    tops = {path.split("/")[0] for path in MAINTIE.entities.values()}
    assert tops == {"PhysicalObject", "Activity", "State", "Process", "Property"}


def test_mappings_use_scope_classes(scope: ExtractionScope) -> None:
    for mapping in (MAINTIE, MWO2KG):
        assert set(mapping.entities) <= set(scope.classes)


def test_mappings_use_scope_relationships(scope: ExtractionScope) -> None:
    assert set(MAINTIE.relations) <= set(scope.relationships)


def _extraction(text: str, entities: list[tuple[str, str]], relations: list[tuple[int, str, int]]) -> ChunkExtraction:
    found = [ExtractedEntity(surface, type_, text.index(surface), text.index(surface) + len(surface), 0.7)
             for surface, type_ in entities]
    return ChunkExtraction(text=text, entities=found,
                           relations=[ExtractedRelation(source, type_, target, 0.7)
                                      for source, type_, target in relations])


def test_failure_mode_relation_scores_patient() -> None:
    gold = load_gold(data_file("maintie", "gold_dev.json"), limit=1)
    example = gold.examples[0]
    extraction = _extraction(example.text, [("air conditioner", "Equipment"), ("warm", "FailureMode")],
                             [(0, "SHOWS_FAILURE_MODE", 1)])
    _, relations = predicted_keys(example, extraction, MAINTIE)
    assert relations == [RelationKey((3, 4), (1, 3), "hasParticipant/hasPatient")]
    assert relations[0] in example.relations


def test_action_relation_scores_patient() -> None:
    example = load_gold(data_file("maintie", "gold_dev.json"), limit=2).examples[1]
    extraction = _extraction(example.text, [("air freight", "MaintenanceAction"), ("pump", "Equipment")],
                             [(0, "PERFORMED_ON", 1)])
    _, relations = predicted_keys(example, extraction, MAINTIE)
    assert relations[0].type == "hasParticipant/hasPatient"
    assert relations[0] in example.relations


# scoring real extraction results

def test_oracle_english_depth_one(scope: ExtractionScope) -> None:
    gold = load_gold(data_file("maintie", "gold_dev.json"), limit=25)
    evaluation, extractions = evaluate_extraction(gold, _oracle(gold), scope, depth=1)
    assert len(extractions) == 25
    assert evaluation.quarantined == 0
    assert evaluation.scores.entity_at_depth.f1 >= 0.95
    assert evaluation.scores.entity_exact.f1 < evaluation.scores.entity_at_depth.f1
    assert evaluation.scores.relation_at_depth.precision >= 0.95
    assert evaluation.scores.relation_at_depth.true_positives > 0


def test_oracle_chinese_depth_one(scope: ExtractionScope) -> None:
    gold = load_gold(data_file("maintie_zh", "gold_zh_dev.json"), limit=20)
    evaluation, _ = evaluate_extraction(gold, _oracle(gold), scope, depth=1)
    assert evaluation.lang == "zh"
    assert evaluation.scores.entity_at_depth.f1 >= 0.95


def test_empty_answers_score_zero(scope: ExtractionScope) -> None:
    gold = load_gold(data_file("mwo2kg", "ner", "dev_401.json"), limit=5)
    backend = ScriptedBackend(lambda request: '{"entities": [], "relations": []}')
    evaluation, _ = evaluate_extraction(gold, backend, scope)
    assert evaluation.scores.entity_at_depth.predicted == 0
    assert evaluation.scores.entity_at_depth.recall == 0.0
    assert evaluation.scores.entity_at_depth.gold > 0


def test_cli_evaluate_extraction_json() -> None:
    gold = data_file("maintie", "gold_dev.json")
    result = CliRunner().invoke(app, ["evaluate", "extraction", "--gold", str(gold), "--limit", "3",
                                      "--backend", "scripted", "--depth", "2", "--json"])
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout.strip().splitlines()[-1])
    assert report["examples"] == 3
    assert report["scores"]["depth"] == 2
    assert report["scores"]["entity_exact"]["gold"] > 0


def test_cli_evaluate_extraction_bad_gold(tmp_path: Path) -> None:
    result = CliRunner().invoke(app, ["evaluate", "extraction", "--gold", str(tmp_path / "none.json"),
                                      "--backend", "scripted"])
    assert result.exit_code == 1
    assert "not found" in result.output
