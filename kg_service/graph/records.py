"""Graph records: what loaders produce and the writer stores. Keys are stable across runs."""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass, field
from typing import Any

PropertyValue = Any


@dataclass(frozen=True)
class NodeRecord:
    """One node: its ontology class label, its stable key and its properties."""

    label: str
    id: str
    properties: dict[str, PropertyValue] = field(default_factory=dict, hash=False, compare=False)


@dataclass(frozen=True)
class RelationshipRecord:
    """One relationship between two nodes given by class label and key."""

    type: str
    start_label: str
    start_id: str
    end_label: str
    end_id: str
    properties: dict[str, PropertyValue] = field(default_factory=dict, hash=False, compare=False)


@dataclass
class GraphBatch:
    """The nodes and relationships that one source file yields, deduplicated by key."""

    nodes: dict[str, NodeRecord] = field(default_factory=dict)
    relationships: dict[tuple[str, str, str], RelationshipRecord] = field(default_factory=dict)

    def add_node(self, label: str, key: str, **properties: PropertyValue) -> str:
        """Add a node or merge properties into the one with the same key; return the key."""
        clean = {name: value for name, value in properties.items() if value is not None}
        existing = self.nodes.get(key)
        if existing is not None:
            existing.properties.update(clean)
        else:
            self.nodes[key] = NodeRecord(label, key, clean)
        return key

    def add_relationship(self, type_: str, start: str, end: str, **properties: PropertyValue) -> None:
        start_node, end_node = self.nodes[start], self.nodes[end]
        clean = {name: value for name, value in properties.items() if value is not None}
        self.relationships[(start, type_, end)] = RelationshipRecord(
            type_, start_node.label, start, end_node.label, end, clean)


def slug(text: str) -> str:
    """Return a key fragment for a name: NFKC, lower case, runs of non-word characters as '-'.

    Chinese and other non-Latin letters are kept, so '液压泵' and 'Hydraulic Pump' both give
    readable, distinct keys.
    """
    normalized = unicodedata.normalize("NFKC", text).strip().lower()
    return re.sub(r"[^\w]+", "-", normalized).strip("-") or "_"
