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

from neo4j import READ_ACCESS, AsyncDriver, AsyncGraphDatabase, AsyncManagedTransaction, unit_of_work
from neo4j.exceptions import Neo4jError, ServiceUnavailable

if TYPE_CHECKING:
    from kg_service.graph.store import GraphStore, Params

logger = logging.getLogger(__name__)


class AsyncGraphReader:
    """READ transactions through the asyncio driver, on the database and with the timeout of a GraphStore."""

    def __init__(self, store: GraphStore, auth: tuple[str, str], retry_s: float | None = None) -> None:
        self.store = store
        retry = {} if retry_s is None else {"max_transaction_retry_time": retry_s}
        self._driver: AsyncDriver = AsyncGraphDatabase.driver(store.uri, auth=auth, max_connection_pool_size=50,
                                                              notifications_min_severity="OFF", **retry)
        logger.info("opened an asyncio reader on %s", store.uri)

    async def read(self, cypher: str, params: Params | None = None) -> list[dict[str, Any]]:
        """Run `cypher` in a READ transaction (retried by the driver on transient errors) and return its rows."""
        self.store.query_count += 1
        values = dict(params or {})

        async def work(tx: AsyncManagedTransaction) -> list[dict[str, Any]]:
            result = await tx.run(cypher, values)
            return [record.data() async for record in result]

        if self.store.query_timeout_s:
            work = unit_of_work(timeout=self.store.query_timeout_s)(work)
        try:
            async with self._driver.session(database=self.store.database,
                                            default_access_mode=READ_ACCESS) as session:
                return await session.execute_read(work)
        except (Neo4jError, ServiceUnavailable) as error:
            raise self.store.store_error(error, read_only=True) from error

    async def close(self) -> None:
        await self._driver.close()
        logger.info("closed the asyncio reader on %s", self.store.uri)


async def read_rows(store: GraphStore, reader: AsyncGraphReader | None, cypher: str,
                    params: Params | None = None) -> list[dict[str, Any]]:
    """Run one read query through `reader` when there is one, else through `store` in a worker thread."""
    if reader is not None:
        return await reader.read(cypher, params)
    return await asyncio.to_thread(store.read, cypher, params)
