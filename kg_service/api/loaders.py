"""DataLoaders: per-request batching, so a request with many lookups sends few Cypher queries."""

from __future__ import annotations

from typing import Any

from strawberry.dataloader import DataLoader

from kg_service.graph.async_reader import AsyncGraphReader, read_rows
from kg_service.graph.store import GraphStore

ENTITIES_BY_KEY = ("UNWIND $keys AS key MATCH (n:Entity {id: key}) "
                   "RETURN n.id AS id, labels(n) AS labels, properties(n) AS props")


def entity_loader(store: GraphStore, reader: AsyncGraphReader | None = None) -> DataLoader[str, dict[str, Any] | None]:
    """Return a loader of entity rows by key: all keys asked for in one tick go to Neo4j in one query.

    The query goes through `reader` when given, else through `store` in a worker thread.
    """

    async def load(keys: list[str]) -> list[dict[str, Any] | None]:
        rows = await read_rows(store, reader, ENTITIES_BY_KEY, {"keys": list(keys)})
        by_key = {row["id"]: row for row in rows}
        return [by_key.get(key) for key in keys]

    return DataLoader(load_fn=load)
