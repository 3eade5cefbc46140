"""Export a part of the graph, chosen by ontology classes and relationship types, to PyG HeteroData.

Node types are the chosen classes. A node with several chosen labels (an Equipment is also an
Asset) belongs to the most specific of them, the one with the most ancestors. Edge types are
(source class, relationship type, target class) with a reverse type `rev_<TYPE>` for each, so
messages flow both ways. Node features are a text embedding of the names and description
followed by the node type's numeric properties, each standardised to mean 0 and deviation 1.

Nodes are read in batches by keyset pagination on the indexed `id` property and edges in
batches of start nodes, so no single transaction returns the whole graph. Relationship types
starting with `PREDICTED_` are model output and are never exported as training edges.

A `KeyScope` restricts the export to one data set when the graph contains several sources, for
example the SupplyGraph plants beside the sites of a plant's work orders.
"""

from __future__ import annotations

import hashlib
import logging
import math
from collections import defaultdict
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from kg_service.config import Settings
from kg_service.errors import QueryError
from kg_service.graph.identifiers import quote
from kg_service.graph.store import GraphStore
from kg_service.ontology.schema import ENTITY_LABEL, GraphSchema

if TYPE_CHECKING:
    from torch_geometric.data import HeteroData

    from kg_service.gnn.text_features import TextEncoder

logger = logging.getLogger(__name__)

PREDICTED_PREFIX = "PREDICTED_"
REVERSE_PREFIX = "rev_"
TEXT_PROPERTIES = ("name", "nameEn", "nameZh", "description", "text")
# Long work-order texts add little to a name embedding but cost tokens, so each is cut here.
MAX_TEXT_CHARACTERS = 300
# Properties that the GNN itself writes back; reading them as input would leak an old model's output.
EXCLUDED_PROPERTIES = frozenset({"embedding", "embeddingModel", "score", "modelVersion"})

EdgeType = tuple[str, str, str]


@dataclass(frozen=True)
class KeyScope:
    """The nodes of one data set, identified by the namespace in their keys.

    A node belongs to the data set when its key starts with one of `prefixes`. Loaders give nodes
    that several sources share (a Part, a FailureMode) keys without a namespace. A node of
    `shared_classes` therefore belongs when an exported relationship leads to it from a node of the
    data set, directly or through other shared nodes. Other nodes are left out.
    """

    name: str
    prefixes: tuple[str, ...]
    shared_classes: tuple[str, ...] = ()

    def owns(self, key: str) -> bool:
        """Return whether `key` is in one of the data set's namespaces."""
        return key.startswith(self.prefixes)


@dataclass
class ExportedGraph:
    """A HeteroData graph with the mapping from tensor indices back to Neo4j nodes."""

    data: "HeteroData"
    node_keys: dict[str, list[str]]
    element_ids: dict[str, list[str]]
    classes: list[str]
    relationship_types: list[str]
    numeric_features: dict[str, list[str]] = field(default_factory=dict)
    text_encoder: str = ""
    _index: dict[str, dict[str, int]] = field(default_factory=dict, repr=False)

    def index_of(self, node_type: str, key: str) -> int:
        """Return the tensor index of the node with key `key`, or raise QueryError."""
        if not self._index:
            self._index = {kind: {node_key: i for i, node_key in enumerate(keys)}
                           for kind, keys in self.node_keys.items()}
        try:
            return self._index[node_type][key]
        except KeyError:
            raise QueryError(f"node {key!r} of type {node_type!r} is not in the exported graph; "
                             "export the class that contains it") from None

    def edge_types(self, include_reverse: bool = False) -> list[EdgeType]:
        """Return the exported edge types, without the reverse types unless asked."""
        return [edge_type for edge_type in self.data.edge_types
                if include_reverse or not edge_type[1].startswith(REVERSE_PREFIX)]

    def data_hash(self) -> str:
        """Return a SHA-256 over node keys and forward edges, to tie a checkpoint to its graph."""
        digest = hashlib.sha256()
        for node_type in sorted(self.node_keys):
            digest.update(node_type.encode())
            for key in self.node_keys[node_type]:
                digest.update(key.encode() + b"\0")
        for edge_type in sorted(self.edge_types()):
            digest.update("|".join(edge_type).encode())
            digest.update(self.data[edge_type].edge_index.numpy().tobytes())
        return digest.hexdigest()


