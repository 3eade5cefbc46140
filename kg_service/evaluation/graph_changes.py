"""Undo what an evaluation wrote into the configured graph, and nothing else.

An evaluation that loads a data set (root-cause on causRCA) writes records with stable keys
(`Entity.id` for nodes, start key, type and end key for relationships). `GraphSnapshot.take`
records which of those records exist before the write, with their properties. After scoring,
`GraphSnapshot.undo` deletes the records that the write created and writes the recorded
properties back onto the ones that existed, so a user who loaded the same data on purpose keeps it.
Every step runs in chunks of `chunk_size` rows, one transaction each, with every value a parameter.

NOTE: a write by another client to the same keys between `take` and `undo` goes unnoticed, so
the records it created are deleted and its property changes are overwritten.
"""

from __future__ import annotations

import logging
from collections import defaultdict
from typing import Any

from pydantic import BaseModel

from kg_service.graph.identifiers import quote
from kg_service.graph.records import GraphBatch, RelationshipRecord
from kg_service.graph.store import GraphStore
from kg_service.ontology.schema import ENTITY_LABEL, GraphSchema

logger = logging.getLogger(__name__)

CHUNK_SIZE = 1000

RelationshipKey = tuple[str, str, str]
"""Start key, relationship type and end key."""


class GraphChanges(BaseModel):
    """Counts of the records that an evaluation added to the graph and that its cleanup removed again.

    `nodes_added` and `relationships_added` count the records of the load that did not exist
    before it. `nodes_restored` and `relationships_restored` count records that existed before,
    whose properties the load changed and the cleanup wrote back. With `kept` the cleanup did
    not run, so the removed and restored counts are 0.
    """

    graph: str
    kept: bool
    nodes_before: int
    relationships_before: int
    nodes_added: int = 0
    relationships_added: int = 0
    nodes_removed: int = 0
    relationships_removed: int = 0
    nodes_restored: int = 0
    relationships_restored: int = 0


