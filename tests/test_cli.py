"""The kg-service command line, run as a user runs it: a subprocess with the same settings."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import CORE_ONTOLOGY, ROOT

pytestmark = pytest.mark.neo4j

KG_SERVICE = str(Path(sys.executable).parent / "kg-service")


def run_cli(*args: str, check: bool = True) -> subprocess.CompletedProcess:
    result = subprocess.run([KG_SERVICE, *args], capture_output=True, text=True, cwd=ROOT, env=os.environ.copy(),
                            timeout=300)
    if check and result.returncode != 0:
        raise AssertionError(f"kg-service {' '.join(args)} exited {result.returncode}:\n{result.stdout}\n{result.stderr}")
    return result


def test_query_prints_json_rows(core_graph):
    core_graph.write("UNWIND range(1, 3) AS i MERGE (:Entity:Equipment:Asset {id: 'eq-' + i, name: 'Pump ' + i})")
    result = run_cli("query", "MATCH (n:Equipment) WHERE n.name <> $skip RETURN n.id AS id, n.name AS name ORDER BY id",
                     "--param", "skip=Pump 2")
    rows = [json.loads(line) for line in result.stdout.splitlines()]
    assert rows == [{"id": "eq-1", "name": "Pump 1"}, {"id": "eq-3", "name": "Pump 3"}]


def test_query_without_rows_says_so(core_graph):
    """A query that matched nothing printed nothing at all, which read like a hang or a failure."""
    result = run_cli("query", "MATCH (n:Equipment {id: 'no-such-key'}) RETURN n.id AS id")
    assert result.stdout == ""
    assert "the query returned no rows" in result.stderr


def test_query_json_param_and_node(core_graph):
    core_graph.write("MERGE (:Entity:Equipment:Asset {id: 'eq-zh', name: '3号空压机'})")
    result = run_cli("query", "MATCH (n:Entity) WHERE n.id IN $ids RETURN n", "--param", 'ids=["eq-zh"]')
    row = json.loads(result.stdout)
    assert row["n"]["properties"]["name"] == "3号空压机"
    assert row["n"]["labels"] == ["Asset", "Entity", "Equipment"]


@pytest.mark.parametrize("cypher", ["CREATE (n:Entity {id: 'intruder'}) RETURN n",
                                    "MATCH (n:Entity) SET n.name = 'changed' RETURN n",
                                    "MATCH (n) DETACH DELETE n"])
def test_query_write_rejected_clearly(core_graph, cypher):
    before = core_graph.counts()
    result = run_cli("query", cypher, check=False)
    message = " ".join(result.stderr.split())
    assert result.returncode == 1
    assert "kg-service query runs read-only queries" in message
    assert "use the loaders (kg-service ingest …) to change the graph" in message
    assert "Neo.ClientError" not in message
    assert "Traceback" not in result.stderr
    assert core_graph.counts() == before


def test_ontology_load_prints_summary(empty_graph):
    from rdflib import Graph
    from rdflib.namespace import OWL, RDF

    core = Graph().parse(CORE_ONTOLOGY, format="turtle")
    classes = len(set(core.subjects(RDF.type, OWL.Class)))
    object_properties = len(set(core.subjects(RDF.type, OWL.ObjectProperty)))
    result = run_cli("ontology", "load", str(CORE_ONTOLOGY))
    assert f"{classes} classes -> node labels" in result.stdout
    assert f"{object_properties} object properties -> relationship types" in result.stdout


def test_ontology_load_reports_bad_turtle(core_graph, tmp_path):
    broken = tmp_path / "broken.ttl"
    broken.write_text("@prefix ex: <http://example.org/> .\nex:a ex:b ex:c .\nex:d ex:e \"open\n", encoding="utf-8")
    result = run_cli("ontology", "load", str(broken), check=False)
    assert result.returncode == 1
    assert str(broken) in result.stderr
    assert "line 3" in result.stderr
    assert "Traceback" not in result.stderr


def test_ingest_reports_missing_file(core_graph, tmp_path):
    result = run_cli("ingest", "workorders", str(tmp_path / "nope.csv"), "--mapping",
                     str(ROOT / "loaders" / "mappings" / "maintkg_pdl.yaml"), check=False)
    assert result.returncode == 1
    assert "nope.csv: file not found" in result.stderr


def test_neo4j_status_reports_running(store, settings):
    if not settings.uses_local_server:
        pytest.skip("NEO4J_URI points at an external server")
    result = run_cli("neo4j", "status")
    assert f"bolt://127.0.0.1:{settings.bolt_port}" in result.stdout


def test_export_to_missing_folder(core_graph, tmp_path):
    target = tmp_path / "missing" / "core.ttl"
    result = run_cli("ontology", "export", str(target), check=False)
    assert result.returncode == 1
    assert "does not exist" in result.stderr
    assert "Traceback" not in result.stderr


def test_empty_ontology_file_is_rejected(core_graph, tmp_path):
    empty = tmp_path / "empty.ttl"
    empty.write_text("", encoding="utf-8")
    result = run_cli("ontology", "load", str(empty), check=False)
    assert result.returncode == 1
    assert "contains no triples" in result.stderr


def test_query_cannot_read_local_files(store, settings):
    if not settings.uses_local_server:
        pytest.skip("the file-URL setting belongs to the local server")
    result = run_cli("query", "LOAD CSV FROM 'file:///etc/hostname' AS line RETURN line", check=False)
    assert result.returncode == 1
    assert "allow_csv_import_from_file_urls" in result.stderr


def test_query_cannot_fetch_urls(store, settings, tmp_path):
    if not settings.uses_local_server:
        pytest.skip("the URL blocklist belongs to the local server")
    import http.server
    import threading

    requests = []

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self):  # noqa: N802 - the name http.server calls
            requests.append(self.path)
            self.send_response(200)
            self.end_headers()
            self.wfile.write(b"secret\n")

        def log_message(self, *args):
            pass

    server = http.server.HTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        url = f"http://127.0.0.1:{server.server_port}/data.csv"
        result = run_cli("query", f"LOAD CSV FROM '{url}' AS line RETURN line", check=False)
    finally:
        server.shutdown()
    assert result.returncode == 1
    assert requests == []


def test_serve_with_two_workers(core_graph):
    import socket
    import time

    import httpx

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    server = subprocess.Popen([KG_SERVICE, "serve", "--port", str(port), "--workers", "2"], cwd=ROOT,
                              env=os.environ.copy(), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 300
        answers = []
        while time.monotonic() < deadline and len(answers) < 4:
            try:
                response = httpx.post(f"http://127.0.0.1:{port}/graphql",
                                      json={"query": "{ ontologyClasses(first: 1) { totalCount } }"}, timeout=10)
                answers.append(response.json()["data"]["ontologyClasses"]["totalCount"])
            except httpx.TransportError:
                time.sleep(0.5)
    finally:
        server.terminate()
        log = server.communicate(timeout=60)[1]
    assert len(answers) == 4
    assert len(set(answers)) == 1
    assert log.count("Started server process") == 2


def free_port() -> int:
    import socket

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.mark.parametrize("command", ["quickstart", "serve"])
@pytest.mark.parametrize("port", ["0", "70000"])
def test_port_out_of_range_rejected(command, port):
    result = run_cli(command, "--port", port, check=False)
    assert result.returncode == 2
    assert f"Invalid value for --port: {port} is not a TCP port number; pass one from 1 to 65535" in \
        " ".join(result.stderr.replace("│", " ").split())


def test_quickstart_exit_listens_on_port_option(empty_graph, monkeypatch):
    """quickstart had no --port, so it always listened on KG_API_PORT."""
    import socket

    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        monkeypatch.setenv("KG_API_PORT", str(taken.getsockname()[1]))

        busy = run_cli("quickstart", "--exit", check=False)
        assert busy.returncode == 1
        assert f"port {taken.getsockname()[1]} on 127.0.0.1 is already in use" in busy.stderr

        served = run_cli("quickstart", "--exit", "--host", "127.0.0.1", "--port", str(free_port()))
    assert "Likely causes of Overheating on Air Compressor 3" in served.stdout
    assert "Cooling System" in served.stdout


def test_invalid_setting_named_without_traceback(monkeypatch):
    """A bad KG_API_PORT used to print a 44-line pydantic traceback before any command ran."""
    monkeypatch.setenv("KG_API_PORT", "0")
    result = run_cli("neo4j", "status", check=False)

    assert result.returncode == 1
    assert "invalid settings: KG_API_PORT='0': Input should be greater than or equal to 1" in result.stderr
    assert "Traceback" not in result.stderr
