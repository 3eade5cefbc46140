"""The ontology classes and relationship types that one extraction may produce.

`ExtractionScope.from_schema(schema)` takes the allowlist (`GraphSchema`) for names, hierarchy,
domain and range, and the parsed ontology (`OntologyModel`) for labels, definitions and
`skos:altLabel` aliases in English and Chinese. Without an explicit ontology model the core
ontology file is parsed once and cached.

Classes that kg-service uses for its own bookkeeping (Entity, Document, Chunk and the
ontology labels) are never in scope, so a model answer cannot create nodes with those labels.
"""

from __future__ import annotations

import difflib
import functools
import logging
import re
import unicodedata
from dataclasses import dataclass, field

from kg_service.errors import UnknownTermError
from kg_service.ontology.model import RESERVED_LABELS, OntologyModel
from kg_service.ontology.schema import ENTITY_LABEL, GraphSchema

logger = logging.getLogger(__name__)

INTERNAL_LABELS = frozenset({ENTITY_LABEL, "Document", "Chunk"}) | RESERVED_LABELS
INTERNAL_RELATIONSHIP_TYPES = frozenset({"HAS_CHUNK", "MENTIONS", "DOCUMENTED_IN"})
PREDICTED_PREFIX = "PREDICTED_"

# Classes that maintenance texts (work orders, logs, manuals) name; used when no classes are given.
DEFAULT_CLASSES = ("Equipment", "System", "Component", "Sensor", "Signal", "Part", "Material", "Supplier",
                   "FailureEvent", "Alarm", "Observation", "Symptom", "FailureMode", "FailureMechanism",
                   "FailureCause", "MaintenanceAction")


@dataclass(frozen=True)
class ScopeClass:
    """One ontology class that extraction may assign, with its labels, definitions and aliases."""

    name: str
    labels: dict[str, str] = field(default_factory=dict)
    definitions: dict[str, str] = field(default_factory=dict)
    aliases: dict[str, list[str]] = field(default_factory=dict)


@dataclass(frozen=True)
class ScopeRelationship:
    """One relationship type that extraction may assign, with its domain and range classes."""

    type: str
    domain: str | None
    range: str | None
    labels: dict[str, str] = field(default_factory=dict)
    definitions: dict[str, str] = field(default_factory=dict)


