"""The Python client in both modes (in-process and over HTTP) on the sample plant."""

from __future__ import annotations

import logging
from datetime import date, datetime

import numpy as np
import pandas as pd
import pytest

from kg_service.api.app import create_app
from kg_service.api.auth import AuthenticationError, AuthorizationError
from kg_service.client import LANGUAGES, KGClient
from kg_service.errors import ConfigurationError, NotFoundError, QueryError
from kg_service.ontology.editing import OntologyEditor
from kg_service.reasoning.lookup import LANGUAGES as SERVER_LANGUAGES
from tests.conftest import load_sample_plant, serve_in_thread

pytestmark = pytest.mark.neo4j


@pytest.fixture(scope="module")
def plant(store, settings):
    return load_sample_plant(store, settings)


@pytest.fixture(scope="module")
def server_url(plant, settings):
    with serve_in_thread(create_app(settings, plant)) as url:
        yield url


@pytest.fixture(scope="module")
def direct(plant):
    with KGClient(store=plant) as client:
        yield client


@pytest.fixture(scope="module")
def http(server_url):
    with KGClient(url=server_url) as client:
        yield client


def test_modes_rank_causes_alike(direct, http):
    local = direct.root_causes(asset="AC-3", failure_mode="Overheating", limit=5)
    remote = http.root_causes(asset="AC-3", failure_mode="Overheating", limit=5)
    pd.testing.assert_frame_equal(local.candidates, remote.candidates)
    assert local.candidates.loc[0, "label"] == "Cooling System"


def test_root_causes_evidence_graph(direct):
    causes = direct.root_causes(asset="3号空压机", failure_mode="过热", limit=5, lang="zh")
    top = causes.candidates.loc[0, "id"]
    graph = causes.graph
    evidence = set(causes.evidence[causes.evidence["candidate"] == top]["id"])
    assert causes.candidates.loc[0, "label"] == "冷却系统"
    assert graph.in_degree(top) > 0
    assert set(graph.predecessors(top)) <= evidence
    assert {data["type"] for _, _, data in graph.in_edges(top, data=True)} == {"INVOLVES"}
    assert graph.nodes[top]["role"] == "candidate"
    assert graph.nodes["equipment:sample-plant:ac-3"]["label"] == "3号空压机"


def test_root_causes_evidence_table(direct):
    causes = direct.root_causes(asset="AC-3", failure_mode="Overheating", limit=5)
    counts = causes.evidence[causes.evidence["kind"] == "work_order"].groupby("candidate").size()
    assert counts["system:sample-plant:ac-3/cooling-system"] == 11
    assert causes.target_work_orders == 14


def test_failure_history_pages(http):
    history = http.failure_history("AC-3")
    failures = http.failure_history("AC-3", failures_only=True)
    assert len(history) > len(failures)
    assert history["date"].is_monotonic_decreasing
    assert failures["failure_modes"].str.len().gt(0).all()


def test_search_in_chinese(direct):
    found = direct.search("空压机", lang="zh", of_class="Equipment")
    assert set(found["id"]) == {"equipment:sample-plant:ac-1", "equipment:sample-plant:ac-3"}


def test_supplier_tables_consistent(http):
    ranking = http.rank_suppliers({"certificationCount": 0.5, "partCount": 0.5})
    closeness = ranking.distances["toAntiIdeal"] / (ranking.distances["toIdeal"] + ranking.distances["toAntiIdeal"])
    assert ranking.ranking.loc[0, "supplier"] == "supplier:sample-plant:wuxi-bearing"
    assert ranking.normalized.shape == ranking.decision.shape
    assert np.allclose(ranking.weighted, ranking.normalized * ranking.weights)
    assert np.allclose(closeness, ranking.scores)


def test_supplier_kpis_indexed(direct):
    kpis = direct.supplier_kpis()
    assert kpis.loc["supplier:sample-plant:wuxi-bearing", "certificationCount"] == 2
    assert len(kpis) == 3


def test_design_constraints_listed(direct):
    constraints = direct.design_constraints("AC-3-CM")
    assert "constraint:sample-plant:ac-3-cm:wall-thickness" in set(constraints["constraint"])
    assert constraints["document"].eq("document:sample-plant:ac-3-cm-spec").any()


def test_ontology_classes_bilingual(http):
    classes = http.ontology_classes().set_index("node_label")
    hierarchy = http.class_hierarchy()
    assert classes.loc["Bearing", "label_zh"] == "轴承"
    assert classes["label_zh"].notna().all()
    assert "Part" in hierarchy.successors("Bearing")


