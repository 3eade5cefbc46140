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
authentication, building the typed result and JSON encoding. Each path reaches Neo4j through the
driver API that the field's resolver uses: the entity lookup and the failure history through the
asyncio driver (`kg_service.graph.async_reader`, one auto-commit transaction per read), root
causes through the synchronous driver in a worker thread. `--driver-api sync` sends every
driver-path query through `GraphStore.read` in a thread, which calls the synchronous driver's
`execute_query`, the driver's own call for a single query. Both paths run on uvloop.

The default HTTP client is wrk (Debian's `wrk` package), a load generator written in C, which
runs as a separate process with one connection per client. It reports every latency in
microseconds, and its CPU time per request is small next to the server's. The Python clients
(`--client aiohttp` or `--client httpx`) run in the benchmark's process, and their CPU time
counts on the GraphQL side only: about 0.2 ms per request for aiohttp and 0.6 ms for httpx
(150 sequential entity lookups on a 2-core machine, 2026-12-05). Where the client, the server
and Neo4j share the cores, that time also takes a core from the server. With wrk, a GraphQL
block runs for `--block-seconds` and the driver block that follows sends as many requests.

Run against a graph that holds the sample plant (``kg-service quickstart --exit`` loads it):

    .venv/bin/python benchmarks/api_latency.py --workers 1 2 --output results.json
    .venv/bin/python benchmarks/api_latency.py --client aiohttp --requests 200 --output results-aiohttp.json
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import shutil
import subprocess
import sys
import time
from collections import Counter
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any, NamedTuple

import aiohttp
import httpx
import uvloop

from kg_service.api.loaders import ENTITIES_BY_KEY
from kg_service.config import get_settings
from kg_service.graph.async_reader import AsyncGraphReader
from kg_service.graph.store import GraphStore
from kg_service.reasoning import lookup
from kg_service.reasoning.rootcause import ASSET_CLASSES, MAX_CANDIDATES, RootCauseQuery, rank_causes

CONCURRENCY_LEVELS = (1, 8, 32)

WRK_SCRIPT = Path(__file__).with_name("wrk_graphql.lua")

CLIENTS = ("wrk", "aiohttp", "httpx")

ASSET_KEY = "equipment:sample-plant:ac-3"

# Few fields each, so that a change of the schema means a small edit here.
ENTITY_DOCUMENT = 'query($id: ID!) { entity(id: $id) { id classes label(lang: "zh") } }'
HISTORY_DOCUMENT = ("query($a: String!) { failureHistory(asset: $a, first: 20) { totalCount "
                    "edges { node { id date cost failureModes { edges { node { label } } } "
                    "parts { edges { node { label } } } } } } }")
ROOT_CAUSES_DOCUMENT = ("query($a: String!, $m: String!) { rootCauses(asset: $a, failureMode: $m) { targetWorkOrders "
                        "candidates(first: 5) { edges { node { entity { id label } score } } } } }")


class Family(NamedTuple):
    """One query family: its GraphQL request and the driver call that sends the same Cypher."""

    key: str
    name: str
    document: str
    variables: dict[str, Any]
    direct: Callable[[GraphStore], Any]
    # The same queries through the asyncio reader, for families whose resolver reads through it.
    direct_async: Callable[[AsyncGraphReader], Awaitable[Any]] | None = None


async def _history_async(reader: AsyncGraphReader) -> Any:
    params = lookup.asset_history_params(ASSET_KEY, ASSET_CLASSES, 20)
    return lookup.asset_history_page((await reader.read(lookup.ASSET_HISTORY_QUERY, params))[0], ASSET_KEY,
                                     ASSET_CLASSES)


FAMILIES = [
    Family("entity", "entity lookup", ENTITY_DOCUMENT, {"id": ASSET_KEY},
           lambda store: store.read(ENTITIES_BY_KEY, {"keys": [ASSET_KEY]}),
           lambda reader: reader.read(ENTITIES_BY_KEY, {"keys": [ASSET_KEY]})),
    Family("history", "failure history", HISTORY_DOCUMENT, {"a": ASSET_KEY},
           lambda store: lookup.asset_history(store, ASSET_KEY, ASSET_CLASSES, 20), _history_async),
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


Histogram = Counter  # latency in microseconds -> number of requests


def _quantile(histogram: Histogram, fraction: float) -> int:
    """Return the latency at `fraction` of the requests, in microseconds (the nearest-rank sample)."""
    total = sum(histogram.values())
    if total == 0:
        raise ValueError("the latency histogram is empty; measure at least one request")
    rank = min(total - 1, max(0, round(fraction * (total - 1))))
    seen = 0
    for value in sorted(histogram):
        seen += histogram[value]
        if seen > rank:
            return value
    raise AssertionError("unreachable: the rank is below the total")


def _histogram(latencies_s: list[float]) -> Histogram:
    return Counter(round(latency * 1_000_000) for latency in latencies_s)


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


def _measurement(family: Family, path: str, workers: int, clients: int, histogram: Histogram,
                 elapsed: float) -> Measurement:
    requests = sum(histogram.values())
    return Measurement(family.name, path, workers, clients, requests, round(_quantile(histogram, 0.5) / 1000, 2),
                       round(_quantile(histogram, 0.99) / 1000, 2), round(requests / elapsed, 1))


class WrkRun(NamedTuple):
    """The report of one wrk run: requests, duration, errors and the measured latency histogram."""

    requests: int
    seconds: float
    http_errors: int
    graphql_errors: int
    socket_errors: int
    histogram: Histogram


def remove_wrk_correction(histogram: Histogram, requests: int, duration_us: int, connections: int) -> Histogram:
    """Return the measured latencies from the histogram that wrk 4 reports, without its synthetic samples.

    Before its report, wrk corrects for coordinated omission as if requests were due at a fixed
    rate: with `interval` the run time divided by the requests per connection, each sample of
    n >= 2 * interval adds one sample at each n - k * interval above `interval`. The
    benchmark's clients send a request when the previous one returns, like the driver path, so
    the comparison needs the measured samples. The samples added at a value m come from the
    samples at m + interval, m + 2 * interval and so on. Counting down from the largest value
    therefore removes them. The result must contain exactly `requests` samples.
    """
    per_connection = requests // connections
    if per_connection == 0:
        measured = Counter(histogram)
    else:
        interval = duration_us // per_connection
        measured = Counter()
        above: dict[int, int] = {}  # value -> measured samples at value + interval, value + 2 * interval, ...
        for value in sorted(histogram, reverse=True):
            added = 0
            if value > interval:
                added = measured.get(value + interval, 0) + above.get(value + interval, 0)
                above[value] = added
            count = histogram[value] - added
            if count < 0:
                raise RuntimeError(f"wrk's histogram does not match its correction at {value} us; "
                                   "check the wrk version (4.x expected)")
            if count:
                measured[value] = count
    if sum(measured.values()) != requests:
        raise RuntimeError(f"wrk reported {requests} requests but its histogram contains {sum(measured.values())} "
                           "measured samples after removing the correction; check the wrk version (4.x expected)")
    return measured


def parse_wrk_output(output: str, connections: int) -> WrkRun:
    """Read the lines that `wrk_graphql.lua` writes after a run made with `connections` connections."""
    summary = None
    histogram: Histogram = Counter()
    for line in output.splitlines():
        fields = line.split()
        if fields[:1] == ["summary"] and len(fields) == 6:
            summary = [int(field) for field in fields[1:]]
        elif fields[:1] == ["latency"] and len(fields) == 3:
            histogram[int(fields[1])] += int(fields[2])
    if summary is None:
        raise RuntimeError(f"wrk printed no summary line; its output was:\n{output[-2000:]}")
    requests, duration_us, http_errors, graphql_errors, socket_errors = summary
    measured = remove_wrk_correction(histogram, requests, duration_us, connections)
    return WrkRun(requests, duration_us / 1_000_000, http_errors, graphql_errors, socket_errors, measured)


def run_wrk(url: str, body: dict[str, Any], clients: int, seconds: int) -> WrkRun:
    """Run wrk with one thread and `clients` connections for `seconds`; raise if any request failed."""
    command = ["wrk", "-t1", f"-c{clients}", f"-d{seconds}s", "--timeout", "30s", "-s", str(WRK_SCRIPT), url]
    completed = subprocess.run(command, capture_output=True, text=True, check=False,
                               env={**os.environ, "KG_WRK_BODY": json.dumps(body)})
    if completed.returncode != 0:
        raise RuntimeError(f"wrk exited with status {completed.returncode}: {completed.stderr.strip()}")
    run = parse_wrk_output(completed.stdout, clients)
    if run.http_errors or run.graphql_errors or run.socket_errors:
        raise RuntimeError(f"wrk saw {run.http_errors} HTTP errors, {run.graphql_errors} GraphQL errors and "
                           f"{run.socket_errors} socket errors in {run.requests} requests")
    return run


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
                  rounds: int, client: str = "wrk", block_seconds: int = 1,
                  driver_api: str = "resolver") -> list[Measurement]:
    """Measure each family at each concurrency level, GraphQL and driver blocks alternating.

    With `driver_api="resolver"` the driver path uses the driver API of the field's resolver. With
    `"sync"` it sends every family through the synchronous driver in a thread.
    """
    reader = store.open_async_reader() if driver_api == "resolver" else None
    try:
        return await _measure(url, store, reader, families, workers, requests, warmup, rounds, client, block_seconds)
    finally:
        if reader is not None:
            await reader.close()


async def _measure(url: str, store: GraphStore, reader: AsyncGraphReader | None, families: list[Family],
                   workers: int, requests: int, warmup: int, rounds: int, client: str,
                   block_seconds: int) -> list[Measurement]:
    if client == "wrk":
        return await _measure_with_wrk(url, store, reader, families, workers, warmup, rounds, block_seconds)
    results = []
    async with http_client(client, url) as post:
        for family in families:
            async def graphql_call(family: Family = family) -> None:
                body = await post({"query": family.document, "variables": family.variables})
                if body.get("errors"):
                    raise RuntimeError(f"{family.name}: {body['errors'][0]['message']}")

            calls = {"graphql": graphql_call, "driver": _driver_call(family, store, reader)}
            for clients in CONCURRENCY_LEVELS:
                histograms: dict[str, Histogram] = {path: Counter() for path in calls}
                elapsed = dict.fromkeys(calls, 0.0)
                for path, call in calls.items():
                    await _run_block(call, clients, warmup)
                for size in _block_sizes(requests, clients, rounds):
                    for path, call in calls.items():
                        block_latencies, block_elapsed = await _run_block(call, clients, size)
                        histograms[path] += _histogram(block_latencies)
                        elapsed[path] += block_elapsed
                for path in calls:
                    results.append(_measurement(family, path, workers, clients, histograms[path], elapsed[path]))
    return results


def _driver_call(family: Family, store: GraphStore, reader: AsyncGraphReader | None) -> Callable[[], Awaitable[None]]:
    if reader is not None and family.direct_async is not None:
        async def driver_call_async() -> None:
            await family.direct_async(reader)

        return driver_call_async

    async def driver_call() -> None:
        await asyncio.to_thread(family.direct, store)

    return driver_call


async def _measure_with_wrk(url: str, store: GraphStore, reader: AsyncGraphReader | None, families: list[Family],
                            workers: int, warmup: int, rounds: int, block_seconds: int) -> list[Measurement]:
    """Alternate a wrk run of `block_seconds` with a driver block of as many requests, `rounds` times per level."""
    results = []
    for family in families:
        body = {"query": family.document, "variables": family.variables}
        driver_call = _driver_call(family, store, reader)
        for clients in CONCURRENCY_LEVELS:
            await asyncio.to_thread(run_wrk, url, body, clients, 1)
            await _run_block(driver_call, clients, warmup)
            histograms = {"graphql": Counter(), "driver": Counter()}
            elapsed = {"graphql": 0.0, "driver": 0.0}
            for _ in range(rounds):
                run = await asyncio.to_thread(run_wrk, url, body, clients, block_seconds)
                histograms["graphql"] += run.histogram
                elapsed["graphql"] += run.seconds
                block_latencies, block_elapsed = await _run_block(driver_call, clients, max(run.requests, 2 * clients))
                histograms["driver"] += _histogram(block_latencies)
                elapsed["driver"] += block_elapsed
            for path in ("graphql", "driver"):
                results.append(_measurement(family, path, workers, clients, histograms[path], elapsed[path]))
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
        # The server runs on uvloop (uvicorn picks it when installed), so the driver path does too.
        return uvloop.run(measure(f"http://127.0.0.1:{args.port}/graphql", store, families, workers, args.requests,
                                  args.warmup, args.rounds, args.client, args.block_seconds, args.driver_api))
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
                        help="timed requests per family, path and concurrency level (aiohttp and httpx)")
    parser.add_argument("--block-seconds", type=int, default=1,
                        help="length of one wrk run; the driver block after it sends as many requests (wrk)")
    parser.add_argument("--warmup", type=int, default=20, help="untimed requests per path before each level")
    parser.add_argument("--rounds", type=int, default=10,
                        help="alternations of a GraphQL block and a driver block per level (fewer where a block "
                             "would hold less than twice the client count)")
    parser.add_argument("--port", type=int, default=8765, help="port of the GraphQL server that the script starts")
    parser.add_argument("--client", choices=CLIENTS, default="wrk",
                        help="HTTP client of the GraphQL path: wrk (default, a separate process written in C), "
                             "aiohttp or httpx (in the benchmark's process)")
    parser.add_argument("--driver-api", choices=("resolver", "sync"), default="resolver",
                        help="driver API of the driver path: the one each resolver uses (default: the asyncio "
                             "driver for the entity lookup and the failure history, the synchronous driver in a "
                             "thread for root causes), or the synchronous driver in a thread for every family")
    parser.add_argument("--output", help="write the measurements and the load averages as JSON to this file")
    args = parser.parse_args()
    if args.client == "wrk" and shutil.which("wrk") is None:
        parser.error("--client wrk needs the wrk load generator on PATH; install it with 'apt-get install wrk' "
                     "or pass --client aiohttp")
    if args.block_seconds < 1:
        parser.error(f"--block-seconds must be at least 1, got {args.block_seconds}")

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
            json.dump({"client": args.client, "driver_api": args.driver_api, "load_before": load_before,
                       "load_after": load_after, "measurements": [item._asdict() for item in results]}, handle, indent=2)


if __name__ == "__main__":
    main()
