"""Batched, idempotent writes of graph records into Neo4j.

Nodes are merged on their stable key (`Entity.id`) and relationships on (start, type, end), so
writing the same records twice changes nothing. Records are checked against the ontology
schema before the first write, and each batch of `batch_size` rows is one transaction, so bad
input writes nothing and a failure never leaves a batch half-written.
"""

from __future__ import annotations

import logging
from collections import defaultdict
from collections.abc import Iterable
from typing import NamedTuple, Protocol

from kg_service.errors import GraphStoreError
from kg_service.graph.identifiers import quote, quote_labels
from kg_service.graph.records import NodeRecord, RelationshipRecord
from kg_service.graph.store import GraphStore
from kg_service.ontology.schema import ENTITY_LABEL, GraphSchema

logger = logging.getLogger(__name__)

class WriteProgress(Protocol):
    """Receives the number of records to write, then each batch's size as it commits."""

    def start(self, total: int) -> None: ...

    def advance(self, count: int) -> None: ...


class WriteReport(NamedTuple):
    """Counters of one write: rows sent and what Neo4j created."""

    nodes: int
    relationships: int
    nodes_created: int
    relationships_created: int
    batches: int


class BatchedWriter:
    """Write node and relationship records with UNWIND in batches of `batch_size` rows.

    Usage::

        writer = BatchedWriter(store, GraphSchema.from_store(store), batch_size=1000)
        report = writer.write(batch.nodes.values(), batch.relationships.values())
    """

    def __init__(self, store: GraphStore, schema: GraphSchema, batch_size: int = 1000,
                 progress: WriteProgress | None = None) -> None:
        if batch_size < 1:
            raise ValueError(f"batch_size must be at least 1, got {batch_size}")
        self.store = store
        self.schema = schema
        self.batch_size = batch_size
        self.progress = progress

    def validate(self, nodes: Iterable[NodeRecord], relationships: Iterable[RelationshipRecord]) -> None:
        """Raise UnknownTermError for the first label, type or property the ontology does not allow."""
        for node in nodes:
            self.schema.label(node.label)
            for name in node.properties:
                self.schema.property(name)
        for rel in relationships:
            self.schema.check_relationship(rel.type, rel.start_label, rel.end_label)
            for name in rel.properties:
                self.schema.property(name)

    def write(self, nodes: Iterable[NodeRecord], relationships: Iterable[RelationshipRecord]) -> WriteReport:
        nodes = list(nodes)
        relationships = list(relationships)
        self.validate(nodes, relationships)
        if self.progress is not None:
            self.progress.start(len(nodes) + len(relationships))

        nodes_created = relationships_created = batches = 0
        for label, group in _group(nodes, lambda node: node.label).items():
            query = self._node_query(label)
            for chunk in _chunks(group, self.batch_size):
                rows = [{"id": node.id, "props": node.properties} for node in chunk]
                nodes_created += self._run_batch(query, rows, "nodes_created")
                batches += 1
                self._advance(len(chunk))

        for rel_type, group in _group(relationships, lambda rel: rel.type).items():
            query = self._relationship_query(rel_type)
            for chunk in _chunks(group, self.batch_size):
                rows = [{"start": rel.start_id, "end": rel.end_id, "props": rel.properties} for rel in chunk]
                relationships_created += self._run_batch(query, rows, "relationships_created", expect_rows=len(rows))
                batches += 1
                self._advance(len(chunk))

        report = WriteReport(len(nodes), len(relationships), nodes_created, relationships_created, batches)
        logger.info("wrote %d nodes (%d new) and %d relationships (%d new) in %d batches",
                    report.nodes, report.nodes_created, report.relationships, report.relationships_created, batches)
        return report

    def _node_query(self, label: str) -> str:
        labels = [ENTITY_LABEL] + [name for name in self.schema.ancestors(label) if name != ENTITY_LABEL]
        return (f"UNWIND $rows AS row MERGE (n:{quote(ENTITY_LABEL)} {{id: row.id}}) "
                f"SET n{quote_labels(labels)} SET n += row.props")

    def _relationship_query(self, rel_type: str) -> str:
        self.schema.relationship(rel_type)
        return (f"UNWIND $rows AS row "
                f"MATCH (a:{quote(ENTITY_LABEL)} {{id: row.start}}) MATCH (b:{quote(ENTITY_LABEL)} {{id: row.end}}) "
                f"MERGE (a)-[r:{quote(rel_type, 'relationship type')}]->(b) SET r += row.props "
                f"RETURN count(r) AS matched")

    def _run_batch(self, query: str, rows: list[dict], counter: str, expect_rows: int | None = None) -> int:
        def work(tx) -> int:
            result = tx.run(query, rows=rows)
            records = list(result)
            summary = result.consume()
            if expect_rows is not None and records and records[0]["matched"] != expect_rows:
                missing = self._missing_endpoints(tx, rows)
                raise GraphStoreError(f"{expect_rows - records[0]['matched']} relationships point at nodes that do "
                                      f"not exist (for example {missing[:5]}); the batch was rolled back")
            return getattr(summary.counters, counter)
        return self.store.execute_write(work)

    @staticmethod
    def _missing_endpoints(tx, rows: list[dict]) -> list[str]:
        ids = sorted({row["start"] for row in rows} | {row["end"] for row in rows})
        found = {record["id"] for record in tx.run(
            f"MATCH (n:{quote(ENTITY_LABEL)}) WHERE n.id IN $ids RETURN n.id AS id", ids=ids)}
        return [node_id for node_id in ids if node_id not in found]

    def _advance(self, count: int) -> None:
        if self.progress is not None:
            self.progress.advance(count)


def _group(items, key) -> dict:
    groups: dict = defaultdict(list)
    for item in items:
        groups[key(item)].append(item)
    return groups


def _chunks(items: list, size: int):
    for start in range(0, len(items), size):
        yield items[start:start + size]

