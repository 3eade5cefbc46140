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
from kg_service.api.limits import Cost
from kg_service.api.paging import Connection, connection, fingerprint
from kg_service.api.types import Entity
from kg_service.gnn.writeback import EMBEDDING_MODEL_PROPERTY, MAX_SIMILAR, similar

logger = logging.getLogger(__name__)


@strawberry.type(description="An entity near the query entity, with its cosine similarity mapped to 0..1")
class SimilarEntity:
    entity: Entity
    score: float = strawberry.field(description="Neo4j vector-index cosine score, (1 + cosine) / 2")


@strawberry.type(description="Relay-style page of the nearest entities, closest first")
class SimilarEntityConnection(Connection[SimilarEntity]):
    pass


# Default page size of `neighbours`; `first` goes up to MAX_SIMILAR.
NEIGHBOURS_PAGE = 10


@strawberry.type(description="The entity asked about and its nearest entities by GNN embedding, closest first")
class SimilarEntities:
    entity: Entity
    model_version: str | None = strawberry.field(description="Checkpoint version of the embeddings compared")
    nearest: strawberry.Private[list[SimilarEntity]]

    @strawberry.field(description=f"The nearest entities (the {MAX_SIMILAR} nearest at most), closest first, ties "
                                  "by key")
    def neighbours(self, first: int = NEIGHBOURS_PAGE, after: str | None = None) -> SimilarEntityConnection:
        scope = fingerprint("SimilarEntities.neighbours", {"entity": str(self.entity.id),
                                                           "modelVersion": self.model_version})
        return connection(SimilarEntityConnection, self.nearest, first, after, scope, "neighbours",
                          maximum=MAX_SIMILAR)


@strawberry.type
class GnnQuery:
    @strawberry.field(description="The entity (key or name in either language) and the entities whose GNN "
                                  "embeddings are nearest to its own; needs 'kg-service embed' first",
                      directives=[Cost(weight=50)])
    async def similar(self, info: Info, entity: str) -> SimilarEntities:
        store = request_store(info)
        schema = request_schema(info)
        # The nearest MAX_SIMILAR are read on every request, so each page comes from the same ranking.
        found, neighbours = await asyncio.to_thread(similar, store, entity, MAX_SIMILAR)
        return SimilarEntities(
            entity=Entity.from_row(found["id"], found["labels"], found["props"], schema),
            model_version=found["props"].get(EMBEDDING_MODEL_PROPERTY),
            nearest=[SimilarEntity(entity=Entity.from_row(node.id, node.labels, node.properties, schema),
                                   score=node.score) for node in neighbours])


query_type = GnnQuery