class GraphSnapshot:
    """The records of `batch` that exist in the graph before it is written, with their properties.

    Usage::

        snapshot = GraphSnapshot.take(store, schema, batch)
        try:
            writer.write(batch.nodes.values(), batch.relationships.values())
            ...  # score
        finally:
            changes = snapshot.undo(store)
    """

    def __init__(self, batch: GraphBatch, schema: GraphSchema, graph: str, nodes: dict[str, dict[str, Any]],
                 relationships: dict[RelationshipKey, dict[str, Any]], counts: tuple[int, int],
                 chunk_size: int = CHUNK_SIZE) -> None:
        self.batch = batch
        self.schema = schema
        self.graph = graph
        self.nodes = nodes
        self.relationships = relationships
        self.counts = counts
        self.chunk_size = chunk_size

    @classmethod
    def take(cls, store: GraphStore, schema: GraphSchema, batch: GraphBatch,
             chunk_size: int = CHUNK_SIZE) -> "GraphSnapshot":
        """Read which nodes and relationships of `batch` exist now, with their properties."""
        nodes: dict[str, dict[str, Any]] = {}
        query = (f"UNWIND $ids AS id MATCH (n:{quote(ENTITY_LABEL)} {{id: id}}) "
                 "RETURN n.id AS id, properties(n) AS props")
        for chunk in _chunks(list(batch.nodes), chunk_size):
            for row in store.read(query, {"ids": chunk}):
                nodes[row["id"]] = row["props"]

        relationships: dict[RelationshipKey, dict[str, Any]] = {}
        for rel_type, group in _by_type(batch.relationships.values()).items():
            query = (f"UNWIND $rows AS row MATCH (a:{quote(ENTITY_LABEL)} {{id: row.start}})"
                     f"-[r:{_relationship_type(schema, rel_type)}]->(b:{quote(ENTITY_LABEL)} {{id: row.end}}) "
                     "RETURN row.start AS start, row.end AS end, properties(r) AS props")
            for chunk in _chunks(group, chunk_size):
                rows = [{"start": rel.start_id, "end": rel.end_id} for rel in chunk
                        if rel.start_id in nodes and rel.end_id in nodes]
                if not rows:
                    continue
                for row in store.read(query, {"rows": rows}):
                    relationships.setdefault((row["start"], rel_type, row["end"]), row["props"])

        counts = store.counts()
        graph = f"{store.uri} (database {store.database})"
        logger.info("graph snapshot of %s: %d of %d nodes and %d of %d relationships of the load exist already; "
                    "the graph has %d nodes and %d relationships", graph, len(nodes), len(batch.nodes),
                    len(relationships), len(batch.relationships), *counts)
        return cls(batch, schema, graph, nodes, relationships, counts, chunk_size)

    def report_kept(self) -> GraphChanges:
        """Return the counts of what the load added, for a run that keeps it."""
        return GraphChanges(graph=self.graph, kept=True, nodes_before=self.counts[0],
                            relationships_before=self.counts[1], nodes_added=len(self.new_node_ids()),
                            relationships_added=len(self.new_relationships()))

    def new_node_ids(self) -> list[str]:
        """Return the keys of the batch nodes that did not exist when the snapshot was taken."""
        return [key for key in self.batch.nodes if key not in self.nodes]

    def new_relationships(self) -> list[RelationshipRecord]:
        """Return the batch relationships that did not exist when the snapshot was taken."""
        return [rel for key, rel in self.batch.relationships.items() if key not in self.relationships]

    def undo(self, store: GraphStore) -> GraphChanges:
        """Delete the nodes and relationships of the load that did not exist before, and restore changed properties.

        Records that the load did not reach (an interrupted write) are skipped, so this is safe
        after any failure. A node that existed before is never deleted.
        """
        changes = GraphChanges(graph=self.graph, kept=False, nodes_before=self.counts[0],
                               relationships_before=self.counts[1], nodes_added=len(self.new_node_ids()),
                               relationships_added=len(self.new_relationships()))
        logger.info("cleanup of %s: deleting up to %d nodes and %d relationships that the evaluation added",
                    self.graph, changes.nodes_added, changes.relationships_added)

        for rel_type, group in _by_type(self.new_relationships()).items():
            query = (f"UNWIND $rows AS row MATCH (a:{quote(ENTITY_LABEL)} {{id: row.start}})"
                     f"-[r:{_relationship_type(self.schema, rel_type)}]->(b:{quote(ENTITY_LABEL)} {{id: row.end}}) "
                     "DELETE r")
            for chunk in _chunks(group, self.chunk_size):
                rows = [{"start": rel.start_id, "end": rel.end_id} for rel in chunk]
                changes.relationships_removed += _run_counted(store, query, {"rows": rows}, "relationships_deleted")

        # A node that the load created can only have relationships made after the snapshot, so
        # DETACH DELETE removes nothing that existed before.
        query = f"UNWIND $ids AS id MATCH (n:{quote(ENTITY_LABEL)} {{id: id}}) DETACH DELETE n"
        for chunk in _chunks(self.new_node_ids(), self.chunk_size):
            deleted = _run_counters(store, query, {"ids": chunk})
            changes.nodes_removed += deleted.nodes_deleted
            changes.relationships_removed += deleted.relationships_deleted

        # NOTE: labels that the load added to a node that existed before stay. The causRCA loader
        # gives a key the same labels every time, so only a node that another loader created under
        # a causRCA key would keep an extra label.
        query = (f"UNWIND $rows AS row MATCH (n:{quote(ENTITY_LABEL)} {{id: row.id}}) "
                 "WITH n, row WHERE properties(n) <> row.props SET n = row.props RETURN count(n) AS restored")
        rows = [{"id": key, "props": props} for key, props in self.nodes.items()]
        for chunk in _chunks(rows, self.chunk_size):
            changes.nodes_restored += _run_count(store, query, {"rows": chunk})

        grouped: dict[str, list[dict[str, Any]]] = defaultdict(list)
        for (start, rel_type, end), props in self.relationships.items():
            grouped[rel_type].append({"start": start, "end": end, "props": props})
        for rel_type, group in grouped.items():
            query = (f"UNWIND $rows AS row MATCH (a:{quote(ENTITY_LABEL)} {{id: row.start}})"
                     f"-[r:{_relationship_type(self.schema, rel_type)}]->(b:{quote(ENTITY_LABEL)} {{id: row.end}}) "
                     "WITH r, row WHERE properties(r) <> row.props SET r = row.props RETURN count(r) AS restored")
            for chunk in _chunks(group, self.chunk_size):
                changes.relationships_restored += _run_count(store, query, {"rows": chunk})

        logger.info("cleanup of %s: removed %d nodes and %d relationships, restored the properties of %d nodes "
                    "and %d relationships", self.graph, changes.nodes_removed, changes.relationships_removed,
                    changes.nodes_restored, changes.relationships_restored)
        return changes


def _relationship_type(schema: GraphSchema, rel_type: str) -> str:
    """Check `rel_type` against the schema and return it quoted for a Cypher pattern."""
    schema.relationship(rel_type)
    return quote(rel_type, "relationship type")


def _run_counters(store: GraphStore, query: str, params: dict[str, Any]):
    def work(tx):
        return tx.run(query, **params).consume().counters
    return store.execute_write(work)


def _run_counted(store: GraphStore, query: str, params: dict[str, Any], counter: str) -> int:
    return int(getattr(_run_counters(store, query, params), counter))


def _run_count(store: GraphStore, query: str, params: dict[str, Any]) -> int:
    """Run a write query and return the `restored` count of its single row, or 0 without a row."""
    def work(tx) -> int:
        record = tx.run(query, **params).single()
        return int(record["restored"]) if record else 0
    return store.execute_write(work)


def _by_type(relationships) -> dict[str, list[RelationshipRecord]]:
    groups: dict[str, list[RelationshipRecord]] = defaultdict(list)
    for rel in relationships:
        groups[rel.type].append(rel)
    return groups


def _chunks(items: list, size: int):
    for start in range(0, len(items), size):
        yield items[start:start + size]
