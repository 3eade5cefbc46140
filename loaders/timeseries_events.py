"""Failure events of one telemetry file: their provenance, and replacing the events of a revised file.

Every FailureEvent that a telemetry file yields carries `source` (the mapping's source) and
`sourceFile` (the file's stem, the name its samples are stored under as `recording`). Loading a
file again writes the events it now yields and deletes the events of the same source and file
that it no longer yields. Events of other files and of other sources stay. Event keys do not
depend on the file, so loading an unchanged file again changes nothing.

The events are written after the rest of the file's records, because they point at its assets
and failure modes. One transaction per group of assets deletes the stale events of those assets
and merges their new ones, so a failing transaction leaves the previous events of its assets in
place. The last transaction also deletes the file's events of assets that no longer have any.
"""

from __future__ import annotations

import logging
from collections import defaultdict
from dataclasses import dataclass

from kg_service.errors import GraphStoreError
from kg_service.graph.identifiers import quote, quote_labels
from kg_service.graph.records import GraphBatch, NodeRecord, RelationshipRecord
from kg_service.graph.store import GraphStore
from kg_service.graph.writer import BatchedWriter, WriteReport
from kg_service.ontology.schema import ENTITY_LABEL, GraphSchema
from loaders.mapping import TelemetryMapping

logger = logging.getLogger(__name__)

EVENT_LABEL = "FailureEvent"
ASSET_RELATIONSHIP = "FOR_ASSET"


@dataclass
class EventWrite:
    """Counters of one file's event replacement: the write counters and the number of deleted events."""

    report: WriteReport
    deleted: int


def split_events(batch: GraphBatch, stem: str) -> GraphBatch:
    """Move the FailureEvent nodes, and the relationships that touch them, from `batch` into a new batch.

    Each moved event gets `sourceFile = stem`, which `replace_file_events` needs to find the
    events that a revised file no longer yields.
    """
    events = GraphBatch()
    for key, node in list(batch.nodes.items()):
        if node.label == EVENT_LABEL:
            node.properties["sourceFile"] = stem
            events.nodes[key] = batch.nodes.pop(key)
    for key, relationship in list(batch.relationships.items()):
        if relationship.start_id in events.nodes or relationship.end_id in events.nodes:
            events.relationships[key] = batch.relationships.pop(key)
    return events


def replace_file_events(store: GraphStore, schema: GraphSchema, mapping: TelemetryMapping, stem: str,
                        events: GraphBatch, batch_size: int = 1000) -> EventWrite:
    """Write the FailureEvents of file `stem` and delete the ones of that source and file it no longer yields."""
    nodes = list(events.nodes.values())
    relationships = list(events.relationships.values())
    BatchedWriter(store, schema).validate(nodes, relationships)
    groups = _asset_groups(events, batch_size)
    labels = [ENTITY_LABEL] + [name for name in schema.ancestors(EVENT_LABEL) if name != ENTITY_LABEL]
    node_query = (f"UNWIND $rows AS row MERGE (n:{quote(ENTITY_LABEL)} {{id: row.id}}) "
                  f"SET n{quote_labels(labels)} SET n += row.props")
    all_keys = set(events.nodes)

    totals = {"nodes_created": 0, "relationships_created": 0, "deleted": 0}
    for index, (assets, group_nodes, group_relationships) in enumerate(groups):
        last = index == len(groups) - 1

        def work(tx, assets=assets, group_nodes=group_nodes, group_relationships=group_relationships,
                 last=last) -> tuple[int, int, int]:
            keys = {node.id for node in group_nodes}
            deleted = _delete_stale(tx, mapping.source, stem, assets, keys)
            if last:
                deleted += _delete_stale(tx, mapping.source, stem, None, all_keys)
            nodes_created = 0
            if group_nodes:
                result = tx.run(node_query, rows=[{"id": node.id, "props": node.properties} for node in group_nodes])
                nodes_created = result.consume().counters.nodes_created
            return deleted, nodes_created, _merge_relationships(tx, schema, group_relationships)

        deleted, nodes_created, relationships_created = store.execute_write(work)
        totals["deleted"] += deleted
        totals["nodes_created"] += nodes_created
        totals["relationships_created"] += relationships_created

    report = WriteReport(len(nodes), len(relationships), totals["nodes_created"], totals["relationships_created"],
                         len(groups))
    logger.info("source %s, file %s: wrote %d failure events (%d new) in %d transactions and deleted %d that the "
                "file no longer yields", mapping.source, stem, len(nodes), report.nodes_created, len(groups),
                totals["deleted"])
    return EventWrite(report, totals["deleted"])


