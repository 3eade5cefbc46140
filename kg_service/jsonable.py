"""Convert Neo4j result values (nodes, relationships, paths, temporal types) to JSON-ready values."""

from __future__ import annotations

from typing import Any

from neo4j.graph import Node, Path, Relationship


def to_jsonable(value: Any) -> Any:
    if isinstance(value, Node):
        return {"labels": sorted(value.labels), "properties": to_jsonable(dict(value))}
    if isinstance(value, Relationship):
        return {"type": value.type, "start": value.start_node.get("id") if value.start_node else None,
                "end": value.end_node.get("id") if value.end_node else None, "properties": to_jsonable(dict(value))}
    if isinstance(value, Path):
        return {"nodes": [to_jsonable(node) for node in value.nodes],
                "relationships": [to_jsonable(rel) for rel in value.relationships]}
    if isinstance(value, dict):
        return {key: to_jsonable(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [to_jsonable(item) for item in value]
    if hasattr(value, "iso_format"):
        return value.iso_format()
    if isinstance(value, (str, int, float, bool)) or value is None:
        return value
    return str(value)
