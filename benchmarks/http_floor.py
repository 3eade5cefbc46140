"""How much of the GraphQL path's latency is HTTP alone: a constant-response server as the floor.

`benchmarks/api_latency.py` compares a GraphQL request over HTTP with the same Cypher sent
through the driver in the benchmark's own process. The driver path makes no HTTP exchange. This
script adds a third path, the floor. The floor is a minimal ASGI application on the same uvicorn
(httptools, uvloop, one worker). It reads the request body and responds with the bytes that
kg-service returned for that request, without GraphQL and without Neo4j. No HTTP service on this machine
can respond faster than the floor, so floor p50 / driver p50 is the lowest ratio that any GraphQL
server can reach against the in-process driver read, and GraphQL p50 - floor p50 is the work
that strawberry, graphql-core and kg-service add per request.

For each family and concurrency level, the three paths alternate in `--rounds` rounds: a wrk run
of `--block-seconds` against kg-service, one against the floor, then a driver block of as many
requests as the kg-service run made. The driver path is the one of `api_latency.py` (the
resolver's asyncio reader).

Run against a graph that holds the sample plant (``kg-service quickstart --exit`` loads it):

    .venv/bin/python benchmarks/http_floor.py --families entity history --output http-floor.json
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import shutil
import subprocess
import sys
from collections import Counter
from pathlib import Path
from typing import Any, NamedTuple

import httpx
import uvloop

# Run as a script, the file's own folder is on sys.path but the repository root is not.
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.api_latency import (CONCURRENCY_LEVELS, FAMILIES, Family, Histogram,  # noqa: E402
                                    _driver_call, _histogram, _quantile, _run_block, _wait_for_health, run_wrk)
from kg_service.config import get_settings  # noqa: E402
from kg_service.graph.store import GraphStore  # noqa: E402


class FloorMeasurement(NamedTuple):
    """p50 latency (ms) of the three paths for one family and concurrency level, and the ratios."""

    family: str
    clients: int
    requests: int
    graphql_p50_ms: float
    floor_p50_ms: float
    driver_p50_ms: float
    graphql_ratio: float
    floor_ratio: float
    graphql_work_ms: float


def floor_app(answers: dict[str, bytes]):
    """Return an ASGI app that responds to each POST with the recorded response for the body's GraphQL document."""

    async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] == "lifespan":
            while True:
                message = await receive()
                if message["type"] == "lifespan.startup":
                    await send({"type": "lifespan.startup.complete"})
                elif message["type"] == "lifespan.shutdown":
                    await send({"type": "lifespan.shutdown.complete"})
                    return
        if scope["method"] == "GET":
            await send({"type": "http.response.start", "status": 200,
                        "headers": [(b"content-type", b"application/json")]})
            await send({"type": "http.response.body", "body": b"{}"})
            return

        body = b""
        more = True
        while more:
            message = await receive()
            body += message.get("body", b"")
            more = message.get("more_body", False)
        # Parse the body as the GraphQL path must, then pick the recorded response by its document.
        answer = answers[json.loads(body)["query"]]
        await send({"type": "http.response.start", "status": 200,
                    "headers": [(b"content-type", b"application/json"),
                                (b"content-length", str(len(answer)).encode())]})
        await send({"type": "http.response.body", "body": answer})

    return app


def serve_floor(port: int, answers_file: Path) -> None:
    """Serve `floor_app` with uvicorn's defaults, as `kg-service serve` does."""
    import uvicorn

    recorded = json.loads(answers_file.read_text(encoding="utf-8"))
    answers = {document: answer.encode("utf-8") for document, answer in recorded.items()}
    uvicorn.run(floor_app(answers), host="127.0.0.1", port=port, log_level="warning")


def record_answers(url: str, families: list[Family]) -> dict[str, str]:
    """Send each family's request to kg-service once and return its response body by document."""
    answers = {}
    for family in families:
        response = httpx.post(url, json={"query": family.document, "variables": family.variables}, timeout=30)
        response.raise_for_status()
        if response.json().get("errors"):
            raise RuntimeError(f"{family.name}: kg-service returned errors: {response.text[:300]}")
        answers[family.document] = response.text
    return answers


def _p50_ms(histogram: Histogram) -> float:
    return round(_quantile(histogram, 0.5) / 1000, 2)