def _asset_groups(events: GraphBatch, batch_size: int) -> list[tuple[list[str], list[NodeRecord],
                                                                       list[RelationshipRecord]]]:
    """Split the events by asset into groups of about `batch_size` records, and return at least one group.

    Returns (asset keys, event nodes, their relationships) per group. One asset's events stay in one group.
    """
    asset_of = {rel.start_id: rel.end_id for rel in events.relationships.values() if rel.type == ASSET_RELATIONSHIP}
    by_asset: dict[str, list[NodeRecord]] = defaultdict(list)
    for node in events.nodes.values():
        by_asset[asset_of.get(node.id, "")].append(node)
    outgoing: dict[str, list[RelationshipRecord]] = defaultdict(list)
    for rel in events.relationships.values():
        outgoing[rel.start_id if rel.start_id in events.nodes else rel.end_id].append(rel)

    groups: list[tuple[list[str], list[NodeRecord], list[RelationshipRecord]]] = []
    assets: list[str] = []
    nodes: list[NodeRecord] = []
    relationships: list[RelationshipRecord] = []
    for asset in sorted(by_asset):
        assets.append(asset)
        for node in by_asset[asset]:
            nodes.append(node)
            relationships.extend(outgoing[node.id])
        if len(nodes) + len(relationships) >= batch_size:
            groups.append((assets, nodes, relationships))
            assets, nodes, relationships = [], [], []
    if assets or not groups:
        groups.append((assets, nodes, relationships))
    return groups


def _delete_stale(tx, source: str, stem: str, assets: list[str] | None, keep: set[str]) -> int:
    """Delete the events of `source` and file `stem` (of `assets`, or of any asset when None) not in `keep`."""
    if assets is None:
        found = tx.run(f"MATCH (e:{quote(EVENT_LABEL)}) WHERE e.source = $source AND e.sourceFile = $file "
                       "RETURN e.id AS id", source=source, file=stem)
    else:
        if not assets:
            return 0
        found = tx.run(f"UNWIND $assets AS asset MATCH (:{quote(ENTITY_LABEL)} {{id: asset}})"
                       f"<-[:{quote(ASSET_RELATIONSHIP, 'relationship type')}]-(e:{quote(EVENT_LABEL)}) "
                       "WHERE e.source = $source AND e.sourceFile = $file RETURN DISTINCT e.id AS id",
                       assets=assets, source=source, file=stem)
    stale = sorted({record["id"] for record in found} - keep)
    if not stale:
        return 0
    tx.run(f"UNWIND $ids AS id MATCH (e:{quote(ENTITY_LABEL)} {{id: id}}) DETACH DELETE e", ids=stale).consume()
    return len(stale)


def _merge_relationships(tx, schema: GraphSchema, relationships: list[RelationshipRecord]) -> int:
    """Merge the relationships by type; raise GraphStoreError (rolling the transaction back) on a missing end."""
    created = 0
    by_type: dict[str, list[RelationshipRecord]] = defaultdict(list)
    for rel in relationships:
        by_type[rel.type].append(rel)
    for rel_type, group in sorted(by_type.items()):
        schema.relationship(rel_type)
        rows = [{"start": rel.start_id, "end": rel.end_id, "props": rel.properties} for rel in group]
        result = tx.run(f"UNWIND $rows AS row "
                        f"MATCH (a:{quote(ENTITY_LABEL)} {{id: row.start}}) MATCH (b:{quote(ENTITY_LABEL)} {{id: row.end}}) "
                        f"MERGE (a)-[r:{quote(rel_type, 'relationship type')}]->(b) SET r += row.props "
                        f"RETURN count(r) AS matched", rows=rows)
        matched = result.single()["matched"]
        created += result.consume().counters.relationships_created
        if matched != len(rows):
            raise GraphStoreError(f"{len(rows) - matched} {rel_type} relationships of failure events point at nodes "
                                  "that do not exist. The transaction was rolled back, so the file's previous "
                                  "events stay. Load the file again, and report this message if it fails again")
    return created
