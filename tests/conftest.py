"""Shared fixtures: a real Neo4j for the test session and helpers to reset and fill the graph.

Unless NEO4J_URI is set, the tests run their own Neo4j (state in .kg/test, Bolt port 7697) so
they never touch the database of `kg-service quickstart`. With NEO4J_URI set, the tests wipe
that server's database: point it at an empty, disposable one.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
DATA_DIR = ROOT.parent / "shared" / "data"
SAMPLE_DIR = ROOT / "samples" / "sample_plant"
MAPPINGS_DIR = ROOT / "loaders" / "mappings"
CORE_ONTOLOGY = ROOT / "ontology" / "kg-core.ttl"

os.environ.setdefault("KG_STATE_DIR", str(ROOT / ".kg" / "test"))
os.environ.setdefault("KG_BOLT_PORT", "7697")

from kg_service.config import Settings, get_settings  # noqa: E402
from kg_service.graph.store import GraphStore  # noqa: E402
from kg_service.ingest import load_ontologies  # noqa: E402
from kg_service.neo4j_server import LocalNeo4j  # noqa: E402


def data_file(*parts: str) -> Path:
    """Return a file of the shared real data; fail clearly when the folder is missing."""
    path = DATA_DIR.joinpath(*parts)
    if not path.exists():
        pytest.fail(f"real data file {path} is missing; the tests expect ../shared/data beside the project")
    return path


@pytest.fixture(scope="session")
def settings() -> Settings:
    get_settings.cache_clear()
    return get_settings()


@pytest.fixture(scope="session")
def store(settings: Settings):
    server = LocalNeo4j(settings) if settings.uses_local_server else None
    started_here = server is not None and not server.status().running
    if server is not None:
        server.start()
    graph_store = GraphStore.from_settings(settings)
    graph_store.verify()
    yield graph_store
    graph_store.close()
    if started_here:
        server.stop()


def wipe(store: GraphStore) -> None:
    store.wipe()


def load_sample_plant(store: GraphStore, settings: Settings) -> GraphStore:
    """Wipe the graph and load the core ontology, the sample plant's work orders (en and zh) and its designs."""
    from kg_service.ingest import ingest_workorders
    from loaders.rdf_instances import load_rdf_instances

    wipe(store)
    load_ontologies(store, [CORE_ONTOLOGY])
    for name in ("workorders_en", "workorders_zh"):
        ingest_workorders(store, settings, SAMPLE_DIR / f"{name}.csv", SAMPLE_DIR / f"{name}.yaml")
    load_rdf_instances(store, settings, SAMPLE_DIR / "designs.ttl")
    return store


@contextmanager
def serve_in_thread(app, **config) -> Iterator[str]:
    """Serve `app` with uvicorn on a free 127.0.0.1 port in a daemon thread; yield its GraphQL URL."""
    import threading
    import time

    import uvicorn

    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=0, log_level="warning", **config))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        assert time.monotonic() < deadline, "the GraphQL server did not start within 30 s"
        time.sleep(0.05)
    port = server.servers[0].sockets[0].getsockname()[1]
    try:
        yield f"http://127.0.0.1:{port}/graphql"
    finally:
        server.should_exit = True
        thread.join(timeout=10)


def graphql(client, query: str, **variables) -> dict:
    """Post a GraphQL query with variables to a test client, check for HTTP 200 and return the decoded response."""
    response = client.post("/graphql", json={"query": query, "variables": variables})
    assert response.status_code == 200, response.text
    return response.json()


@pytest.fixture
def empty_graph(store: GraphStore) -> GraphStore:
    wipe(store)
    return store


@pytest.fixture
def core_graph(store: GraphStore) -> GraphStore:
    """An empty graph with the core ontology loaded."""
    wipe(store)
    load_ontologies(store, [CORE_ONTOLOGY])
    return store