def check_scope(schema: GraphSchema, classes: list[str], relationship_types: list[str]) -> None:
    """Raise UnknownTermError or QueryError unless every class and type is allowlisted and exportable."""
    if not classes:
        raise QueryError("no classes given to export; name at least one ontology class, for example Equipment")
    for name in classes:
        schema.label(name)
    for name in relationship_types:
        if name.startswith(PREDICTED_PREFIX):
            raise QueryError(f"relationship type {name!r} contains predictions, not asserted facts, so it cannot be "
                             "a training edge; leave it out of the export")
        schema.relationship(name)


def export_graph(store: GraphStore, schema: GraphSchema, classes: list[str], relationship_types: list[str], *,
                 settings: Settings, text_encoder: "TextEncoder | str | None" = None,
                 batch_size: int | None = None, scope: KeyScope | None = None) -> ExportedGraph:
    """Read the nodes of `classes` and the relationships of `relationship_types` between them.

    `text_encoder` is an encoder, an encoder name (`auto`, `e5`, `minilm`, `hashing`) or None for `auto`.
    With a `scope`, only the nodes of that data set are read, and so only relationships between them.
    """
    import torch
    from torch_geometric.data import HeteroData

    from kg_service.gnn.text_features import load_encoder
    from kg_service.gnn.train import resolve_device

    classes = list(dict.fromkeys(classes))
    relationship_types = list(dict.fromkeys(relationship_types))
    check_scope(schema, classes, relationship_types)
    batch_size = batch_size or settings.batch_size
    if text_encoder is None or isinstance(text_encoder, str):
        encoder = load_encoder(text_encoder or "auto", device=str(resolve_device(settings.device)),
                               cache_dir=settings.cache_dir)
    else:
        encoder = text_encoder

    nodes = _read_nodes(store, schema, classes, batch_size)
    if scope is not None:
        nodes = _restrict_to_scope(store, nodes, relationship_types, scope, batch_size)
    node_keys = {kind: [row["key"] for row in rows] for kind, rows in nodes.items()}
    element_ids = {kind: [row["element_id"] for row in rows] for kind, rows in nodes.items()}
    type_of = {row["key"]: (kind, i) for kind, rows in nodes.items() for i, row in enumerate(rows)}

    data = HeteroData()
    numeric_names: dict[str, list[str]] = {}
    for kind, rows in nodes.items():
        texts = [_node_text(row["props"]) for row in rows]
        text_matrix = encoder.encode(texts)
        numeric, numeric_names[kind] = _numeric_features(rows)
        data[kind].x = torch.cat([text_matrix, numeric], dim=1)
        data[kind].num_nodes = len(rows)

    all_keys = [key for kind_keys in node_keys.values() for key in kind_keys]
    for rel_type in relationship_types:
        pairs = _read_edges(store, rel_type, all_keys, batch_size)
        grouped: dict[EdgeType, list[tuple[int, int]]] = defaultdict(list)
        for start, end in pairs:
            if start in type_of and end in type_of:
                (start_type, start_index), (end_type, end_index) = type_of[start], type_of[end]
                grouped[(start_type, rel_type, end_type)].append((start_index, end_index))
        for (start_type, _, end_type), index_pairs in sorted(grouped.items()):
            edge_index = torch.tensor(sorted(set(index_pairs)), dtype=torch.long).t().contiguous()
            data[start_type, rel_type, end_type].edge_index = edge_index
            data[end_type, REVERSE_PREFIX + rel_type, start_type].edge_index = edge_index.flip(0)

    exported = ExportedGraph(data=data, node_keys=node_keys, element_ids=element_ids, classes=classes,
                             relationship_types=relationship_types, numeric_features=numeric_names,
                             text_encoder=encoder.name)
    logger.info("exported %d nodes of %d types and %d edges of %d types (text features: %s)",
                sum(len(keys) for keys in node_keys.values()), len(node_keys),
                sum(data[edge_type].num_edges for edge_type in exported.edge_types()), len(exported.edge_types()),
                encoder.name)
    return exported


def _most_specific(schema: GraphSchema, labels: list[str], classes: list[str]) -> str | None:
    in_scope = [label for label in labels if label in classes]
    if not in_scope:
        return None
    return max(in_scope, key=lambda label: (len(schema.ancestors(label)), -classes.index(label)))


