"""The allowlist of labels, relationship types and property names that may reach Cypher.

A `GraphSchema` is built from the ontologies stored in Neo4j (what `kg-service ontology load`
wrote) or straight from parsed ontology models. Every loader, query and API call that needs a
label, type or property name checks it here first; anything else is rejected with UnknownTermError.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from kg_service.errors import UnknownTermError
from kg_service.graph.identifiers import check_identifier

if TYPE_CHECKING:
    from kg_service.graph.store import GraphStore
    from kg_service.ontology.model import OntologyModel

ENTITY_LABEL = "Entity"


@dataclass(frozen=True)
class RelationshipRule:
    type: str
    domain: str | None
    range: str | None


@dataclass
class GraphSchema:
    """Labels with their ancestor labels, relationship types with domain and range, property names."""

    parents: dict[str, set[str]] = field(default_factory=dict)
    relationships: dict[str, RelationshipRule] = field(default_factory=dict)
    properties: set[str] = field(default_factory=set)
    deprecated: set[str] = field(default_factory=set)
    # Orders already computed by `most_specific_first`. NOTE: the schema is complete once built
    # (from_models, from_store); a change to `parents` after a first call would not reach it.
    _orders: dict[tuple[str, ...], list[str]] = field(default_factory=dict, repr=False, compare=False)

    @classmethod
    def from_models(cls, models: list["OntologyModel"]) -> "GraphSchema":
        schema = cls()
        for model in models:
            label_of = {iri: mapping.label for iri, mapping in model.classes.items()}
            for mapping in model.classes.values():
                schema.parents.setdefault(mapping.label, set()).update(
                    label_of[parent] for parent in mapping.parents if parent in label_of)
                if mapping.deprecated:
                    schema.deprecated.add(mapping.label)
            for rel in model.relationships.values():
                schema.relationships[rel.type] = RelationshipRule(rel.type, label_of.get(rel.domain or ""),
                                                                  label_of.get(rel.range or ""))
            schema.properties.update(prop.name for prop in model.properties.values())
        return schema

    @classmethod
    def from_store(cls, store: "GraphStore") -> "GraphSchema":
        """Read the schema of every ontology stored in Neo4j."""
        schema = cls()
        rows = store.read(
            "MATCH (c:OntologyClass) "
            "OPTIONAL MATCH (c)-[:SUBCLASS_OF]->(p:OntologyClass) "
            "RETURN c.nodeLabel AS label, c.deprecated AS deprecated, collect(DISTINCT p.nodeLabel) AS parents")
        for row in rows:
            schema.parents.setdefault(row["label"], set()).update(row["parents"])
            if row["deprecated"]:
                schema.deprecated.add(row["label"])
        rows = store.read(
            "MATCH (p:OntologyProperty) "
            "OPTIONAL MATCH (p)-[:DOMAIN]->(d:OntologyClass) OPTIONAL MATCH (p)-[:RANGE]->(r:OntologyClass) "
            "RETURN p.kind AS kind, p.relationshipType AS type, p.propertyName AS name, "
            "head(collect(d.nodeLabel)) AS domain, head(collect(r.nodeLabel)) AS range")
        for row in rows:
            if row["kind"] == "object":
                schema.relationships[row["type"]] = RelationshipRule(row["type"], row["domain"], row["range"])
            elif row["kind"] == "datatype":
                schema.properties.add(row["name"])
        return schema

    @property
    def is_empty(self) -> bool:
        return not self.parents

    def ancestors(self, label: str) -> list[str]:
        """Return `label` and every superclass label, nearest first, without duplicates."""
        self.label(label)
        seen: list[str] = []
        frontier = [label]
        while frontier:
            current = frontier.pop(0)
            if current in seen:
                continue
            seen.append(current)
            frontier.extend(sorted(self.parents.get(current, ())))
        return seen

    def most_specific_first(self, labels: list[str]) -> list[str]:
        """Return node labels ordered by depth in the class hierarchy, deepest first, `Entity` last among equals.

        Labels that are not classes of the ontology count as depth 0; ties go alphabetically.
        """
        key = tuple(labels)
        order = self._orders.get(key)
        if order is None:
            def depth(label: str) -> int:
                return len(self.ancestors(label)) if label in self.parents else 0

            order = sorted(labels, key=lambda label: (-depth(label), label != "Entity", label))
            self._orders[key] = order
        return list(order)

    def is_a(self, label: str, ancestor: str) -> bool:
        return ancestor in self.ancestors(label)

    def label(self, name: str) -> str:
        """Return `name` when it is a node label of the ontology, else raise UnknownTermError."""
        check_identifier(name, "label")
        if name not in self.parents:
            raise UnknownTermError(f"label {name!r} is not a class of the loaded ontology; "
                                   "load an ontology that declares it ('kg-service ontology load FILE')")
        return name

    def relationship(self, name: str) -> RelationshipRule:
        check_identifier(name, "relationship type")
        try:
            return self.relationships[name]
        except KeyError:
            raise UnknownTermError(f"relationship type {name!r} is not an object property of the loaded ontology; "
                                   "load an ontology that declares it ('kg-service ontology load FILE')") from None

    def property(self, name: str) -> str:
        check_identifier(name, "property name")
        if name != "id" and name not in self.properties:
            raise UnknownTermError(f"property {name!r} is not a datatype property of the loaded ontology; "
                                   "load an ontology that declares it ('kg-service ontology load FILE')")
        return name

    def check_relationship(self, type_: str, start_label: str, end_label: str) -> None:
        """Raise UnknownTermError when a relationship of `type_` may not join these two classes."""
        rule = self.relationship(type_)
        if rule.domain and not self.is_a(start_label, rule.domain):
            raise UnknownTermError(f"relationship {type_} must start at {rule.domain}, not at {start_label}")
        if rule.range and not self.is_a(end_label, rule.range):
            raise UnknownTermError(f"relationship {type_} must end at {rule.range}, not at {end_label}")
