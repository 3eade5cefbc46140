"""Command-line messages and the quick start's table, as a new analyst met them on 2026-12-05."""

from __future__ import annotations

import re

import pytest

from kg_service.errors import GraphStoreError
from kg_service.graph.store import GraphStore
from kg_service.neo4j_server import LocalNeo4j
from kg_service.quickstart import SOURCE_NAMES_ZH
from tests.conftest import ROOT
from tests.test_cli import free_port, run_cli

pytestmark = pytest.mark.neo4j


def one_line(text: str) -> str:
    return " ".join(text.split())


def local_password(settings) -> str:
    if not settings.uses_local_server:
        pytest.skip("needs the local server's password")
    return LocalNeo4j(settings).password()


def test_unreachable_external_uri_advice(monkeypatch):
    """With NEO4J_URI set, the advice was to run 'kg-service neo4j start', which starts nothing then."""
    uri = f"bolt://127.0.0.1:{free_port()}"
    monkeypatch.setenv("NEO4J_URI", uri)
    monkeypatch.setenv("NEO4J_PASSWORD", "unused")

    result = run_cli("query", "RETURN 1 AS one", check=False)
    message = one_line(result.stderr)

    assert result.returncode == 1
    assert f"Neo4j at {uri} is not reachable" in message
    assert "Check that the server at NEO4J_URI runs" in message
    assert "unset NEO4J_URI to use the local Neo4j" in message
    assert "start it with" not in message


def test_unreachable_local_server_advice(store, settings, monkeypatch):
    """The local server's advice names 'kg-service neo4j start' and the settings it must run with."""
    local_password(settings)
    port = free_port()
    monkeypatch.setenv("KG_BOLT_PORT", str(port))

    result = run_cli("query", "RETURN 1 AS one", check=False)
    message = one_line(result.stderr)

    assert result.returncode == 1
    assert f"Neo4j at bolt://127.0.0.1:{port} is not reachable" in message
    assert "Start the local Neo4j with 'kg-service neo4j start'" in message
    assert "KG_BOLT_PORT" in message


def test_status_checks_external_server(store, settings, monkeypatch):
    """`neo4j status` with NEO4J_URI printed "using the external Neo4j" and exit 0 without connecting."""
    password = local_password(settings)
    monkeypatch.setenv("NEO4J_PASSWORD", password)

    down_uri = f"bolt://127.0.0.1:{free_port()}"
    monkeypatch.setenv("NEO4J_URI", down_uri)
    down = run_cli("neo4j", "status", check=False)
    assert down.returncode == 3
    assert f"Neo4j at {down_uri} is not reachable" in one_line(down.stderr)

    monkeypatch.setenv("NEO4J_URI", store.uri)
    up = run_cli("neo4j", "status", check=False)
    assert up.returncode == 0
    assert f"using the external Neo4j at {store.uri} (NEO4J_URI)" in one_line(up.stdout)
    assert "connected, and the server accepted the credentials" in one_line(up.stdout)


def test_status_rejected_password_external(store, settings, monkeypatch):
    local_password(settings)
    monkeypatch.setenv("NEO4J_URI", store.uri)
    monkeypatch.setenv("NEO4J_PASSWORD", "not-the-password")

    result = run_cli("neo4j", "status", check=False)
    message = one_line(result.stderr)

    assert result.returncode == 1
    assert f"Neo4j at {store.uri} rejected the credentials of user 'neo4j'" in message
    assert "Check NEO4J_USER and NEO4J_PASSWORD." in message


def test_auth_error_punctuation(store, settings, monkeypatch):
    """The server's message ended with a period and the advice followed after a semicolon: "failure.; check"."""
    local_password(settings)
    monkeypatch.setenv("NEO4J_URI", store.uri)
    monkeypatch.setenv("NEO4J_PASSWORD", "not-the-password")

    result = run_cli("query", "RETURN 1 AS one", check=False)

    assert result.returncode == 1
    assert ".;" not in result.stderr
    assert "(The client is unauthorized due to authentication failure)." in one_line(result.stderr)