async def measure(service_url: str, floor_url: str, store: GraphStore, families: list[Family], rounds: int,
                  block_seconds: int, warmup: int) -> list[FloorMeasurement]:
    """Alternate kg-service, floor and driver blocks for each family and concurrency level."""
    reader = store.open_async_reader()
    results = []
    try:
        for family in families:
            body = {"query": family.document, "variables": family.variables}
            driver_call = _driver_call(family, store, reader)
            for clients in CONCURRENCY_LEVELS:
                await asyncio.to_thread(run_wrk, service_url, body, clients, 1)
                await asyncio.to_thread(run_wrk, floor_url, body, clients, 1)
                await _run_block(driver_call, clients, warmup)
                histograms: dict[str, Histogram] = {"graphql": Counter(), "floor": Counter(), "driver": Counter()}
                for _ in range(rounds):
                    run = await asyncio.to_thread(run_wrk, service_url, body, clients, block_seconds)
                    histograms["graphql"] += run.histogram
                    histograms["floor"] += (await asyncio.to_thread(run_wrk, floor_url, body, clients,
                                                                    block_seconds)).histogram
                    latencies, _ = await _run_block(driver_call, clients, max(run.requests, 2 * clients))
                    histograms["driver"] += _histogram(latencies)
                graphql, floor, driver = (_p50_ms(histograms[path]) for path in ("graphql", "floor", "driver"))
                results.append(FloorMeasurement(family.name, clients, sum(histograms["graphql"].values()), graphql,
                                                floor, driver, round(graphql / driver, 2), round(floor / driver, 2),
                                                round(graphql - floor, 2)))
    finally:
        await reader.close()
    return results


def table(results: list[FloorMeasurement]) -> str:
    lines = ["| family | clients | GraphQL p50 ms | floor p50 ms | driver p50 ms | GraphQL / driver | "
             "floor / driver | GraphQL - floor ms |",
             "|---|---:|---:|---:|---:|---:|---:|---:|"]
    for item in results:
        lines.append(f"| {item.family} | {item.clients} | {item.graphql_p50_ms} | {item.floor_p50_ms} | "
                     f"{item.driver_p50_ms} | {item.graphql_ratio} | {item.floor_ratio} | {item.graphql_work_ms} |")
    return "\n".join(lines)


def _start(command: list[str], health_url: str) -> subprocess.Popen:
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    _wait_for_health(health_url, process)
    return process


def _stop(process: subprocess.Popen) -> None:
    process.terminate()
    process.wait(timeout=30)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--families", nargs="+", choices=[family.key for family in FAMILIES],
                        default=["entity", "history"], help="query families to measure (default: entity history)")
    parser.add_argument("--rounds", type=int, default=10, help="alternations of the three paths per level")
    parser.add_argument("--block-seconds", type=int, default=1, help="length of one wrk run")
    parser.add_argument("--warmup", type=int, default=20, help="untimed driver requests before each level")
    parser.add_argument("--port", type=int, default=8765, help="port of kg-service serve; the floor uses port + 1")
    parser.add_argument("--output", help="write the measurements and the load averages as JSON to this file")
    parser.add_argument("--serve-floor", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve_floor is not None:
        serve_floor(args.port, args.serve_floor)
        return
    if shutil.which("wrk") is None:
        parser.error("this benchmark needs the wrk load generator on PATH; install it with 'apt-get install wrk'")
    if args.rounds < 1 or args.block_seconds < 1:
        parser.error(f"--rounds and --block-seconds must be at least 1, got {args.rounds} and {args.block_seconds}")

    families = [family for family in FAMILIES if family.key in args.families]
    service_url = f"http://127.0.0.1:{args.port}/graphql"
    floor_url = f"http://127.0.0.1:{args.port + 1}/graphql"
    answers_file = Path(f"/tmp/kg-http-floor-{os.getpid()}.json")
    store = GraphStore.from_settings(get_settings())
    load_before = os.getloadavg()
    service = _start([str(Path(sys.executable).parent / "kg-service"), "serve", "--port", str(args.port)],
                     f"http://127.0.0.1:{args.port}/health")
    floor = None
    try:
        answers_file.write_text(json.dumps(record_answers(service_url, families)), encoding="utf-8")
        floor = _start([sys.executable, __file__, "--port", str(args.port + 1), "--serve-floor", str(answers_file)],
                       f"http://127.0.0.1:{args.port + 1}/health")
        results = uvloop.run(measure(service_url, floor_url, store, families, args.rounds, args.block_seconds,
                                     args.warmup))
    finally:
        for process in (floor, service):
            if process is not None:
                _stop(process)
        answers_file.unlink(missing_ok=True)
        store.close()
    load_after = os.getloadavg()

    print(table(results))
    print(f"load average (1, 5, 15 min) before: {' '.join(f'{value:.2f}' for value in load_before)}; "
          f"after: {' '.join(f'{value:.2f}' for value in load_after)}")
    if args.output:
        with open(args.output, "w", encoding="utf-8") as handle:
            json.dump({"load_before": load_before, "load_after": load_after,
                       "results": [item._asdict() for item in results]}, handle, indent=2)


if __name__ == "__main__":
    main()
