"""Access to the per-request context of the GraphQL API: the graph store, its reader and the ontology allowlist."""

from __future__ import annotations

import asyncio
from typing import Any

from strawberry.types import Info

from kg_service.graph.async_reader import read_rows
from kg_service.graph.store import GraphStore, Params
from kg_service.ontology.schema import GraphSchema


def request_store(info: Info) -> GraphStore:
    """Return the GraphStore that serves this request."""
    return info.context["store"]


async def read(info: Info, cypher: str, params: Params | None = None) -> list[dict[str, Any]]:
    """Run one read query for this request and return its rows.

    The query goes through the app's asyncio reader when its lifespan opened one (as under
    uvicorn), else through the synchronous store in a worker thread.
    """
    return await read_rows(request_store(info), info.context.get("reader"), cypher, params)


def request_schema(info: Info) -> GraphSchema:
    """Return the ontology allowlist, re-read from Neo4j at most every 30 seconds."""
    return info.context["schema_cache"].get()


async def request_schema_async(info: Info) -> GraphSchema:
    """Return the ontology allowlist, reading Neo4j in a worker thread only when the cached copy is too old.

    A fresh cached copy comes back without the thread hop of `asyncio.to_thread(request_schema, info)`.
    """
    cache = info.context["schema_cache"]
    schema = cache.fresh()
    if schema is not None:
        return schema
    return await asyncio.to_thread(cache.get)
