"""Latency and throughput of GraphQL query families against the equivalent Cypher through the driver.

For each query family the script sends the GraphQL request over HTTP to `kg-service serve`, which
it starts as a separate process (with `--workers N`), and, in its own process, sends the Cypher
that the field's resolver sends, through the Neo4j driver. Both paths run at 1, 8 and 32
concurrent clients (asyncio tasks on one loop). They alternate in blocks of requests, a GraphQL
block then a driver block, so that a change in the shared machine's load hits both paths alike.
The figure of merit is the ratio of GraphQL p50 latency to driver p50 latency.

"Equivalent" means the driver path sends the same Cypher queries, as many and with the same
parameters, as the resolver does once the ontology allowlist is cached (the server re-reads it at
most every 30 seconds, one extra query that the driver path does not count):

- entity lookup: the DataLoader's `UNWIND $keys ... MATCH (n:Entity {id: key})` with one key,
  one query;
- failure history: `lookup.asset_history`, which resolves the asset by key or name and reads a
  page of 20 work orders with their details, one query;
- root causes: `rank_causes` with the resolver's `RootCauseQuery` (the whole ranking, up to
  MAX_CANDIDATES candidates, which `candidates(first: 5)` then pages), the same queries in the
  same order.

The driver path skips what GraphQL adds: HTTP, parsing, validation, the limit extensions,
authentication, building the typed result and JSON encoding. Both paths call the synchronous
driver through `asyncio.to_thread`, as the resolvers do.

The HTTP client runs in the benchmark's process, and its CPU time counts on the GraphQL side
only. The default client is aiohttp, which used about 0.2 ms of process CPU time per request
against 0.6 ms for httpx (150 sequential entity lookups on a 2-core machine, 2026-12-05). Where
the client, the server and Neo4j share the cores, the extra CPU time of httpx also takes a core
from the server. `--client httpx` repeats the earlier measurement for comparison.

Run against a graph that holds the sample plant (``kg-service quickstart --exit`` loads it):

    .venv/bin/python benchmarks/api_latency.py --workers 1 2 --requests 200 --output results.json
    .venv/bin/python benchmarks/api_latency.py --client httpx --output results-httpx.json
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any, NamedTuple

import aiohttp
import httpx

from kg_service.api.loaders import ENTITIES_BY_KEY
from kg_service.config import get_settings
from kg_service.graph.store import GraphStore
from kg_service.reasoning import lookup
from kg_service.reasoning.rootcause import ASSET_CLASSES, MAX_CANDIDATES, RootCauseQuery, rank_causes

CONCURRENCY_LEVELS = (1, 8, 32)

ASSET_KEY = "equipment:sample-plant:ac-3"

# Few fields each, so that a change of the schema means a small edit here.
ENTITY_DOCUMENT = 'query($id: ID!) { entity(id: $id) { id classes label(lang: "zh") } }'
HISTORY_DOCUMENT = ("query($a: String!) { failureHistory(asset: $a, first: 20) { totalCount "
                    "edges { node { id date cost failureModes { label } parts { label } } } } }")
ROOT_CAUSES_DOCUMENT = ("query($a: String!, $m: String!) { rootCauses(asset: $a, failureMode: $m) { targetWorkOrders "
                        "candidates(first: 5) { edges { node { entity { id label } score } } } } }")


class Family(NamedTuple):
    """One query family: its GraphQL request and the driver call that sends the same Cypher."""

    key: str
    name: str
    document: str
    variables: dict[str, Any]
    direct: Callable[[GraphStore], Any]


FAMILIES = [
    Family("entity", "entity lookup", ENTITY_DOCUMENT, {"id": ASSET_KEY},
           lambda store: store.read(ENTITIES_BY_KEY, {"keys": [ASSET_KEY]})),
    Family("history", "failure history", HISTORY_DOCUMENT, {"a": ASSET_KEY},
           lambda store: lookup.asset_history(store, ASSET_KEY, ASSET_CLASSES, 20)),
    Family("rootcauses", "root causes", ROOT_CAUSES_DOCUMENT, {"a": "AC-3", "m": "Overheating"},
           lambda store: rank_causes(store, RootCauseQuery(asset="AC-3", failure_mode="Overheating",
                                                           limit=MAX_CANDIDATES))),
]


class Measurement(NamedTuple):
    """Latency percentiles and throughput of one family, path, worker count and client count."""

    family: str
    path: str
    workers: int
    clients: int
    requests: int
    p50_ms: float
    p99_ms: float
    throughput_per_s: float


def _percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    index = min(len(ordered) - 1, max(0, round(fraction * (len(ordered) - 1))))
    return ordered[index]


async def _run_block(call: Callable[[], Awaitable[None]], clients: int, requests: int) -> tuple[list[float], float]:
    """Send `requests` calls from `clients` concurrent tasks; return each call's latency and the block's duration."""
    latencies: list[float] = []
    remaining = requests

    async def client() -> None:
        nonlocal remaining
        while remaining > 0:
            remaining -= 1
            started = time.perf_counter()
            await call()
            latencies.append(time.perf_counter() - started)

    started = time.perf_counter()
    await asyncio.gather(*(client() for _ in range(clients)))
    return latencies, time.perf_counter() - started


def _block_sizes(requests: int, clients: int, rounds: int) -> list[int]:
    """Split `requests` into at most `rounds` near-equal blocks of at least twice the client count where possible.

    A block that small would spend most of its time filling up and draining rather than at full
    concurrency, so at 32 clients 200 requests make 3 blocks instead of `rounds`.
    """
    count = max(1, min(rounds, requests // (2 * clients)))
    base, extra = divmod(requests, count)
    return [base + 1 if index < extra else base for index in range(count)]


def _measurement(family: Family, path: str, workers: int, clients: int, latencies: list[float],
                 elapsed: float) -> Measurement:
    return Measurement(family.name, path, workers, clients, len(latencies),
                       round(statistics.median(latencies) * 1000, 2), round(_percentile(latencies, 0.99) * 1000, 2),
                       round(len(latencies) / elapsed, 1))


PostJson = Callable[[dict[str, Any]], Awaitable[dict[str, Any]]]


@asynccontextmanager
async def http_client(kind: str, url: str) -> AsyncIterator[PostJson]:
    """Yield a function that POSTs a JSON body to `url` and returns the decoded JSON response.

    Both clients keep up to 64 connections alive, more than the highest client count.
    """
    if kind == "httpx":
        limits = httpx.Limits(max_connections=64, max_keepalive_connections=64)
        async with httpx.AsyncClient(timeout=120, limits=limits) as client:
            async def post_httpx(body: dict[str, Any]) -> dict[str, Any]:
                return (await client.post(url, json=body)).json()

            yield post_httpx
        return

    connector = aiohttp.TCPConnector(limit=64)
    async with aiohttp.ClientSession(connector=connector, timeout=aiohttp.ClientTimeout(total=120)) as session:
        async def post_aiohttp(body: dict[str, Any]) -> dict[str, Any]:
            async with session.post(url, json=body) as response:
                return await response.json()

        yield post_aiohttp


async def measure(url: str, store: GraphStore, families: list[Family], workers: int, requests: int, warmup: int,
                  rounds: int, client: str = "aiohttp") -> list[Measurement]:
    """Measure each family at each concurrency level, GraphQL and driver blocks alternating."""
    results = []
    async with http_client(client, url) as post:
        for family in families:
            async def graphql_call(family: Family = family) -> None:
                body = await post({"query": family.document, "variables": family.variables})
                if body.get("errors"):
                    raise RuntimeError(f"{family.name}: {body['errors'][0]['message']}")

            async def driver_call(family: Family = family) -> None:
                await asyncio.to_thread(family.direct, store)

            calls = {"graphql": graphql_call, "driver": driver_call}
            for clients in CONCURRENCY_LEVELS:
                latencies: dict[str, list[float]] = {path: [] for path in calls}
                elapsed = dict.fromkeys(calls, 0.0)
                for path, call in calls.items():
                    await _run_block(call, clients, warmup)
                for size in _block_sizes(requests, clients, rounds):
                    for path, call in calls.items():
                        block_latencies, block_elapsed = await _run_block(call, clients, size)
                        latencies[path] += block_latencies
                        elapsed[path] += block_elapsed
                for path in calls:
                    results.append(_measurement(family, path, workers, clients, latencies[path], elapsed[path]))
    return results


def _table(results: list[Measurement]) -> str:
    lines = ["| family | workers | clients | GraphQL p50 ms | GraphQL p99 ms | GraphQL req/s | driver p50 ms "
             "| driver p99 ms | driver req/s | p50 ratio |", "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|"]
    by_key = {(item.family, item.path, item.workers, item.clients): item for item in results}
    for family, workers, clients in dict.fromkeys((item.family, item.workers, item.clients) for item in results):
        api = by_key[(family, "graphql", workers, clients)]
        raw = by_key[(family, "driver", workers, clients)]
        lines.append(f"| {family} | {workers} | {clients} | {api.p50_ms} | {api.p99_ms} | {api.throughput_per_s} | "
                     f"{raw.p50_ms} | {raw.p99_ms} | {raw.throughput_per_s} | {api.p50_ms / raw.p50_ms:.2f} |")
    return "\n".join(lines)


def _wait_for_health(url: str, server: subprocess.Popen, timeout_s: float = 90.0) -> None:
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


def _select_families(keys: list[str] | None) -> list[Family]:
    if not keys:
        return FAMILIES
    # argparse's `choices` has rejected unknown keys already.
    by_key = {family.key: family for family in FAMILIES}
    return [by_key[key] for key in keys]


def _serve_and_measure(args: argparse.Namespace, store: GraphStore, families: list[Family],
                       workers: int) -> list[Measurement]:
    """Start `kg-service serve --workers N`, measure, and stop it."""
    command = [str(Path(sys.executable).parent / "kg-service"), "serve", "--port", str(args.port),
               "--workers", str(workers)]
    server = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        _wait_for_health(f"http://127.0.0.1:{args.port}/health", server)
        return asyncio.run(measure(f"http://127.0.0.1:{args.port}/graphql", store, families, workers, args.requests,
                                   args.warmup, args.rounds, args.client))
    finally:
        server.terminate()
        server.wait(timeout=30)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workers", type=int, nargs="+", default=[1],
                        help="server worker processes; several values run the whole benchmark once per value")
    parser.add_argument("--families", nargs="+", choices=[family.key for family in FAMILIES],
                        help="query families to measure (default: all)")
    parser.add_argument("--requests", type=int, default=200,
                        help="timed requests per family, path and concurrency level")
    parser.add_argument("--warmup", type=int, default=20, help="untimed requests per path before each level")
    parser.add_argument("--rounds", type=int, default=10,
                        help="alternations of a GraphQL block and a driver block per level (fewer where a block "
                             "would hold less than twice the client count)")
    parser.add_argument("--port", type=int, default=8765, help="port of the GraphQL server that the script starts")
    parser.add_argument("--client", choices=["aiohttp", "httpx"], default="aiohttp",
                        help="HTTP client of the GraphQL path (default aiohttp, the one with less CPU per request)")
    parser.add_argument("--output", help="write the measurements and the load averages as JSON to this file")
    args = parser.parse_args()

    families = _select_families(args.families)
    settings = get_settings()
    store = GraphStore.from_settings(settings)
    load_before = os.getloadavg()
    try:
        results = [item for workers in args.workers for item in _serve_and_measure(args, store, families, workers)]
    finally:
        store.close()
    load_after = os.getloadavg()

    print(_table(results))
    print(f"load average (1, 5, 15 min) before: {load_before[0]:.2f} {load_before[1]:.2f} {load_before[2]:.2f}; "
          f"after: {load_after[0]:.2f} {load_after[1]:.2f} {load_after[2]:.2f}")
    if args.output:
        with open(args.output, "w", encoding="utf-8") as handle:
            json.dump({"client": args.client, "load_before": load_before, "load_after": load_after,
                       "measurements": [item._asdict() for item in results]}, handle, indent=2)


if __name__ == "__main__":
    main()
