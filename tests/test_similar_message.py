"""The `similar` error for an entity without an embedding names the embedded classes."""

from __future__ import annotations

import pytest

from kg_service.errors import QueryError
from kg_service.gnn.writeback import similar

pytestmark = pytest.mark.neo4j


def test_similar_document_message(core_graph):
    core_graph.write("CREATE (:Entity:Document {id: 'document:manual', name: 'pump manual'}) "
                     "CREATE (:Entity:Equipment {id: 'eq:p-101', name: 'P-101', embedding: [0.1, 0.2], "
                     "embeddingModel: 'test'})")

    with pytest.raises(QueryError) as raised:
        similar(core_graph, "document:manual")
    message = str(raised.value)

    assert "document:manual (Document) has no embedding" in message
    assert "the graph has embeddings for Equipment only" in message
    assert "Documents and chunks are never embedded" in message
    assert "kg-service train --class" in message


def test_similar_message_without_embeddings(core_graph):
    core_graph.write("CREATE (:Entity:Equipment {id: 'eq:p-102', name: 'P-102'})")

    with pytest.raises(QueryError, match="the graph has no embeddings yet"):
        similar(core_graph, "eq:p-102")
