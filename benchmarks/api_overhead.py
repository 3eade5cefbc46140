"""Where a GraphQL request's time goes, apart from Neo4j: the numbers behind the latency benchmark.

Two measurements, on a graph that contains the sample plant (``kg-service quickstart --exit``):

- in process: the ASGI app is called directly, without a client or sockets, with the store's
  answers recorded once and replayed through an asyncio reader, as the served app reads. What
  remains is the GraphQL work of one request. It runs in four variants: strawberry's full HTTP view
  with graphql-core's standard executor, the JSON POST short path with the standard executor,
  the short path with the plain-field executor, and that with prepared operations (the app
  as served).
- over HTTP: `kg-service serve` runs as a separate process, and one client sends requests one
  at a time: `{ __typename }`, which reads nothing from Neo4j, and the entity lookup and
  failure history of `api_latency.py`. Each HTTP client (aiohttp, httpx) is timed, with the
  client process's CPU time per request. So is wrk, when it is installed. The driver's time for
  the same Cypher is measured as well.

    .venv/bin/python benchmarks/api_overhead.py --requests 500 --output overhead.json
"""

from __future__ import annotations

import argparse
import asyncio
import json
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from strawberry.schema.schema import StrawberryGraphQLCoreExecutionContext

# Run as a script, the file's own folder is on sys.path but the repository root is not.
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.api_latency import FAMILIES, _quantile, _wait_for_health, http_client, run_wrk  # noqa: E402
from kg_service.api.app import create_app  # noqa: E402
from kg_service.config import get_settings  # noqa: E402
from kg_service.graph.store import GraphStore  # noqa: E402

TYPENAME_DOCUMENT = "{ __typename }"

# Length of each wrk run over HTTP, when wrk is installed.
WRK_SECONDS = 3
VARIANTS = ("full view, standard executor", "short path, standard executor", "short path, plain executor",
            "short path, plain executor, prepared operations")


class ReplayStore:
    """A GraphStore whose reads run once against Neo4j and are then served from memory."""

    def __init__(self, store: GraphStore) -> None:
        self._store = store
        self._answers: dict[str, list[dict[str, Any]]] = {}

    def read(self, cypher: str, params: dict[str, Any] | None = None) -> list[dict[str, Any]]:
        key = json.dumps([cypher, params], sort_keys=True, default=str)
        if key not in self._answers:
            self._answers[key] = self._store.read(cypher, params)
        return self._answers[key]

    def __getattr__(self, name: str) -> Any:
        return getattr(self._store, name)


class ReplayReader:
    """An asyncio reader with the interface of `AsyncGraphReader.read` that serves a `ReplayStore`'s recorded rows."""

    def __init__(self, replay: ReplayStore) -> None:
        self._replay = replay

    async def read(self, cypher: str, params: dict[str, Any] | None = None) -> list[dict[str, Any]]:
        return self._replay.read(cypher, params)


async def _asgi_post(app: Any, body: bytes) -> None:
    """Send one POST /graphql through the ASGI app and raise if the response has errors."""
    scope = {"type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": "POST", "scheme": "http",
             "path": "/graphql", "raw_path": b"/graphql", "root_path": "", "query_string": b"",
             "headers": [(b"host", b"localhost"), (b"content-type", b"application/json"),
                         (b"content-length", str(len(body)).encode("ascii"))],
             "client": ("127.0.0.1", 50000), "server": ("127.0.0.1", 8000)}
    pending = [{"type": "http.request", "body": body, "more_body": False}]
    messages: list[dict[str, Any]] = []

    async def receive() -> dict[str, Any]:
        if pending:
            return pending.pop()
        await asyncio.sleep(3600)
        return {"type": "http.disconnect"}

    async def send(message: dict[str, Any]) -> None:
        messages.append(message)

    await app(scope, receive, send)
    answer = json.loads(messages[1]["body"])
    if messages[0]["status"] != 200 or answer.get("errors"):
        raise RuntimeError(f"request failed with status {messages[0]['status']}: {answer}")


def _median_ms(values: list[float]) -> float:
    return round(statistics.median(values) * 1000, 3)