def test_ontology_changes_after_edit(plant, direct):
    editor = OntologyEditor(plant)
    before = len(direct.ontology_changes())
    result = editor.relabel_term("Bearing", {"zh": "滚动轴承"}, why="client test", author="tests")
    editor.relabel_term("Bearing", result.inverse["arguments"]["labels"], why="undo client test", author="tests")
    changes = direct.ontology_changes()
    assert len(changes) == before + 2
    assert changes.iloc[-2]["why"] == "client test"
    assert changes.iloc[-1]["operation"] == "relabelTerm"


def test_ask_through_client(http, monkeypatch):
    import kg_service.api.ask as ask_module
    from kg_service.ask.rules import RuleMapper

    # The server would otherwise load the configured language model on the first question.
    monkeypatch.setattr(ask_module, "_shared_mapper", RuleMapper())
    answer = http.ask("P-101冷却液泵的维修记录")
    assert answer["tool"] == "failure_history"
    assert answer["lang"] == "zh"


def test_similar_without_embeddings_raises(direct):
    with pytest.raises(QueryError):
        direct.similar("AC-3")


def test_unknown_asset_raises(http):
    with pytest.raises(QueryError) as raised:
        http.failure_history("Compressor 99")
    assert "Compressor 99" in str(raised.value)


def warnings_and_errors(caplog) -> list[logging.LogRecord]:
    return [record for record in caplog.records if record.levelno >= logging.WARNING]


def test_in_process_user_error_not_warned(direct, caplog):
    """Each user error of the in-process client put a warning line under the notebook cell, beside the exception."""
    caplog.set_level(logging.DEBUG)
    with pytest.raises(NotFoundError) as raised:
        direct.failure_history("Compressor 99")
    assert "Compressor 99" in str(raised.value)
    assert warnings_and_errors(caplog) == []
    debug_lines = [record for record in caplog.records
                   if record.name == "kg_service.api.schema" and "Compressor 99" in record.getMessage()]
    assert [record.levelno for record in debug_lines] == [logging.DEBUG]


@pytest.mark.parametrize("mode", ["direct", "http"])
def test_unknown_asset_same_error_both_ways(mode, request):
    """An unknown asset raised NotFoundError in process but a plain QueryError over HTTP."""
    client = request.getfixturevalue(mode)
    with pytest.raises(NotFoundError) as raised:
        client.failure_history("Compressor 99")
    assert str(raised.value).startswith("no ")
    assert "Compressor 99" in str(raised.value)


def test_in_process_client_internal_error_logged(direct, caplog, monkeypatch):
    import kg_service.reasoning.lookup as lookup_module

    def broken(*args, **kwargs):
        raise RuntimeError("history parameters broke")

    monkeypatch.setattr(lookup_module, "asset_history_params", broken)
    with pytest.raises(QueryError) as raised:
        direct.failure_history("AC-3")
    assert "history parameters broke" in str(raised.value)
    logged = warnings_and_errors(caplog)
    assert len(logged) == 1
    assert logged[0].levelno == logging.ERROR
    assert logged[0].exc_info is not None
    assert isinstance(logged[0].exc_info[1], RuntimeError)


def test_server_logs_user_error_as_warning(http, caplog):
    with pytest.raises(QueryError):
        http.failure_history("Compressor 99")
    logged = [record for record in warnings_and_errors(caplog) if record.name == "kg_service.api.schema"]
    assert len(logged) == 1
    assert logged[0].levelno == logging.WARNING
    assert "Compressor 99" in logged[0].getMessage()


@pytest.mark.parametrize("mode", ["direct", "http"])
def test_failure_history_date_time_rejected(mode, request):
    """A date-time in since or until used to be cut to its date, which silently changed the window."""
    client = request.getfixturevalue(mode)
    with pytest.raises(QueryError) as raised:
        client.failure_history("AC-3", since="2024-03-01T10:00:00")
    assert "since must be a date (YYYY-MM-DD), got the date-time '2024-03-01T10:00:00'" in str(raised.value)
    with pytest.raises(QueryError) as raised:
        client.failure_history("AC-3", until=datetime(2024, 12, 31, 18, 30))
    assert "until must be a date (YYYY-MM-DD), got the date-time '2024-12-31T18:30:00'" in str(raised.value)
    assert "such as 2024-12-31" in str(raised.value)