def _read_nodes(store: GraphStore, schema: GraphSchema, classes: list[str],
                batch_size: int) -> dict[str, list[dict[str, Any]]]:
    """Read every node with one of `classes`, in key order, `batch_size` nodes per transaction."""
    label_test = " OR ".join(f"n:{quote(name, 'label')}" for name in classes)
    query = (f"MATCH (n:{quote(ENTITY_LABEL)}) WHERE n.id > $after AND ({label_test}) "
             "RETURN n.id AS key, elementId(n) AS element_id, labels(n) AS labels, properties(n) AS props "
             "ORDER BY n.id LIMIT $limit")
    nodes: dict[str, list[dict[str, Any]]] = {name: [] for name in classes}
    after = ""
    while True:
        rows = store.read(query, {"after": after, "limit": batch_size})
        for row in rows:
            kind = _most_specific(schema, row["labels"], classes)
            if kind is not None:
                nodes[kind].append(row)
        if len(rows) < batch_size:
            break
        after = rows[-1]["key"]
    return {kind: rows for kind, rows in nodes.items() if rows}


def _restrict_to_scope(store: GraphStore, nodes: dict[str, list[dict[str, Any]]], relationship_types: list[str],
                       scope: KeyScope, batch_size: int) -> dict[str, list[dict[str, Any]]]:
    """Keep the nodes that `scope` owns and the shared nodes that relationships lead to from them."""
    kept = {row["key"] for rows in nodes.values() for row in rows if scope.owns(row["key"])}
    shared = {row["key"] for kind in scope.shared_classes for row in nodes.get(kind, [])} - kept
    frontier = sorted(kept)
    while frontier and shared:
        reached = {end for rel_type in relationship_types
                   for _, end in _read_edges(store, rel_type, frontier, batch_size) if end in shared}
        kept |= reached
        shared -= reached
        frontier = sorted(reached)

    restricted = {kind: [row for row in rows if row["key"] in kept] for kind, rows in nodes.items()}
    left_out = sum(len(rows) for rows in nodes.values()) - len(kept)
    if left_out:
        logger.info("export of %s: left out %d nodes of other sources", scope.name, left_out)
    return {kind: rows for kind, rows in restricted.items() if rows}


def _read_edges(store: GraphStore, rel_type: str, keys: list[str], batch_size: int) -> list[tuple[str, str]]:
    """Read the (start key, end key) pairs of `rel_type` whose start node has one of `keys`."""
    query = (f"UNWIND $keys AS key MATCH (a:{quote(ENTITY_LABEL)} {{id: key}})"
             f"-[:{quote(rel_type, 'relationship type')}]->(b:{quote(ENTITY_LABEL)}) "
             "RETURN a.id AS start, b.id AS end")
    pairs: list[tuple[str, str]] = []
    for start in range(0, len(keys), batch_size):
        rows = store.read(query, {"keys": keys[start:start + batch_size]})
        pairs.extend((row["start"], row["end"]) for row in rows)
    return pairs


def _node_text(props: dict[str, Any]) -> str:
    parts: list[str] = []
    for name in TEXT_PROPERTIES:
        value = props.get(name)
        if isinstance(value, str) and value.strip() and value.strip() not in parts:
            parts.append(value.strip()[:MAX_TEXT_CHARACTERS])
    return " | ".join(parts) or str(props.get("id", ""))


def _numeric_features(rows: list[dict[str, Any]]) -> tuple["Any", list[str]]:
    """Return the standardised numeric properties of `rows` (missing values at the mean) and their names."""
    import torch

    names = sorted({name for row in rows for name, value in row["props"].items()
                    if _is_number(value) and name not in EXCLUDED_PROPERTIES})
    kept: list[str] = []
    columns = []
    for column, name in enumerate(names):
        values = [float(row["props"][name]) if _is_number(row["props"].get(name)) else math.nan for row in rows]
        present = torch.tensor([value for value in values if not math.isnan(value)])
        std = present.std(unbiased=False).item() if len(present) > 1 else 0.0
        if std == 0.0 or not math.isfinite(std):
            continue
        mean = present.mean().item()
        columns.append(torch.tensor([0.0 if math.isnan(value) else (value - mean) / std for value in values]))
        kept.append(name)
    if columns:
        matrix = torch.stack(columns, dim=1)
    else:
        matrix = torch.zeros(len(rows), 0)
    return matrix, kept


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(float(value))
