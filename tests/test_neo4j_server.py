"""The project's own Neo4j: authentication, vector and full-text indexes, and status."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from neo4j import GraphDatabase
from neo4j.exceptions import AuthError

from kg_service.errors import Neo4jServerError
from kg_service.neo4j_server import LocalNeo4j

pytestmark = pytest.mark.neo4j


def test_server_reports_community_526(store):
    rows = store.read("CALL dbms.components() YIELD name, versions, edition RETURN name, versions, edition")
    assert rows[0]["edition"] == "community"
    assert rows[0]["versions"][0].startswith("5.26.")


def test_wrong_password_is_rejected(store, settings):
    if not settings.uses_local_server:
        pytest.skip("checks the generated password of the local server")
    with GraphDatabase.driver(store.uri, auth=("neo4j", "not-the-password")) as driver:
        with pytest.raises(AuthError):
            driver.verify_connectivity()


def test_local_status_names_uri(store, settings):
    if not settings.uses_local_server:
        pytest.skip("NEO4J_URI points at an external server")
    status = LocalNeo4j(settings).status()
    assert status.running
    assert status.uri == f"bolt://127.0.0.1:{settings.bolt_port}"
    password_file = LocalNeo4j(settings).password_file
    assert password_file.stat().st_mode & 0o077 == 0


def test_vector_index_finds_nearest(empty_graph):
    store = empty_graph
    store.run_schema(["CREATE VECTOR INDEX test_vectors IF NOT EXISTS FOR (n:VectorProbe) ON n.embedding "
                      "OPTIONS {indexConfig: {`vector.dimensions`: 3, `vector.similarity_function`: 'cosine'}}"])
    store.write("UNWIND $rows AS row CREATE (:VectorProbe {key: row.key, embedding: row.vector})",
                {"rows": [{"key": "x", "vector": [1.0, 0.0, 0.0]}, {"key": "y", "vector": [0.0, 1.0, 0.0]},
                          {"key": "xy", "vector": [0.7, 0.7, 0.0]}]})
    store.run_schema(["CALL db.awaitIndexes(60)"])
    rows = store.read("CALL db.index.vector.queryNodes('test_vectors', 2, $query) YIELD node, score "
                      "RETURN node.key AS key, score", {"query": [0.9, 0.1, 0.0]})
    assert [row["key"] for row in rows] == ["x", "xy"]
    assert rows[0]["score"] > rows[1]["score"]
    store.run_schema(["DROP INDEX test_vectors"])


def test_fulltext_index_matches_chinese(empty_graph):
    store = empty_graph
    store.run_schema(["CREATE FULLTEXT INDEX test_texts IF NOT EXISTS FOR (n:TextProbe) ON EACH [n.text] "
                      "OPTIONS {indexConfig: {`fulltext.analyzer`: 'cjk'}}"])
    store.write("UNWIND $rows AS row CREATE (:TextProbe {key: row.key, text: row.text})",
                {"rows": [{"key": "en", "text": "bearing noise on pump P-101"},
                          {"key": "zh", "text": "3号空压机冷却风扇损坏"},
                          {"key": "other", "text": "conveyor belt aligned"}]})
    store.run_schema(["CALL db.awaitIndexes(60)"])
    english = store.read("CALL db.index.fulltext.queryNodes('test_texts', 'bearing') YIELD node RETURN node.key AS key")
    chinese = store.read("CALL db.index.fulltext.queryNodes('test_texts', '风扇') YIELD node RETURN node.key AS key")
    assert [row["key"] for row in english] == ["en"]
    assert [row["key"] for row in chinese] == ["zh"]
    store.run_schema(["DROP INDEX test_texts"])


def test_failed_start_shows_log_tail(store, settings, tmp_path):
    if not settings.uses_local_server:
        pytest.skip("starts a second local server")
    broken = settings.model_copy(update={"state_dir": tmp_path, "bolt_port": 7698, "neo4j_page_cache": "lots",
                                         "neo4j_start_timeout_s": 60.0})
    server = LocalNeo4j(broken)
    with pytest.raises(Neo4jServerError) as caught:
        server.start()
    message = str(caught.value)
    assert "exited during start-up" in message
    assert "launcher.log" in message
    assert not server.status().running


def test_external_uri_starts_nothing(store, settings, tmp_path):
    if not settings.uses_local_server:
        pytest.skip("needs the local server's password")
    env = {**os.environ, "NEO4J_URI": store.uri, "NEO4J_USER": "neo4j",
           "NEO4J_PASSWORD": LocalNeo4j(settings).password(), "KG_STATE_DIR": str(tmp_path / "unused")}
    kg_service = str(Path(sys.executable).parent / "kg-service")
    start = subprocess.run([kg_service, "neo4j", "start"], capture_output=True, text=True, env=env, timeout=120)
    query = subprocess.run([kg_service, "query", "RETURN 41 + 1 AS answer"], capture_output=True, text=True,
                           env=env, timeout=120)
    assert start.returncode == 0
    assert "nothing to start" in start.stderr
    assert query.stdout.strip() == '{"answer": 42}'
    assert not (tmp_path / "unused" / "neo4j").exists()


def test_status_names_port_mismatch(store, settings):
    """With KG_BOLT_PORT changed, status said the server ran at the new port and start waited there."""
    if not settings.uses_local_server:
        pytest.skip("needs the local server")
    moved = settings.model_copy(update={"bolt_port": settings.bolt_port + 1000})
    server = LocalNeo4j(moved)

    status = server.status()

    assert status.running
    assert status.running_uri == LocalNeo4j(settings).uri
    assert f"not at the configured {server.uri}" in status.describe()
    with pytest.raises(Neo4jServerError, match="set KG_BOLT_PORT to the running port"):
        server.start()