@pytest.mark.parametrize("mode", ["direct", "http"])
def test_failure_history_reversed_window_rejected(mode, request):
    client = request.getfixturevalue(mode)
    with pytest.raises(QueryError) as raised:
        client.failure_history("AC-3", since="2024-12-31", until="2024-01-01")
    assert "since (2024-12-31) is after until (2024-01-01)" in str(raised.value)


def test_failure_history_since_latest_date_accepted(direct):
    """Passing back the date column's pandas Timestamp (midnight) used to be refused as a date-time."""
    history = direct.failure_history("AC-3")
    latest = history["date"].max()
    again = direct.failure_history("AC-3", since=latest)
    by_text = direct.failure_history("AC-3", since="2025-01-01T00:00:00", until=datetime(2025, 12, 31))
    by_date = direct.failure_history("AC-3", since="2025-01-01", until="2025-12-31")

    assert len(again) >= 1
    assert set(again["id"]) == set(history.loc[history["date"] == latest, "id"])
    assert list(by_text["id"]) == list(by_date["id"])


@pytest.mark.parametrize("mode", ["direct", "http"])
def test_root_causes_accept_date_objects(mode, request):
    """root_causes(since=date(...)) failed: a TypeError over HTTP and a variable error in process."""
    client = request.getfixturevalue(mode)
    by_text = client.root_causes("AC-3", since="2024-01-01", until="2024-12-31T23:59:59")
    by_date = client.root_causes("AC-3", since=date(2024, 1, 1), until=datetime(2024, 12, 31, 23, 59, 59))
    by_pandas = client.root_causes("AC-3", since=pd.Timestamp("2024-01-01"),
                                   until=np.datetime64("2024-12-31T23:59:59"))

    assert list(by_text.candidates["id"]) == list(by_date.candidates["id"])
    assert list(by_text.candidates["id"]) == list(by_pandas.candidates["id"])
    assert len(by_text.candidates) > 0


def test_failure_history_accepts_date_objects(direct):
    by_text = direct.failure_history("AC-3", since="2024-01-01", until="2024-12-31")
    by_date = direct.failure_history("AC-3", since=date(2024, 1, 1), until=date(2024, 12, 31))
    assert 0 < len(by_date) < len(direct.failure_history("AC-3"))
    pd.testing.assert_frame_equal(by_text, by_date)


def test_wrong_key_rejected(server_url):
    with KGClient(url=server_url, api_key="not-a-key") as client:
        with pytest.raises(AuthenticationError):
            client.entity("equipment:sample-plant:ac-3")


def test_client_needs_one_target():
    with pytest.raises(ConfigurationError):
        KGClient()


# The proposal of docs/design-constraints.md, as the CLI's design file spells it.
SNAKE_CASE_PROPOSAL = {
    "name": "rev B",
    "product": "Air Compressor AC-3 replacement cooling module",
    "materials": ["EN AC-43000", "S235JR"],
    "dimensions": [{"name": "wall thickness", "value": 0.2, "unit": "cm", "tolerance": 0.02, "process": "die casting"}],
    "parts": [{"part": "6204-2RS", "rated_load": {"value": 13.5, "unit": "kN"}},
              {"part": "Cooler housing", "supplier": "Kunshan Castings"}],
}


@pytest.mark.parametrize("mode", ["direct", "http"])
def test_client_accepts_snake_case_design(mode, request):
    """check_design rejected the CLI's snake_case design file: unknown field 'rated_load'."""
    client = request.getfixturevalue(mode)
    camel = {**SNAKE_CASE_PROPOSAL, "parts": [{"part": "6204-2RS", "ratedLoad": {"value": 13.5, "unit": "kN"}},
                                              SNAKE_CASE_PROPOSAL["parts"][1]]}
    by_snake = client.check_design(SNAKE_CASE_PROPOSAL)
    by_camel = client.check_design(camel)
    assert by_snake.conforms is False
    assert by_snake.violation_count == 2
    assert by_snake.violation_count == by_camel.violation_count
    assert by_snake.warning_count == by_camel.warning_count
    assert sorted(by_snake.violations["message"]) == sorted(by_camel.violations["message"])


def test_client_rejects_both_spellings(direct):
    design = {"name": "rev B", "parts": [{"part": "6204-2RS", "rated_load": {"value": 13.5, "unit": "kN"},
                                          "ratedLoad": {"value": 12, "unit": "kN"}}]}
    with pytest.raises(QueryError) as raised:
        direct.check_design(design)
    assert str(raised.value) == ("design.parts[0] has both 'rated_load' and 'ratedLoad', two spellings of one field; "
                                 "keep one of them")


