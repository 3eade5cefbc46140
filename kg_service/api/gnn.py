"""GraphQL field `similar`: the entities nearest to one entity by GNN embedding.

It reads the vector index that `kg-service embed` creates, so it needs neither torch nor a
loaded model in the API process.
"""

from __future__ import annotations

import asyncio
import logging

import strawberry
from strawberry.types import Info

from kg_service.api.context import request_schema, request_store
from kg_service.api.types import Entity
from kg_service.errors import QueryError
from kg_service.gnn.writeback import EMBEDDING_MODEL_PROPERTY, MAX_SIMILAR, similar

logger = logging.getLogger(__name__)


@strawberry.type(description="An entity near the query entity, with its cosine similarity mapped to 0..1")
class SimilarEntity:
    entity: Entity
    score: float = strawberry.field(description="Neo4j vector-index cosine score, (1 + cosine) / 2")


@strawberry.type(description="The entity asked about and its nearest entities by GNN embedding, closest first")
class SimilarEntities:
    entity: Entity
    model_version: str | None = strawberry.field(description="Checkpoint version of the embeddings compared")
    neighbours: list[SimilarEntity]


@strawberry.type
class GnnQuery:
    @strawberry.field(description=f"The k (1 to {MAX_SIMILAR}) entities whose GNN embeddings are nearest to the "
                                  "entity's, by key or name in either language; needs 'kg-service embed' first")
    async def similar(self, info: Info, entity: str, k: int = 10) -> SimilarEntities:
        if not 1 <= k <= MAX_SIMILAR:
            raise QueryError(f"k must be between 1 and {MAX_SIMILAR}, got {k}")
        store = request_store(info)
        schema = request_schema(info)
        found, neighbours = await asyncio.to_thread(similar, store, entity, k)
        return SimilarEntities(
            entity=Entity.from_row(found["id"], found["labels"], found["props"], schema),
            model_version=found["props"].get(EMBEDDING_MODEL_PROPERTY),
            neighbours=[SimilarEntity(entity=Entity.from_row(node.id, node.labels, node.properties, schema),
                                      score=node.score) for node in neighbours])


query_type = GnnQuery
