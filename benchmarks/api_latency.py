"""Latency and throughput of GraphQL query families against the same work done through the driver.

For each query family the script sends the GraphQL request over HTTP to `kg-service serve`, which
it starts as a separate process (so client and server do not share one interpreter), and separately
calls the same reasoning function that the resolver uses, which sends the same Cypher through the
Neo4j driver. Both run at 1, 8 and 32 concurrent clients for a fixed
number of requests; the figure of merit is the ratio of GraphQL p50 latency to driver p50.

Run against a graph that holds the sample plant (``kg-service quickstart --exit`` loads it):

    .venv/bin/python benchmarks/api_latency.py --requests 200 --output results.json
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import subprocess
import sys
import time
from collections.abc import Awaitable, Callable
from typing import Any, NamedTuple

from pathlib import Path

import httpx

from kg_service.config import get_settings
from kg_service.graph.store import GraphStore
from kg_service.reasoning import lookup
from kg_service.reasoning.rootcause import rank_root_causes

CONCURRENCY_LEVELS = (1, 8, 32)


class Family(NamedTuple):
    """One query family: its GraphQL request and the driver call that does the same work."""

    name: str
    query: str
    variables: dict[str, Any]
    direct: Callable[[GraphStore], Any]


FAMILIES = [
    Family("entity lookup", "query($id: ID!) { entity(id: $id) { id classes label(lang: \"zh\") } }",
           {"id": "equipment:sample-plant:ac-3"},
           lambda store: store.read("MATCH (n:Entity {id: $id}) RETURN n.id AS id, labels(n) AS labels, "
                                    "properties(n) AS props", {"id": "equipment:sample-plant:ac-3"})),
    Family("failure history", "query($a: String!) { failureHistory(asset: $a, first: 20) { totalCount "
           "edges { node { id date cost failureModes { label } parts { label } } } } }",
           {"a": "equipment:sample-plant:ac-3"},
           lambda store: lookup.failure_history(store, "equipment:sample-plant:ac-3", 20)),
    Family("root causes", "query($a: String!, $m: String!) { rootCauses(asset: $a, failureMode: $m, limit: 5) { "
           "targetWorkOrders candidates { entity { id label } score breakdown { source value } "
           "evidenceWorkOrders } } }", {"a": "AC-3", "m": "Overheating"},
           lambda store: rank_root_causes(store, "AC-3", failure_mode="Overheating", limit=5)),
]


class Measurement(NamedTuple):
    family: str
    path: str
    clients: int
    requests: int
    p50_ms: float
    p99_ms: float
    throughput_per_s: float


def _percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    index = min(len(ordered) - 1, max(0, round(fraction * (len(ordered) - 1))))
    return ordered[index]


async def _run(call: Callable[[], Awaitable[None]], clients: int, requests: int) -> tuple[list[float], float]:
    latencies: list[float] = []
    queue: asyncio.Queue[int] = asyncio.Queue()
    for index in range(requests):
        queue.put_nowait(index)

    async def worker() -> None:
        while True:
            try:
                queue.get_nowait()
            except asyncio.QueueEmpty:
                return
            started = time.perf_counter()
            await call()
            latencies.append(time.perf_counter() - started)

    started = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(clients)))
    return latencies, time.perf_counter() - started


async def measure(url: str, store: GraphStore, requests: int, warmup: int) -> list[Measurement]:
    results = []
    limits = httpx.Limits(max_connections=64, max_keepalive_connections=64)
    async with httpx.AsyncClient(timeout=120, limits=limits) as client:
        for family in FAMILIES:
            async def graphql_call(family: Family = family) -> None:
                response = await client.post(url, json={"query": family.query, "variables": family.variables})
                body = response.json()
                if body.get("errors"):
                    raise RuntimeError(f"{family.name}: {body['errors'][0]['message']}")

            async def driver_call(family: Family = family) -> None:
                await asyncio.to_thread(family.direct, store)

            for path, call in (("graphql", graphql_call), ("driver", driver_call)):
                await _run(call, 1, warmup)
                for clients in CONCURRENCY_LEVELS:
                    latencies, elapsed = await _run(call, clients, requests)
                    results.append(Measurement(family.name, path, clients, requests,
                                               round(statistics.median(latencies) * 1000, 2),
                                               round(_percentile(latencies, 0.99) * 1000, 2),
                                               round(requests / elapsed, 1)))
    return results


def _table(results: list[Measurement]) -> str:
    lines = ["| family | clients | GraphQL p50 ms | GraphQL p99 ms | GraphQL req/s | driver p50 ms | driver p99 ms "
             "| driver req/s | p50 ratio |", "|---|---:|---:|---:|---:|---:|---:|---:|---:|"]
    by_key = {(item.family, item.path, item.clients): item for item in results}
    for family in FAMILIES:
        for clients in CONCURRENCY_LEVELS:
            api, raw = by_key[(family.name, "graphql", clients)], by_key[(family.name, "driver", clients)]
            lines.append(f"| {family.name} | {clients} | {api.p50_ms} | {api.p99_ms} | {api.throughput_per_s} | "
                         f"{raw.p50_ms} | {raw.p99_ms} | {raw.throughput_per_s} | {api.p50_ms / raw.p50_ms:.2f} |")
    return "\n".join(lines)


def _wait_for_health(url: str, server: subprocess.Popen, timeout_s: float = 60.0) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if server.poll() is not None:
            raise RuntimeError(f"kg-service serve exited with status {server.returncode}")
        try:
            if httpx.get(url, timeout=2).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.3)
    raise RuntimeError(f"kg-service serve did not respond at {url} within {timeout_s:.0f} s")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=200, help="requests per family, path and concurrency level")
    parser.add_argument("--warmup", type=int, default=20, help="untimed requests before each series")
    parser.add_argument("--port", type=int, default=8765, help="port of the in-process GraphQL server")
    parser.add_argument("--output", help="write the measurements as JSON to this file")
    args = parser.parse_args()

    settings = get_settings()
    store = GraphStore.from_settings(settings)
    server = subprocess.Popen([str(Path(sys.executable).parent / "kg-service"), "serve", "--port", str(args.port)],
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        _wait_for_health(f"http://127.0.0.1:{args.port}/health", server)
        results = asyncio.run(measure(f"http://127.0.0.1:{args.port}/graphql", store, args.requests, args.warmup))
    finally:
        server.terminate()
        server.wait(timeout=30)
        store.close()
    print(_table(results))
    if args.output:
        with open(args.output, "w", encoding="utf-8") as handle:
            json.dump([item._asdict() for item in results], handle, indent=2)


if __name__ == "__main__":
    main()