async def measure_in_process(settings: Any, store: GraphStore, requests: int) -> dict[str, dict[str, float]]:
    """Return the median time per request of each variant for the entity lookup and the failure history."""
    replay = ReplayStore(store)
    apps = {}
    for variant in VARIANTS:
        app = create_app(settings, replay, json_post_shortcut=not variant.startswith("full"))
        view = next(route.endpoint for route in app.routes if getattr(route, "path", "") == "/graphql")
        # The lifespan, which opens the served app's reader, does not run here.
        view.reader = ReplayReader(replay)
        if variant.endswith("standard executor"):
            view.schema.execution_context_class = StrawberryGraphQLCoreExecutionContext
        if not variant.endswith("prepared operations"):
            view.schema.prepared = None
        apps[variant] = app

    results = {}
    for family in (family for family in FAMILIES if family.key in ("entity", "history")):
        body = json.dumps({"query": family.document, "variables": family.variables}).encode("utf-8")
        for app in apps.values():
            for _ in range(30):
                await _asgi_post(app, body)
        # Blocks of 25 requests alternate between the variants, so a change of load hits all of them.
        timings: dict[str, list[float]] = {variant: [] for variant in apps}
        for _ in range(max(1, requests // 25)):
            for variant, app in apps.items():
                for _ in range(25):
                    started = time.perf_counter()
                    await _asgi_post(app, body)
                    timings[variant].append(time.perf_counter() - started)
        results[family.name] = {variant: _median_ms(values) for variant, values in timings.items()}
    return results


async def measure_over_http(url: str, store: GraphStore, requests: int) -> dict[str, dict[str, float]]:
    """Return p50 latency and client CPU time per request for each client and document, and the driver's p50."""
    families = [family for family in FAMILIES if family.key in ("entity", "history")]
    bodies = {"{ __typename }": {"query": TYPENAME_DOCUMENT},
              **{family.name: {"query": family.document, "variables": family.variables} for family in families}}
    results: dict[str, dict[str, float]] = {}
    for client in ("aiohttp", "httpx"):
        async with http_client(client, url) as post:
            for name, body in bodies.items():
                for _ in range(30):
                    await post(body)
                latencies = []
                cpu_started = time.process_time()
                for _ in range(requests):
                    started = time.perf_counter()
                    await post(body)
                    latencies.append(time.perf_counter() - started)
                cpu_ms = (time.process_time() - cpu_started) / requests * 1000
                results[f"{client}: {name}"] = {"p50_ms": _median_ms(latencies), "client_cpu_ms": round(cpu_ms, 3)}

    # wrk runs as a process of its own, so its CPU time is not measured here.
    if shutil.which("wrk") is not None:
        for name, body in bodies.items():
            run_wrk(url, body, 1, 1)
            run = run_wrk(url, body, 1, WRK_SECONDS)
            results[f"wrk: {name}"] = {"p50_ms": round(_quantile(run.histogram, 0.5) / 1000, 3)}

    for family in families:
        latencies = []
        for _ in range(requests):
            started = time.perf_counter()
            await asyncio.to_thread(family.direct, store)
            latencies.append(time.perf_counter() - started)
        results[f"driver: {family.name}"] = {"p50_ms": _median_ms(latencies)}
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=500, help="timed requests per variant or client and document")
    parser.add_argument("--port", type=int, default=8765, help="port of the GraphQL server that the script starts")
    parser.add_argument("--output", help="write the results as JSON to this file")
    args = parser.parse_args()

    settings = get_settings()
    store = GraphStore.from_settings(settings)
    command = [str(Path(sys.executable).parent / "kg-service"), "serve", "--port", str(args.port)]
    try:
        in_process = asyncio.run(measure_in_process(settings, store, args.requests))
        server = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            _wait_for_health(f"http://127.0.0.1:{args.port}/health", server)
            over_http = asyncio.run(measure_over_http(f"http://127.0.0.1:{args.port}/graphql", store, args.requests))
        finally:
            server.terminate()
            server.wait(timeout=30)
    finally:
        store.close()

    print("In process, Neo4j answers replayed (median ms per request):")
    for family, by_variant in in_process.items():
        print(f"  {family}: " + "; ".join(f"{variant} {value}" for variant, value in by_variant.items()))
    print("Over HTTP, one client, requests one at a time:")
    for name, figures in over_http.items():
        print(f"  {name}: " + ", ".join(f"{key} {value}" for key, value in figures.items()))
    if args.output:
        with open(args.output, "w", encoding="utf-8") as handle:
            json.dump({"in_process": in_process, "over_http": over_http}, handle, indent=2)


if __name__ == "__main__":
    main()
