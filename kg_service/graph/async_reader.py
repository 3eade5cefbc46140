"""Read queries through Neo4j's asyncio driver, for the request paths of the GraphQL API.

The synchronous driver in `GraphStore` blocks, so an async resolver calls it from a worker
thread. Each call then pays a thread hop, and concurrent requests make the worker threads and
the event loop contend for the interpreter lock. On the 2-core benchmark machine, the
single-key entity read took 1.07 ms of CPU per request through `asyncio.to_thread` and 0.58 ms
through the asyncio driver, at 8 concurrent callers (docs/benchmarks.md).

An `AsyncGraphReader` belongs to the event loop that opened it, because the asyncio driver's
sockets do. The API opens one in its lifespan and closes it at shutdown. It shares the store's
query counter, timeout and error messages, so a test that counts queries counts these too.

Usage::

    reader = store.open_async_reader()
    rows = await reader.read("MATCH (n:Entity {id: $id}) RETURN n.id AS id", {"id": key})
    await reader.close()
"""

from __future__ import annotations

import asyncio
import logging
from typing import TYPE_CHECKING, Any

from neo4j import READ_ACCESS, AsyncDriver, AsyncGraphDatabase, Query
from neo4j.exceptions import DriverError, Neo4jError, ServiceUnavailable

if TYPE_CHECKING:
    from kg_service.graph.store import GraphStore, Params

logger = logging.getLogger(__name__)

# The driver's own limit and backoff for managed transactions (neo4j 6): 30 s in all, the first
# wait 1 s, each wait twice the last. A read waits less at first, since most failures are short.
DEFAULT_RETRY_S = 30.0
FIRST_RETRY_DELAY_S = 0.2
RETRY_BACKOFF = 2.0
MAX_RETRY_DELAY_S = 2.0


class AsyncGraphReader:
    """Single-statement reads through the asyncio driver, on the database and with the timeout of a GraphStore.

    Each read is an auto-commit transaction in READ access mode: RUN and PULL go out in one
    network write and come back in one answer. The driver's managed transactions
    (`execute_query`, `execute_read`) add a COMMIT round trip, and `execute_read` one more for
    BEGIN. On the sample plant, the single-key entity read took 0.51 to 0.84 ms in auto-commit,
    0.80 to 1.18 ms through `execute_query` and 0.75 to 1.35 ms through `execute_read` (2 cores,
    2026-12-05, 1,500 reads each, four alternating rounds).

    The driver does not retry auto-commit transactions, so `read` retries the errors that the
    driver marks retryable (a lost connection, a transient server error) for up to `retry_s`
    seconds, waiting 0.2 s at first and twice as long each time, up to 2 s. A read has no side
    effect, so running it again is safe.
    """

    def __init__(self, store: GraphStore, auth: tuple[str, str], retry_s: float | None = None) -> None:
        self.store = store
        self.retry_s = DEFAULT_RETRY_S if retry_s is None else retry_s
        self._driver: AsyncDriver = AsyncGraphDatabase.driver(store.uri, auth=auth, max_connection_pool_size=50,
                                                              notifications_min_severity="OFF",
                                                              max_transaction_retry_time=self.retry_s)
        logger.info("opened an asyncio reader on %s", store.uri)

    async def read(self, cypher: str, params: Params | None = None) -> list[dict[str, Any]]:
        """Run `cypher` in a READ auto-commit transaction, retried on retryable errors, and return its rows."""
        self.store.query_count += 1
        timeout = self.store.query_timeout_s
        query = Query(cypher, timeout=timeout) if timeout else Query(cypher)
        values = dict(params or {})
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.retry_s
        delay = FIRST_RETRY_DELAY_S
        attempt = 1
        while True:
            try:
                async with self._driver.session(database=self.store.database,
                                                default_access_mode=READ_ACCESS) as session:
                    result = await session.run(query, values)
                    return await result.data()
            except (Neo4jError, DriverError) as error:
                retryable = error.is_retryable()
                if not retryable or loop.time() + delay > deadline:
                    if retryable:
                        logger.warning("read failed after %d attempts in %.1f s: %s", attempt, self.retry_s, error)
                    if isinstance(error, (Neo4jError, ServiceUnavailable)):
                        raise self.store.store_error(error, read_only=True) from error
                    raise
                logger.info("read attempt %d failed (%s); retrying in %.2f s", attempt, error, delay)
                await asyncio.sleep(delay)
                delay = min(delay * RETRY_BACKOFF, MAX_RETRY_DELAY_S)
                attempt += 1

    async def close(self) -> None:
        await self._driver.close()
        logger.info("closed the asyncio reader on %s", self.store.uri)


async def read_rows(store: GraphStore, reader: AsyncGraphReader | None, cypher: str,
                    params: Params | None = None) -> list[dict[str, Any]]:
    """Run one read query through `reader` when there is one, else through `store` in a worker thread."""
    if reader is not None:
        return await reader.read(cypher, params)
    return await asyncio.to_thread(store.read, cypher, params)