@dataclass
class ExtractionScope:
    """Classes and relationship types in scope, with the schema used for domain and range checks.

    Build it with `ExtractionScope.from_schema(schema, classes=None, relationship_types=None)`:
    `classes` defaults to `DEFAULT_CLASSES` (those the schema has), `relationship_types` to every
    non-internal type whose domain and range each cover at least one class in scope.
    """

    schema: GraphSchema
    classes: dict[str, ScopeClass]
    relationships: dict[str, ScopeRelationship]
    _type_names: dict[str, str] = field(default_factory=dict, repr=False)

    @classmethod
    def from_schema(cls, schema: GraphSchema, classes: list[str] | tuple[str, ...] | None = None,
                    relationship_types: list[str] | tuple[str, ...] | None = None,
                    ontology: OntologyModel | None = None) -> "ExtractionScope":
        """Select classes and relationship types from `schema`; raise UnknownTermError for unknown or internal names."""
        ontology = ontology or core_ontology()
        class_meta = {mapping.label: mapping for mapping in ontology.classes.values()}
        relationship_meta = {rel.type: rel for rel in ontology.relationships.values()}

        if classes is None:
            names = [name for name in DEFAULT_CLASSES if name in schema.parents]
        else:
            names = list(dict.fromkeys(classes))
        selected: dict[str, ScopeClass] = {}
        for name in names:
            schema.label(name)
            if name in INTERNAL_LABELS:
                raise UnknownTermError(f"class {name!r} is internal to kg-service and cannot be extracted; "
                                       "choose domain classes such as Equipment or FailureMode")
            meta = class_meta.get(name)
            selected[name] = ScopeClass(name=name,
                                        labels=dict(meta.labels) if meta else {},
                                        definitions=dict(meta.definitions) if meta else {},
                                        aliases={lang: list(values) for lang, values in meta.alt_labels.items()}
                                        if meta else {})
        if not selected:
            raise UnknownTermError("the extraction scope has no classes; load the core ontology or pass classes")

        if relationship_types is None:
            # Predicted link types hold model predictions, never facts read from a text.
            types = [rule.type for rule in schema.relationships.values()
                     if rule.type not in INTERNAL_RELATIONSHIP_TYPES and not rule.type.startswith(PREDICTED_PREFIX)
                     and _covers(schema, rule.domain, selected) and _covers(schema, rule.range, selected)]
        else:
            types = list(dict.fromkeys(relationship_types))
        relationships: dict[str, ScopeRelationship] = {}
        for type_ in sorted(types):
            rule = schema.relationship(type_)
            if type_ in INTERNAL_RELATIONSHIP_TYPES or type_.startswith(PREDICTED_PREFIX):
                raise UnknownTermError(f"relationship type {type_!r} is internal to kg-service or contains model "
                                       "predictions, so it cannot be extracted; choose domain relationship types "
                                       "such as PART_OF")
            meta = relationship_meta.get(type_)
            relationships[type_] = ScopeRelationship(type=type_, domain=rule.domain, range=rule.range,
                                                     labels=dict(meta.labels) if meta else {},
                                                     definitions=dict(meta.definitions) if meta else {})
        scope = cls(schema=schema, classes=selected, relationships=relationships)
        scope._type_names = scope._build_type_names()
        return scope

    def _build_type_names(self) -> dict[str, str]:
        names: dict[str, str] = {}
        for scope_class in self.classes.values():
            candidates = [scope_class.name, *scope_class.labels.values()]
            for values in scope_class.aliases.values():
                candidates.extend(values)
            for candidate in candidates:
                names.setdefault(type_key(candidate), scope_class.name)
        return names

    def resolve_class(self, type_name: str) -> tuple[str | None, str]:
        """Map a type name from a model answer to a class in scope; return (class or None, match kind)."""
        if type_name in self.classes:
            return type_name, "exact"
        key = type_key(type_name)
        if key in self._type_names:
            return self._type_names[key], "label or alias"
        return None, "no class in scope has this name, label or alias"

    def closest_class(self, type_name: str, cutoff: float) -> str | None:
        """Return the class whose name, label or alias is most similar to `type_name` (difflib ratio >= cutoff)."""
        close = difflib.get_close_matches(type_key(type_name), list(self._type_names), n=1, cutoff=cutoff)
        return self._type_names[close[0]] if close else None

    def resolve_relationship(self, type_name: str) -> str | None:
        """Map a relationship type from a model answer (PART_OF, partOf, "part of") to one in scope."""
        if type_name in self.relationships:
            return type_name
        snake = re.sub(r"(?<=[a-z0-9])(?=[A-Z])", "_", type_name.strip())
        snake = re.sub(r"[\s\-]+", "_", snake).upper()
        if snake in self.relationships:
            return snake
        key = type_key(type_name)
        for rel in self.relationships.values():
            if any(type_key(label) == key for label in rel.labels.values()):
                return rel.type
        return None

    def fits(self, type_: str, source_class: str, target_class: str) -> bool:
        """True when a relationship of `type_` may join `source_class` to `target_class`."""
        rel = self.relationships[type_]
        if rel.domain and not self.schema.is_a(source_class, rel.domain):
            return False
        return not (rel.range and not self.schema.is_a(target_class, rel.range))


def type_key(text: str) -> str:
    """Return a comparison key for a type name: NFKC, case-folded, without spaces, '_' and '-'."""
    normalized = unicodedata.normalize("NFKC", text).casefold()
    return re.sub(r"[\s_\-]+", "", normalized)


def _covers(schema: GraphSchema, target: str | None, selected: dict[str, ScopeClass]) -> bool:
    """True when `target` is unset or some class in scope is `target` or one of its subclasses."""
    if target is None:
        return True
    return any(schema.is_a(name, target) for name in selected)


@functools.lru_cache(maxsize=1)
def core_ontology() -> OntologyModel:
    """Parse the core ontology file once; it supplies labels and definitions for prompts."""
    from kg_service.ingest import CORE_ONTOLOGY_FILE
    from kg_service.ontology.parsing import parse_ontology_file

    return OntologyModel.from_graph(parse_ontology_file(CORE_ONTOLOGY_FILE))


@functools.lru_cache(maxsize=1)
def core_schema() -> GraphSchema:
    """Return the allowlist of the core ontology file, for extraction without a Neo4j connection."""
    return GraphSchema.from_models([core_ontology()])