RELABEL_MUTATION = """
mutation { relabelTerm(term: "Bearing", labelZh: "滚动轴承", why: "client test", author: "tests", preview: true) {
  applied } }
"""


@pytest.mark.parametrize("mode", ["direct", "http"])
def test_client_raises_authorization_error(mode, request):
    """A field above the request's role raised QueryError('query failed: ...') over HTTP."""
    client = request.getfixturevalue(mode)
    with pytest.raises(AuthorizationError) as raised:
        client.execute(RELABEL_MUTATION)
    assert "needs the role ontology-editor or higher" in str(raised.value)
    assert not str(raised.value).startswith("query failed")


def _no_request(*args, **kwargs):
    raise AssertionError("the client sent a request for an argument it must reject first")


@pytest.mark.parametrize("mode", ["direct", "http"])
@pytest.mark.parametrize("limit", [0, -1])
def test_failure_history_limit_zero_rejected(mode, limit, request, monkeypatch):
    """limit=0 and limit=-1 each returned one row: the limit was checked only after a row was added."""
    client = request.getfixturevalue(mode)
    monkeypatch.setattr(client, "execute", _no_request)
    with pytest.raises(QueryError) as raised:
        client.failure_history("AC-3", limit=limit)
    assert f"limit must be at least 1, or None for every work order, got {limit}" in str(raised.value)


@pytest.mark.parametrize("mode", ["direct", "http"])
@pytest.mark.parametrize("limit", [2.5, "3", True])
def test_failure_history_limit_type_checked(mode, limit, request, monkeypatch):
    client = request.getfixturevalue(mode)
    monkeypatch.setattr(client, "execute", _no_request)
    with pytest.raises(QueryError) as raised:
        client.failure_history("AC-3", limit=limit)
    assert f"limit must be an integer of at least 1, or None for every work order, got {type(limit).__name__}" \
        in str(raised.value)


@pytest.mark.parametrize("mode", ["direct", "http"])
def test_failure_history_limit_one_row(mode, request):
    history = request.getfixturevalue(mode).failure_history("AC-3", limit=1)
    assert len(history) == 1


@pytest.mark.parametrize("mode", ["direct", "http"])
def test_failure_history_unknown_lang_rejected(mode, request, monkeypatch):
    """lang="xx" was accepted silently and gave English names."""
    client = request.getfixturevalue(mode)
    monkeypatch.setattr(client, "execute", _no_request)
    with pytest.raises(QueryError) as raised:
        client.failure_history("AC-3", lang="xx")
    assert "lang must be one of en, zh, got 'xx'" in str(raised.value)
    with pytest.raises(QueryError) as raised:
        client.root_causes(asset="AC-3", failure_mode="Overheating", lang="xx")
    assert "lang must be one of en, zh, got 'xx'" in str(raised.value)


def test_client_languages_match_server(direct):
    """The client checks lang itself, so its languages must be the server's."""
    assert LANGUAGES == SERVER_LANGUAGES
    with pytest.raises(QueryError) as raised:
        direct.search("Pump", lang="xx")
    assert "lang must be one of en, zh, got 'xx'" in str(raised.value)


@pytest.mark.parametrize("mode", ["direct", "http"])
@pytest.mark.parametrize("asset", [None, 3, "", "  "])
def test_failure_history_asset_type_checked(mode, asset, request, monkeypatch):
    """None and 3 used to reach the server and come back as GraphQL variable errors."""
    client = request.getfixturevalue(mode)
    monkeypatch.setattr(client, "execute", _no_request)
    with pytest.raises(QueryError) as raised:
        client.failure_history(asset)
    assert f"asset must be an asset key or name as non-empty text, such as 'AC-3', got {type(asset).__name__} " \
           f"{asset!r}" in str(raised.value)


@pytest.mark.parametrize("mode", ["direct", "http"])
def test_root_causes_report_tied_conditions(mode, request):
    # The client dropped conditionSource and tiedConditions, so a notebook could not see a tie.
    client = request.getfixturevalue(mode)
    causes = client.root_causes(asset="AC-1")
    assert causes.condition_source == "work orders"
    assert causes.condition["id"] == "failure-mode:pressure-low"
    assert causes.tied_conditions == ["failure-mode:noise"]