def test_missing_database_names_setting_local(store, settings, monkeypatch):
    """DatabaseNotFound came through as a raw Neo4j code and never named NEO4J_DATABASE."""
    local_password(settings)
    monkeypatch.setenv("NEO4J_DATABASE", "nosuchdb")

    result = run_cli("query", "RETURN 1 AS one", check=False)
    message = one_line(result.stderr)

    assert result.returncode == 1
    assert "NEO4J_DATABASE is 'nosuchdb'" in message
    assert "has only the database 'neo4j'" in message
    assert "Unset NEO4J_DATABASE" in message
    assert "Neo.ClientError" not in message


def test_missing_database_names_setting_external(store, settings, monkeypatch):
    password = local_password(settings)
    monkeypatch.setenv("NEO4J_URI", store.uri)
    monkeypatch.setenv("NEO4J_PASSWORD", password)
    monkeypatch.setenv("NEO4J_DATABASE", "nosuchdb")

    for args in (("query", "RETURN 1 AS one"), ("neo4j", "status")):
        result = run_cli(*args, check=False)
        message = one_line(result.stderr)
        assert result.returncode == 1, args
        assert f"NEO4J_DATABASE is 'nosuchdb', but Neo4j at {store.uri} has no such database" in message
        assert "Create it on that server" in message
        assert "unset NEO4J_DATABASE to use the default database 'neo4j'" in message


def test_missing_database_in_transaction(settings):
    """A read or write on a missing database (the API's path, without verify) names the setting too."""
    missing = settings.model_copy(update={"neo4j_database": "nosuchdb"})
    with GraphStore.from_settings(missing) as graph_store:
        with pytest.raises(GraphStoreError) as read_error:
            graph_store.read("RETURN 1 AS one")
        with pytest.raises(GraphStoreError) as write_error:
            graph_store.write("RETURN 1 AS one")

    assert str(read_error.value).startswith("read query failed: NEO4J_DATABASE is 'nosuchdb'")
    assert str(write_error.value).startswith("write transaction failed and was rolled back: "
                                             "NEO4J_DATABASE is 'nosuchdb'")


def test_every_score_source_has_zh_name():
    """A source added to the root-cause ranking without a Chinese name would print in English under --lang zh."""
    code = (ROOT / "kg_service" / "reasoning" / "rootcause.py").read_text(encoding="utf-8")
    sources = set(re.findall(r'ranking\.add\(row, "([a-z-]+)"', code))

    assert sources == set(SOURCE_NAMES_ZH)


def test_quickstart_zh_table_chinese_one_line(empty_graph, monkeypatch):
    """Under --lang zh the class and source names stayed English, and a piped table wrapped at 80 columns."""
    monkeypatch.delenv("COLUMNS", raising=False)

    result = run_cli("quickstart", "--exit", "--lang", "zh", "--port", str(free_port()))
    rows = {line.split("│")[2].strip(): line for line in result.stdout.splitlines() if line.count("│") == 7}

    assert "3号空压机过热的可能原因" in result.stdout
    assert set(rows) >= {"冷却系统", "冷却风扇"}
    cooling_system = [cell.strip() for cell in rows["冷却系统"].split("│")[1:-1]]
    assert cooling_system == ["1", "冷却系统", "系统", "0.876", "共现 0.79，先行 0.09", "11"]
    cooling_fan = [cell.strip() for cell in rows["冷却风扇"].split("│")[1:-1]]
    assert cooling_fan[2] == "部件"
    for english in ("System", "Component", "co-occurrence", "precedence"):
        assert english not in result.stdout


def test_stop_with_external_uri_stops_nothing(store, settings, monkeypatch):
    """`neo4j stop` with NEO4J_URI set stopped the local server under KG_STATE_DIR, while `start` started nothing."""
    if not settings.uses_local_server:
        pytest.skip("needs the local server")
    monkeypatch.setenv("NEO4J_URI", store.uri)
    monkeypatch.setenv("NEO4J_PASSWORD", local_password(settings))

    result = run_cli("neo4j", "stop")

    assert "nothing to stop" in one_line(result.stdout + result.stderr)
    assert LocalNeo4j(settings).status().running
    store.verify()
