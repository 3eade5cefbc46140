"""Edit a stored ontology safely: validate, report the impact, apply in one transaction, log the change.

Every operation works the same way:

1. export the stored ontology to an rdflib graph and apply the edit to that graph;
2. map the edited graph with `OntologyModel` and validate it (names, IRIs, labels, dangling
   domain or range, subclass cycles, collisions with other labels and relationship types);
3. count the instance nodes and relationships that the edit affects;
4. unless `preview`, rewrite the ontology's term nodes from the edited graph, migrate instance
   labels, relationship types or property names in batches, bump `owl:versionInfo` and create an
   `OntologyChange` node, all in one write transaction.

Because the term nodes are rebuilt from the edited graph, their `statements` and typed properties
always agree and `kg-service ontology export` round-trips.

Deprecation is advisory: `owl:deprecated true` is stored and shown by the API, but the batched
writer still accepts new instances of a deprecated class, so running loaders keep working while
their mappings move to the replacement term.
"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass, field
from importlib import resources
from typing import Any

from rdflib import BNode, Graph, Literal, URIRef
from rdflib.namespace import OWL, RDF, RDFS, SKOS, XSD
from rdflib.term import Node

from kg_service.config import find_project_root
from kg_service.errors import NotFoundError, OntologyConflictError, OntologyError, UnknownTermError
from kg_service.graph.identifiers import check_identifier, quote
from kg_service.graph.store import GraphStore
from kg_service.ontology.model import (KG, KG_ONTOLOGY_IRI, LANGUAGES, RESERVED_LABELS, SYSTEM_PROPERTIES,
                                       OntologyModel, local_name, relationship_type_for)
from kg_service.ontology.schema import ENTITY_LABEL
from kg_service.ontology.parsing import parse_ontology_file
from kg_service.ontology.protected import features_using
from kg_service.ontology.storage import ensure_schema, export_ontology, replace_ontology_terms, stored_ontologies
from kg_service.ontology.suggestions import did_you_mean
from kg_service.reasoning.lookup import shorten

logger = logging.getLogger(__name__)

SHAPES_ONTOLOGY_IRI = "https://w3id.org/kg-service/shapes"
DEFAULT_SHAPES_FILE = find_project_root() / "ontology" / "shapes.ttl"
SH = "http://www.w3.org/ns/shacl#"
MIGRATION_BATCH_SIZE = 10_000
MAX_TEXT_LENGTH = 2000
# An error about an unknown ontology IRI lists at most this many stored IRIs.
MAX_LISTED_ONTOLOGIES = 5
# New class and property names become node labels, relationship types and property names. They are
# plain ASCII because a letter from another script (Cyrillic Е) would make a name that looks like an
# existing one. Names in other scripts belong in rdfs:label.
_NEW_NAME = re.compile(r"[A-Za-z][A-Za-z0-9_]*")
# Ranges that a new datatype property may take. Each maps to a Neo4j property type.
XSD_DATATYPES = ("string", "boolean", "integer", "decimal", "double", "float", "date", "dateTime", "time",
                 "duration", "anyURI")
PROPERTY_KINDS = ("object", "datatype")
CHANGE_LOG_SCHEMA = ["CREATE CONSTRAINT ontology_change_version IF NOT EXISTS FOR (c:OntologyChange) "
                     "REQUIRE (c.ontology, c.version) IS UNIQUE"]


@dataclass
class Impact:
    """Instance data that an edit touches, counted before it is applied."""

    nodes: int = 0
    relationships: int = 0
    violations: int = 0
    shapes: int = 0
    description: str = ""


@dataclass
class Migration:
    """A rename of instance data: a node label, a relationship type or a property name."""

    kind: str
    old: str
    new: str


@dataclass
class EditResult:
    """Outcome of one edit: its impact, and with `applied` the change-log version and inverse."""

    operation: str
    ontology: str
    term: str | None
    applied: bool
    impact: Impact
    version: int | None = None
    ontology_version: str | None = None
    inverse: dict[str, Any] | None = None

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class EditPlan:
    """The edited graph and what applying it involves."""

    graph: Graph
    term: str | None
    impact: Impact
    migrations: list[Migration] = field(default_factory=list)
    inverse: dict[str, Any] | None = None
    # (old IRI, new IRI) of a renamed term, whose references in the stored shapes are rewritten too.
    shape_rename: tuple[str, str] | None = None
    # The shapes graph and its change-log version as loaded to count the shapes, so it is read once.
    shapes: tuple[Graph, int] | None = None
    # True when the edit would not change the ontology, so nothing is written or logged.
    unchanged: bool = False


@dataclass
class ShapeRewrite:
    """The shapes graph after a rename, written in the same transaction as the renamed ontology."""

    model: OntologyModel
    expected_version: int
    change: dict[str, Any]


@dataclass
class ChangeRecord:
    """One `OntologyChange` node of the change log."""

    ontology: str
    version: int
    author: str
    at: str
    operation: str
    arguments: dict[str, Any]
    why: str
    nodes: int
    relationships: int
    violations: int
    ontology_version: str | None
    inverse: dict[str, Any] | None
    # The author that the client named when the API logged its credential's name as `author` instead.
    author_note: str | None = None


@dataclass
class DataChange:
    """A logged rename that changed more than the ontology: instance data, stored shapes or both.

    Reloading the ontology from a file restores the old term but not the data or the shapes, so
    such a change has to be undone with its inverse before a replace.
    """

    record: ChangeRecord
    old_name: str
    new_iri: str
    # Effects outside the ontology, one phrase each ("moved 2 instance nodes to the new name").
    effects: list[str]
    # True when the renamed term is still in the stored ontology but not in the replacement, so a
    # replace would leave its data and shapes pointing at a term that no longer exists.
    stale: bool

    def undo_call(self) -> str:
        """Return the GraphQL call that undoes the change, from the change log's inverse."""
        arguments = self.record.inverse["arguments"] if self.record.inverse else {}
        call = f'renameTerm(term: "{local_name(self.new_iri)}", newName: "{self.old_name}", migrate: true'
        relationship_type = arguments.get("relationship_type")
        if relationship_type:
            call += f', relationshipType: "{relationship_type}"'
        return call + ")"

    def describe(self) -> str:
        """Return one line: version, operation, old and new name, author and effects."""
        return (f"change {self.record.version} (renameTerm {self.old_name} -> {local_name(self.new_iri)} by "
                f"{self.record.author}): {'; '.join(self.effects)}")


class OntologyEditor:
    """Validate, preview and apply edits to one stored ontology.

    Usage::

        editor = OntologyEditor(store)
        result = editor.relabel_term("Equipment", {"zh": "装备"}, why="plant wording", author="li.wei")
    """

    def __init__(self, store: GraphStore, ontology_iri: str = KG_ONTOLOGY_IRI,
                 batch_size: int = MIGRATION_BATCH_SIZE, author_note: str | None = None) -> None:
        self.store = store
        self.ontology_iri = ontology_iri
        self.batch_size = batch_size
        # Logged beside `author` as `authorNote` (see ChangeRecord.author_note).
        self.author_note = author_note

    # operations

    def add_class(self, name: str, parent: str, labels: dict[str, str], definitions: dict[str, str], *,
                  why: str, author: str, preview: bool = False) -> EditResult:
        """Add a class named `name` in the ontology's namespace under `parent`."""
        arguments = {"name": name, "parent": parent, "labels": labels, "definitions": definitions}

        def plan(graph: Graph, model: OntologyModel) -> EditPlan:
            check_local_name(name, "class name")
            check_texts(labels, "label", required=True)
            check_texts(definitions, "definition", required=True)
            parent_iri = self._resolve(model, parent, kinds=("class",), role="parent")
            iri = namespace_of(model) + name
            if (URIRef(iri), None, None) in graph:
                raise OntologyError(f"class name {name!r}: the IRI {iri} is already used in {model.iri}; "
                                    "choose another name")
            self._check_free_label(name)
            self._check_no_case_variant(model, name)
            self._check_unique_texts(model, labels, exclude=None)
            subject = URIRef(iri)
            graph.add((subject, RDF.type, OWL.Class))
            graph.add((subject, RDFS.subClassOf, URIRef(parent_iri)))
            for language, text in labels.items():
                graph.add((subject, RDFS.label, Literal(text.strip(), lang=language)))
            for language, text in definitions.items():
                graph.add((subject, SKOS.definition, Literal(text.strip(), lang=language)))
            # NOTE: there is no delete operation yet, so an added class has no inverse.
            return EditPlan(graph, iri, Impact(description=f"adds class {name} under {local_name(parent_iri)}"))

        return self._run("addClass", arguments, plan, why, author, preview)

    def add_property(self, name: str, kind: str, domain: str, range_: str, labels: dict[str, str],
                     definitions: dict[str, str], *, why: str, author: str, preview: bool = False) -> EditResult:
        """Add an object or datatype property named `name` in the ontology's namespace.

        An object property ("object") links instances of the class `domain` to instances of the
        class `range_`, and its relationship type follows from `name` as for loaded ontologies
        (drivesPump -> DRIVES_PUMP). A datatype property ("datatype") becomes the node property
        `name` on instances of `domain`, and `range_` is one of XSD_DATATYPES (xsd:decimal or its full IRI).
        """
        arguments = {"name": name, "kind": kind, "domain": domain, "range": range_, "labels": labels,
                     "definitions": definitions}

        def plan(graph: Graph, model: OntologyModel) -> EditPlan:
            if kind not in PROPERTY_KINDS:
                raise OntologyError(f"property kind {shorten(kind)} is invalid; use 'object' for a relationship "
                                    "between classes or 'datatype' for a value such as xsd:string")
            check_local_name(name, "property name")
            check_texts(labels, "label", required=True)
            check_texts(definitions, "definition", required=True)
            domain_iri = self._resolve(model, domain, kinds=("class",), role="domain")
            if kind == "object":
                range_iri = self._resolve(model, range_, kinds=("class",), role="range")
                rel_type = relationship_type_for(name)
            else:
                range_iri = xsd_datatype(range_)
                rel_type = None
            iri = namespace_of(model) + name
            if (URIRef(iri), None, None) in graph:
                raise OntologyError(f"property name {name!r}: the IRI {iri} is already used in {model.iri}; "
                                    "choose another name")
            self._check_free_label(name)
            self._check_no_case_variant(model, name)
            self._check_free_property(name)
            self._check_free_type(rel_type or name)
            if rel_type is not None:
                self._check_type_no_case_variant(model, rel_type)
            self._check_unique_property_texts(model, labels)
            subject = URIRef(iri)
            graph.add((subject, RDF.type, OWL.ObjectProperty if kind == "object" else OWL.DatatypeProperty))
            graph.add((subject, RDFS.domain, URIRef(domain_iri)))
            graph.add((subject, RDFS.range, URIRef(range_iri)))
            for language, text in labels.items():
                graph.add((subject, RDFS.label, Literal(text.strip(), lang=language)))
            for language, text in definitions.items():
                graph.add((subject, SKOS.definition, Literal(text.strip(), lang=language)))
            if kind == "object":
                description = (f"adds object property {name} (relationship type {rel_type}) from "
                               f"{local_name(domain_iri)} to {local_name(range_iri)}")
            else:
                description = f"adds datatype property {name} ({range_iri}) on {local_name(domain_iri)}"
            # NOTE: there is no delete operation yet, so an added property has no inverse.
            return EditPlan(graph, iri, Impact(description=description))

        return self._run("addProperty", arguments, plan, why, author, preview)

    def rename_term(self, term: str, new_name: str, *, migrate: bool = False, relationship_type: str | None = None,
                    why: str, author: str, preview: bool = False) -> EditResult:
        """Rename a class or property: new IRI local name, so a new node label, relationship type or property name.

        An object property's new relationship type is `relationship_type`, by default derived from
        `new_name` (showsSymptom -> SHOWS_SYMPTOM). Instance data is migrated in the same
        transaction when `migrate` is true. Without it a rename of a term that has instances is rejected.
        """
        arguments = {"term": term, "new_name": new_name, "migrate": migrate, "relationship_type": relationship_type}

        def plan(graph: Graph, model: OntologyModel) -> EditPlan:
            check_local_name(new_name, "new name")
            iri = self._resolve(model, term, kinds=("class", "object", "datatype"))
            if relationship_type is not None:
                check_local_name(relationship_type, "relationship type")
                if iri not in model.relationships:
                    raise OntologyError(f"relationship_type applies to object properties only, and {term!r} is not one")
            current_type = model.relationships[iri].type if iri in model.relationships else None
            if new_name == local_name(iri) and relationship_type in (None, current_type):
                description = (f"new name {new_name!r} equals the current name of {iri}, so nothing would change "
                               "and nothing was written")
                return EditPlan(graph, iri, Impact(description=description), unchanged=True)
            _check_not_protected(model, iri)
            self._check_no_case_variant(model, new_name, exclude=iri)
            new_iri = iri[:len(iri) - len(local_name(iri))] + new_name
            # A new relationship type under the same name keeps the IRI, which is no clash.
            if new_iri != iri and (URIRef(new_iri), None, None) in graph:
                raise OntologyError(f"new name {new_name!r}: the IRI {new_iri} is already used in {model.iri}; "
                                    "choose another name")
            migration, impact = self._rename_migration(graph, model, iri, new_name, relationship_type)
            shapes = self._count_shapes(model, iri, impact)
            if (impact.nodes or impact.relationships) and not migrate and not preview:
                raise OntologyError(f"{term!r} has {count_of(impact.nodes, 'instance node')} and "
                                    f"{count_of(impact.relationships, 'relationship')}; pass migrate=true to "
                                    "rename them in the same change")
            _replace_iri(graph, URIRef(iri), URIRef(new_iri))
            inverse_arguments: dict[str, Any] = {"term": new_iri, "new_name": local_name(iri), "migrate": True}
            if iri in model.relationships:
                # An explicit annotation keeps the type exact even when it does not follow from the local name.
                graph.set((URIRef(new_iri), KG.relationshipType, Literal(migration.new)))
                inverse_arguments["relationship_type"] = migration.old
            inverse = {"operation": "renameTerm", "arguments": inverse_arguments}
            shape_rename = (iri, new_iri) if new_iri != iri else None
            return EditPlan(graph, new_iri, impact, [migration], inverse, shape_rename=shape_rename, shapes=shapes)

        return self._run("renameTerm", arguments, plan, why, author, preview)

    def relabel_term(self, term: str, labels: dict[str, str], *, why: str, author: str,
                     preview: bool = False) -> EditResult:
        """Replace the rdfs:label of a term in the given languages (en, zh)."""
        arguments = {"term": term, "labels": labels}

        def plan(graph: Graph, model: OntologyModel) -> EditPlan:
            check_texts(labels, "label", required=False)
            if not labels:
                raise OntologyError("labels missing: give a label in en, zh or both")
            iri = self._resolve(model, term, kinds=("class", "object", "datatype"))
            if iri in model.classes:
                self._check_unique_texts(model, labels, exclude=iri)
            else:
                self._check_unique_property_texts(model, labels, exclude=iri)
            old = _texts(graph, URIRef(iri), RDFS.label)
            for language, text in labels.items():
                _set_text(graph, URIRef(iri), RDFS.label, language, text.strip())
            inverse = {"operation": "relabelTerm",
                       "arguments": {"term": iri, "labels": {lang: old[lang] for lang in labels if lang in old}}}
            return EditPlan(graph, iri, Impact(description=f"relabels {local_name(iri)}"), [], inverse)

        return self._run("relabelTerm", arguments, plan, why, author, preview)

    def deprecate_term(self, term: str, *, deprecated: bool = True, why: str, author: str,
                       preview: bool = False) -> EditResult:
        """Set or clear owl:deprecated on a term; instances are kept and counted."""
        arguments = {"term": term, "deprecated": deprecated}

        def plan(graph: Graph, model: OntologyModel) -> EditPlan:
            iri = self._resolve(model, term, kinds=("class", "object", "datatype"))
            if deprecated:
                _check_not_protected(model, iri, action="deprecated")
            subject = URIRef(iri)
            if _is_deprecated(graph, subject) == deprecated:
                state = "already deprecated" if deprecated else "not deprecated"
                return EditPlan(graph, iri, Impact(description=f"{local_name(iri)} is {state}; nothing changed"),
                                unchanged=True)
            graph.remove((subject, OWL.deprecated, None))
            if deprecated:
                graph.add((subject, OWL.deprecated, Literal(True)))
            _, impact = self._rename_migration(graph, model, iri, local_name(iri))
            impact.description = f"{'deprecates' if deprecated else 'restores'} {local_name(iri)}; instances are kept"
            # Shapes keep referring to a deprecated term, so they are counted here but not rewritten.
            self._count_shapes(model, iri, impact)
            inverse = {"operation": "deprecateTerm", "arguments": {"term": iri, "deprecated": not deprecated}}
            return EditPlan(graph, iri, impact, [], inverse)

        return self._run("deprecateTerm", arguments, plan, why, author, preview)

    def set_domain_range(self, term: str, *, domain: str | None = None, range_: str | None = None, why: str,
                         author: str, preview: bool = False) -> EditResult:
        """Change the rdfs:domain and/or rdfs:range of an object property (range: a class of this ontology)."""
        arguments = {"term": term, "domain": domain, "range": range_}

        def plan(graph: Graph, model: OntologyModel) -> EditPlan:
            if domain is None and range_ is None:
                raise OntologyError("give a new domain, a new range or both")
            iri = self._resolve(model, term, kinds=("object", "datatype"))
            # The loaders and queries rely on the core properties' domains and ranges as much as on their names.
            _check_not_protected(model, iri, action="given a new domain or range")
            subject = URIRef(iri)
            old = {"domain": _single_iri(graph, subject, RDFS.domain), "range": _single_iri(graph, subject, RDFS.range)}
            if domain is not None:
                graph.set((subject, RDFS.domain, URIRef(self._resolve(model, domain, kinds=("class",),
                                                                       role="domain"))))
            if range_ is not None:
                if iri in model.properties:
                    raise OntologyError(f"{term!r} is a datatype property; its range is an XSD datatype, "
                                        "which this operation does not change")
                graph.set((subject, RDFS.range, URIRef(self._resolve(model, range_, kinds=("class",),
                                                                      role="range"))))
            impact = self._domain_range_impact(graph, model, iri)
            inverse = {"operation": "setDomainRange",
                       "arguments": {"term": iri, "domain": old["domain"] if domain is not None else None,
                                     "range": old["range"] if range_ is not None else None}}
            return EditPlan(graph, iri, impact, [], inverse)

        return self._run("setDomainRange", arguments, plan, why, author, preview)

    def move_class(self, term: str, parent: str, *, why: str, author: str, preview: bool = False) -> EditResult:
        """Replace the superclass of a class; rejected when it would create a cycle or when instances exist."""
        arguments = {"term": term, "parent": parent}

        def plan(graph: Graph, model: OntologyModel) -> EditPlan:
            iri = self._resolve(model, term, kinds=("class",))
            parent_iri = self._resolve(model, parent, kinds=("class",), role="parent")
            old_parents = sorted(str(value) for value in graph.objects(URIRef(iri), RDFS.subClassOf)
                                 if isinstance(value, URIRef))
            graph.remove((URIRef(iri), RDFS.subClassOf, None))
            graph.add((URIRef(iri), RDFS.subClassOf, URIRef(parent_iri)))
            impact = self._count_nodes(model.classes[iri].label)
            # NOTE: instances carry their ancestors' labels, and re-labelling them after a move is not
            # built yet, so a class with instances cannot be moved. A preview fails the same way.
            if impact.nodes:
                raise OntologyError(f"{term!r} has {count_of(impact.nodes, 'instance node')}, which carry its current "
                                    "superclasses as labels; moving a class with instances is not supported")
            impact.description = f"moves {local_name(iri)} under {local_name(parent_iri)}"
            inverse = ({"operation": "moveClass", "arguments": {"term": iri, "parent": old_parents[0]}}
                       if len(old_parents) == 1 else None)
            return EditPlan(graph, iri, impact, [], inverse)

        return self._run("moveClass", arguments, plan, why, author, preview)

    def upsert_shape(self, turtle: str, *, why: str, author: str, preview: bool = False) -> EditResult:
        """Add or replace SHACL shapes, given as Turtle, in the stored shapes graph.

        Each named sh:NodeShape or sh:PropertyShape in `turtle` replaces the stored statements of
        the shape with the same IRI, blank-node lists and nested shapes included.
        """
        arguments = {"turtle": turtle}
        shapes = parse_shape_turtle(turtle)
        check_shapes_graph(shapes)

        def plan(graph: Graph, model: OntologyModel) -> EditPlan:
            check_shape_references(shapes, self._known_class_iris(), self._known_property_iris())
            names = shape_subjects(shapes)
            previous = Graph()
            for name in names:
                for triple in _closure(graph, name):
                    previous.add(triple)
                    graph.remove(triple)
            for triple in shapes:
                graph.add(triple)
            for prefix, namespace in shapes.namespaces():
                graph.bind(prefix, namespace, override=False)
            # Queries are parsed after the merge, because sh:prefixes usually names the stored
            # shapes graph's own sh:declare entries.
            problems = shape_query_problems(graph, names)
            if problems:
                raise OntologyError("shape has an invalid SPARQL query, so pySHACL could not run it:\n- "
                                    + "\n- ".join(problems) + "\nfix the query and try again")
            inverse = ({"operation": "upsertShape", "arguments": {"turtle": previous.serialize(format="turtle")}}
                       if len(previous) else None)
            impact = Impact(description=f"upserts shapes {', '.join(str(name) for name in names)}")
            return EditPlan(graph, str(names[0]), impact, [], inverse)

        return self._run("upsertShape", arguments, plan, why, author, preview, ontology_iri=SHAPES_ONTOLOGY_IRI)

    # change log

    def history(self, term: str | None = None, first: int | None = None, after_version: int = 0) -> list[ChangeRecord]:
        """Return the ontology's change log in version order after `after_version`, at most `first` entries.

        With `term` (an IRI or name), only the changes that edited that term or name it as a term
        argument (term, name, new name, parent, domain, range, relationship type) are returned.
        Labels, definitions and reasons are text, not term keys, so they never match.
        """
        limit = " LIMIT $first" if first is not None and term is None else ""
        rows = self.store.read(
            "MATCH (c:OntologyChange {ontology: $iri}) WHERE c.version > $after "
            "RETURN c {.*, snapshot: null, baseline: null} AS c ORDER BY c.version" + limit,
            {"iri": self.ontology_iri, "after": after_version, "first": first})
        records = [(_change_record(row["c"]), row["c"].get("term")) for row in rows]
        if term is None:
            return [record for record, _ in records]
        keys = self._term_keys(term)
        matching = [record for record, edited in records
                    if edited in keys or any(isinstance(record.arguments.get(name), str)
                                             and record.arguments[name] in keys for name in TERM_ARGUMENTS)
                    or any(item in keys for item in _term_list(record.arguments, LIST_TERM_ARGUMENTS))]
        return matching[:first] if first is not None else matching

    def data_changes(self, after_version: int, replacement: Graph) -> list[DataChange]:
        """Return the renames logged after `after_version` that changed instance data or stored shapes, newest first.

        Only renameTerm writes outside the ontology. The other operations count the instances
        they affect but leave them as they are, so reloading the ontology undoes them completely.
        `replacement` is the graph that would replace the stored ontology. It decides `stale`.
        """
        current = export_ontology(self.store, self.ontology_iri)
        model = OntologyModel.from_graph(_copy(current), self.ontology_iri)
        changes = []
        for record in reversed(self.history(after_version=after_version)):
            if record.operation != "renameTerm" or record.inverse is None:
                continue
            new_iri = record.inverse["arguments"]["term"]
            effects = []
            if record.nodes or record.relationships:
                effects.append(f"moved {count_of(record.nodes, 'instance node')} and "
                               f"{count_of(record.relationships, 'relationship')} to the new name")
            rewritten = self._rewritten_shapes(new_iri)
            if rewritten:
                effects.append(f"rewrote the stored shapes {', '.join(local_name(name) for name in rewritten)}")
            in_use = self._current_usage(current, model, new_iri)
            if in_use.nodes or in_use.relationships:
                effects.append(f"{count_of(in_use.nodes, 'instance node')} and "
                               f"{count_of(in_use.relationships, 'relationship')} use {local_name(new_iri)} now")
            if not effects:
                continue
            stale = (URIRef(new_iri), None, None) in current and (URIRef(new_iri), None, None) not in replacement
            changes.append(DataChange(record, record.inverse["arguments"]["new_name"], new_iri, effects, stale))
        return changes

    def undo_changes(self, changes: list[DataChange], *, why: str, author: str) -> list[EditResult]:
        """Apply the inverse of each change in the given order, one transaction each, and stop at the first failure.

        Each undo is logged as its own renameTerm change. A failure raises OntologyError that names
        the change that failed and those undone before it.
        """
        results: list[EditResult] = []
        for change in changes:
            try:
                results.append(self.rename_term(why=why, author=author, **change.record.inverse["arguments"]))
            except (OntologyError, NotFoundError, UnknownTermError) as error:
                undone = ", ".join(str(result.version) for result in results) or "none"
                # A conflict keeps its class, so that the caller can tell that a retry may work.
                kind = OntologyConflictError if isinstance(error, OntologyConflictError) else OntologyError
                raise kind(f"undoing {change.describe()} failed: {error}. Changes logged for the undos "
                           f"before it: {undone}. Fix the cause, or undo the change by hand with "
                           f"{change.undo_call()}, then run the replace again") from error
            logger.info("undid change %d of %s (renameTerm %s -> %s) as change %d", change.record.version,
                        self.ontology_iri, change.old_name, local_name(change.new_iri), results[-1].version)
        return results

    def _rewritten_shapes(self, new_iri: str) -> list[str]:
        """Return the shapes that renaming a term of this ontology to `new_iri` rewrote, from the shapes' change log."""
        rows = self.store.read("MATCH (c:OntologyChange {ontology: $shapes, operation: 'renameTerm', term: $term}) "
                               "RETURN c.arguments AS arguments ORDER BY c.version DESC",
                               {"shapes": SHAPES_ONTOLOGY_IRI, "term": new_iri})
        for row in rows:
            arguments = json.loads(row["arguments"])
            if arguments.get("ontology") == self.ontology_iri:
                return arguments.get("shapes", [])
        return []

    def _current_usage(self, graph: Graph, model: OntologyModel, iri: str) -> Impact:
        """Count the instance nodes and relationships that use the term `iri` now (zeros when it is not a term)."""
        if iri in model.classes:
            name = model.classes[iri].label
        elif iri in model.relationships:
            name = local_name(iri)
        elif iri in model.properties:
            name = model.properties[iri].name
        else:
            return Impact()
        _, impact = self._rename_migration(graph, model, iri, name)
        return impact

    def _term_keys(self, term: str) -> set[str]:
        """Return `term` with the IRI it resolves to and that term's local name and graph name, when it resolves."""
        keys = {term}
        try:
            model = OntologyModel.from_graph(export_ontology(self.store, self.ontology_iri), self.ontology_iri)
            iri = self._resolve(model, term, kinds=("class", "object", "datatype"))
        except (NotFoundError, UnknownTermError, OntologyError):
            # A renamed or never stored term is matched by the text given.
            return keys
        mapping = model.classes.get(iri) or model.relationships.get(iri) or model.properties.get(iri)
        name = getattr(mapping, "label", None) or getattr(mapping, "type", None) or getattr(mapping, "name", None)
        keys.update(value for value in (iri, local_name(iri), name) if value)
        return keys

    def snapshot(self, version: int) -> Graph:
        """Return the ontology as it was after change `version` (0: before the first change).

        Without any change, version 0 is the stored ontology as loaded.
        """
        if version < 0:
            raise OntologyError(f"version must be 0 or more, got {version}")
        if version == 0:
            rows = self.store.read("MATCH (c:OntologyChange {ontology: $iri, version: 1}) RETURN c.baseline AS turtle",
                                   {"iri": self.ontology_iri})
            if not rows:
                return export_ontology(self.store, self.ontology_iri)
        else:
            rows = self.store.read("MATCH (c:OntologyChange {ontology: $iri, version: $version}) "
                                   "RETURN c.snapshot AS turtle", {"iri": self.ontology_iri, "version": version})
            if not rows:
                _, latest = self.version()
                raise NotFoundError(f"ontology {self.ontology_iri} has no change {version}; its change log ends at "
                                    f"version {latest} ('kg-service ontology history' lists them)")
        if rows[0]["turtle"] is None:
            raise NotFoundError(f"change {version} of {self.ontology_iri} was logged without a copy of the ontology "
                                "(before copies were kept); compare exported files instead")
        graph = Graph()
        graph.parse(data=rows[0]["turtle"], format="turtle")
        return graph

    def version(self) -> tuple[str | None, int]:
        """Return the ontology's owl:versionInfo and its latest change-log version (0 before any change)."""
        rows = self.store.read(
            "MATCH (o:Ontology {iri: $iri}) OPTIONAL MATCH (c:OntologyChange {ontology: $iri}) "
            "RETURN o.versionInfo AS info, max(c.version) AS version", {"iri": self.ontology_iri})
        if not rows:
            raise self._not_stored_error(self.ontology_iri)
        info = rows[0]["info"]
        if info is None:
            info = _version_info(export_ontology(self.store, self.ontology_iri), self.ontology_iri)
        return info, rows[0]["version"] or 0

    # shared steps

    def _run(self, operation: str, arguments: dict[str, Any], plan_edit: Callable[[Graph, OntologyModel], EditPlan],
             why: str, author: str, preview: bool, ontology_iri: str | None = None) -> EditResult:
        ontology_iri = ontology_iri or self.ontology_iri
        check_free_text(why, "why")
        check_free_text(author, "author")
        if self.author_note is not None:
            check_free_text(self.author_note, "author")
        graph, expected_version = self._load(ontology_iri)
        # The first change also keeps the ontology as it was before, so that version 0 can be exported.
        baseline = graph.serialize(format="turtle") if expected_version == 0 and not preview else None
        model = OntologyModel.from_graph(_copy(graph), ontology_iri)
        before = set(graph)
        plan = plan_edit(graph, model)
        if not plan.unchanged and not plan.migrations and set(plan.graph) == before:
            plan.unchanged = True
            plan.impact.description = (f"{operation} gives {local_name(plan.term or ontology_iri)} the values "
                                       "it already has; nothing changed")
        if plan.unchanged:
            # A no-op writes no change-log entry, so the log lists only real changes.
            logger.info("ontology edit %s on %s changes nothing: %s", operation, ontology_iri, plan.impact.description)
            return EditResult(operation, ontology_iri, plan.term, False, plan.impact)
        edited = OntologyModel.from_graph(plan.graph, ontology_iri)
        self._validate(edited, plan.term)
        if preview:
            return EditResult(operation, ontology_iri, plan.term, False, plan.impact)

        old_info = _version_info(plan.graph, ontology_iri)
        new_info = bump_version(old_info)
        plan.graph.set((URIRef(ontology_iri), OWL.versionInfo, Literal(new_info)))
        edited = OntologyModel.from_graph(plan.graph, ontology_iri)
        self._drop_foreign_collisions(edited)
        shape_rewrite = self._plan_shape_rewrite(plan, ontology_iri, why, author)
        ensure_schema(self.store)
        self.store.run_schema(CHANGE_LOG_SCHEMA)
        change = {"ontology": ontology_iri, "author": author.strip(), "operation": operation,
                  "arguments": json.dumps(arguments, ensure_ascii=False, sort_keys=True), "why": why.strip(),
                  "term": plan.term, "nodes": plan.impact.nodes, "relationships": plan.impact.relationships,
                  "violations": plan.impact.violations, "ontologyVersion": new_info, "previousOntologyVersion": old_info,
                  "inverse": json.dumps(plan.inverse, ensure_ascii=False, sort_keys=True) if plan.inverse else None,
                  "snapshot": plan.graph.serialize(format="turtle"), "baseline": baseline,
                  "authorNote": self.author_note}

        def work(tx) -> int:
            tx.run("MERGE (o:Ontology {iri: $iri}) ON CREATE SET o.source = 'ontology editor' "
                   "SET o.editLock = true REMOVE o.editLock", iri=ontology_iri).consume()
            latest = tx.run("MATCH (c:OntologyChange {ontology: $iri}) RETURN max(c.version) AS version",
                            iri=ontology_iri).single()["version"] or 0
            if latest != expected_version:
                raise OntologyConflictError(f"ontology {ontology_iri} changed while this edit was prepared "
                                            f"(version {expected_version} -> {latest}); run the edit again")
            replace_ontology_terms(tx, edited, source="ontology editor")
            tx.run("MATCH (o:Ontology {iri: $iri}) SET o.versionInfo = $info", iri=ontology_iri, info=new_info).consume()
            for migration in plan.migrations:
                self._migrate(tx, migration)
            if shape_rewrite is not None:
                self._write_shape_rewrite(tx, shape_rewrite)
            tx.run("CREATE (c:OntologyChange) SET c = $change, c.version = $version, c.at = datetime()",
                   change=change, version=latest + 1).consume()
            return latest + 1

        version = self.store.execute_write(work)
        logger.info("applied ontology change %d (%s) to %s by %s: %d nodes, %d relationships affected",
                    version, operation, ontology_iri, author, plan.impact.nodes, plan.impact.relationships)
        return EditResult(operation, ontology_iri, plan.term, True, plan.impact, version, new_info, plan.inverse)

    def _count_shapes(self, model: OntologyModel, iri: str, impact: Impact) -> tuple[Graph, int] | None:
        """Set `impact.shapes` to the number of stored shapes (or shapes-file shapes) that refer to `iri`.

        Return the shapes graph with its change-log version, or None when `model` is the shapes graph itself.
        """
        if model.iri == SHAPES_ONTOLOGY_IRI:
            return None
        shapes, version = self._load(SHAPES_ONTOLOGY_IRI)
        # The same set that a rename rewrites: shapes that name the term as an RDF term or in SPARQL text.
        referring = set(shapes_referring_to(shapes, URIRef(iri))) | set(shapes_querying(shapes, URIRef(iri)))
        impact.shapes = len(referring)
        verb = "refers" if impact.shapes == 1 else "refer"
        impact.description += f"; {count_of(impact.shapes, 'SHACL shape')} {verb} to {local_name(iri)}"
        return shapes, version

    def _plan_shape_rewrite(self, plan: EditPlan, ontology_iri: str, why: str, author: str) -> ShapeRewrite | None:
        """Return the shapes graph with a renamed term's IRI replaced, or None when no shape refers to it.

        Until the first shape edit, reasoning reads ontology/shapes.ttl. A rename that rewrites shapes
        stores that file's shapes in Neo4j, so reasoning reads the rewritten copy from then on.
        """
        if plan.shape_rename is None or plan.shapes is None or ontology_iri == SHAPES_ONTOLOGY_IRI:
            return None
        old, new = (URIRef(iri) for iri in plan.shape_rename)
        shapes, expected_version = plan.shapes
        referring = sorted(set(shapes_referring_to(shapes, old)) | set(shapes_querying(shapes, old)))
        if not referring:
            return None
        old_info = _version_info(shapes, SHAPES_ONTOLOGY_IRI)
        baseline = shapes.serialize(format="turtle") if expected_version == 0 else None
        # The SPARQL text of constraints names terms too ("?value a kg:Bearing"), so it is rewritten first.
        _replace_query_iri(shapes, old, new)
        _replace_iri(shapes, old, new)
        new_info = bump_version(old_info)
        shapes.set((URIRef(SHAPES_ONTOLOGY_IRI), OWL.versionInfo, Literal(new_info)))
        arguments = {"ontology": ontology_iri, "term": str(old), "new_iri": str(new),
                     "shapes": [str(name) for name in referring]}
        change = {"ontology": SHAPES_ONTOLOGY_IRI, "author": author.strip(), "operation": "renameTerm",
                  "arguments": json.dumps(arguments, ensure_ascii=False, sort_keys=True), "why": why.strip(),
                  "term": str(new), "nodes": 0, "relationships": 0, "violations": 0,
                  "ontologyVersion": new_info, "previousOntologyVersion": old_info, "inverse": None,
                  "snapshot": shapes.serialize(format="turtle"), "baseline": baseline}
        return ShapeRewrite(OntologyModel.from_graph(shapes, SHAPES_ONTOLOGY_IRI), expected_version, change)

    def _write_shape_rewrite(self, tx, rewrite: ShapeRewrite) -> None:
        """Store the rewritten shapes graph and log it as a change of the shapes ontology, inside `tx`."""
        tx.run("MERGE (o:Ontology {iri: $iri}) ON CREATE SET o.source = 'ontology editor' "
               "SET o.editLock = true REMOVE o.editLock", iri=SHAPES_ONTOLOGY_IRI).consume()
        latest = tx.run("MATCH (c:OntologyChange {ontology: $iri}) RETURN max(c.version) AS version",
                        iri=SHAPES_ONTOLOGY_IRI).single()["version"] or 0
        if latest != rewrite.expected_version:
            raise OntologyConflictError(f"the shapes graph {SHAPES_ONTOLOGY_IRI} changed while this rename was "
                                        f"prepared (version {rewrite.expected_version} -> {latest}); run the edit "
                                        "again")
        replace_ontology_terms(tx, rewrite.model, source="ontology editor")
        tx.run("MATCH (o:Ontology {iri: $iri}) SET o.versionInfo = $info", iri=SHAPES_ONTOLOGY_IRI,
               info=rewrite.change["ontologyVersion"]).consume()
        # The new change-log entry changes the key of reasoning's cache of stored shapes, so they are re-read.
        tx.run("CREATE (c:OntologyChange) SET c = $change, c.version = $version, c.at = datetime()",
               change=rewrite.change, version=latest + 1).consume()
        renamed = json.loads(rewrite.change["arguments"])
        logger.info("rewrote %d shapes in %s for the rename of %s to %s", len(renamed["shapes"]),
                    SHAPES_ONTOLOGY_IRI, renamed["term"], renamed["new_iri"])

    def _load(self, ontology_iri: str) -> tuple[Graph, int]:
        rows = self.store.read("OPTIONAL MATCH (o:Ontology {iri: $iri}) OPTIONAL MATCH (c:OntologyChange {ontology: $iri}) "
                               "RETURN o IS NOT NULL AS stored, max(c.version) AS version", {"iri": ontology_iri})
        version = rows[0]["version"] or 0
        if rows[0]["stored"]:
            return export_ontology(self.store, ontology_iri), version
        if ontology_iri != SHAPES_ONTOLOGY_IRI:
            raise self._not_stored_error(ontology_iri)
        # The first shape edit starts from the shapes file that reasoning used until then.
        if DEFAULT_SHAPES_FILE.is_file():
            graph = parse_ontology_file(DEFAULT_SHAPES_FILE)
            logger.info("starting the stored shapes graph from %s", DEFAULT_SHAPES_FILE)
        else:
            graph = Graph()
        graph.bind("sh", SH)
        graph.add((URIRef(ontology_iri), RDF.type, OWL.Ontology))
        return graph, version

    def _not_stored_error(self, ontology_iri: str) -> NotFoundError:
        """Return the error for an ontology IRI that is not stored, listing the stored IRIs."""
        if ontology_iri == SHAPES_ONTOLOGY_IRI:
            return NotFoundError(f"the shapes graph {SHAPES_ONTOLOGY_IRI} is not stored in Neo4j yet, because no "
                                 "shape has been edited or loaded yet; design checks read "
                                 f"ontology/{DEFAULT_SHAPES_FILE.name} until the first upsertShape or a rename that "
                                 "rewrites a shape")
        stored = [row["iri"] for row in stored_ontologies(self.store)]
        if not stored:
            listed = "no ontology is stored"
        elif len(stored) <= MAX_LISTED_ONTOLOGIES:
            listed = f"stored: {', '.join(stored)}"
        else:
            first = ", ".join(stored[:MAX_LISTED_ONTOLOGIES])
            listed = f"{len(stored)} are stored, the first {MAX_LISTED_ONTOLOGIES}: {first}"
        return NotFoundError(f"ontology {shorten(ontology_iri)} is not stored in Neo4j ({listed}); pass one of "
                             "the stored IRIs, or load the ontology first ('kg-service ontology load FILE')")

    def _resolve(self, model: OntologyModel, reference: str, kinds: tuple[str, ...], role: str = "term") -> str:
        """Return the IRI of the term that `reference` names: an IRI, a node label, a relationship type or property name."""
        if not isinstance(reference, str) or not reference.strip():
            raise OntologyError(f"{role} must be a non-empty IRI or name, got {shorten(reference)}")
        candidates: dict[str, list[tuple[str, str]]] = {
            "class": [(iri, mapping.label) for iri, mapping in model.classes.items()],
            "object": [(iri, rel.type) for iri, rel in model.relationships.items()],
            "datatype": [(iri, prop.name) for iri, prop in model.properties.items()]}
        for kind in kinds:
            for iri, name in candidates[kind]:
                if reference in (iri, name) or (kind == "object" and reference == local_name(iri)):
                    return iri
        wanted = {"class": "class", "object": "object property", "datatype": "datatype property"}
        names = [name for kind in kinds for _, name in candidates[kind]]
        names += [local_name(iri) for iri, _ in candidates["object"]] if "object" in kinds else []
        suggestion = did_you_mean(reference, names)
        advice = f"{suggestion} Otherwise give" if suggestion else "give"
        raise UnknownTermError(f"{role} {shorten(reference)} is not a {' or '.join(wanted[k] for k in kinds)} of "
                               f"{model.iri}; {advice} its IRI or its node label, relationship type or property name")

    def _known_class_iris(self) -> set[str]:
        return {row["iri"] for row in self.store.read("MATCH (c:OntologyClass) RETURN c.iri AS iri")}

    def _known_property_iris(self) -> set[str]:
        return {row["iri"] for row in self.store.read("MATCH (p:OntologyProperty) RETURN p.iri AS iri")}

    def _check_free_label(self, name: str) -> None:
        if name in RESERVED_LABELS or name == ENTITY_LABEL:
            raise OntologyError(f"name {name!r} is reserved for kg-service's own nodes; choose another name")
        rows = self.store.read("MATCH (c:OntologyClass {nodeLabel: $name}) RETURN c.iri AS iri LIMIT 1", {"name": name})
        if rows:
            raise OntologyError(f"name {name!r} is already the node label of class {rows[0]['iri']}; "
                                "choose another name")

    def _check_free_type(self, rel_type: str) -> None:
        if rel_type in INTERNAL_RELATIONSHIP_TYPES:
            raise OntologyError(f"relationship type {rel_type!r} is reserved for kg-service's ontology nodes; "
                                "choose another name")
        rows = self.store.read("MATCH (p:OntologyProperty {relationshipType: $type}) RETURN p.iri AS iri LIMIT 1",
                               {"type": rel_type})
        if rows:
            raise OntologyError(f"relationship type {rel_type!r} is already used by {rows[0]['iri']}; "
                                "choose another name")

    def _check_free_property(self, name: str) -> None:
        if name in SYSTEM_PROPERTIES:
            raise OntologyError(f"property name {name!r} is set by kg-service itself; choose another name")
        rows = self.store.read("MATCH (p:OntologyProperty {propertyName: $name}) RETURN p.iri AS iri LIMIT 1",
                               {"name": name})
        if rows:
            raise OntologyError(f"property name {name!r} is already used by {rows[0]['iri']}; choose another name")

    @staticmethod
    def _check_unique_texts(model: OntologyModel, labels: dict[str, str], exclude: str | None) -> None:
        _check_labels_unused(((iri, mapping.labels) for iri, mapping in model.classes.items() if iri != exclude),
                             labels, "class", "classes")

    @staticmethod
    def _check_unique_property_texts(model: OntologyModel, labels: dict[str, str], exclude: str | None = None) -> None:
        mappings = [*model.relationships.values(), *model.properties.values()]
        _check_labels_unused(((mapping.iri, mapping.labels) for mapping in mappings if mapping.iri != exclude),
                             labels, "property", "properties")

    def _term_names(self, model: OntologyModel, exclude: str | None) -> list[tuple[str, str, str]]:
        """Return (name, kind, IRI) of every node label, relationship type and property name in use.

        The names come from `model` and from the terms of every stored ontology. kg-service's own
        labels count too. `exclude` is the IRI of a term whose names are left out.
        """
        names = [(mapping.label, "node label", iri) for iri, mapping in model.classes.items()]
        names += [(mapping.type, "relationship type", iri) for iri, mapping in model.relationships.items()]
        names += [(mapping.name, "property name", iri) for iri, mapping in model.properties.items()]
        rows = self.store.read("MATCH (t:OntologyTerm) WHERE t.iri <> $exclude AND (t.nodeLabel IS NOT NULL "
                               "OR t.relationshipType IS NOT NULL OR t.propertyName IS NOT NULL) "
                               "RETURN t.nodeLabel AS label, t.relationshipType AS type, t.propertyName AS property, "
                               "t.iri AS iri ORDER BY t.iri", {"exclude": exclude or ""})
        for row in rows:
            for key, kind in (("label", "node label"), ("type", "relationship type"), ("property", "property name")):
                if row[key] is not None:
                    names.append((row[key], kind, row["iri"]))
        names = [entry for entry in names if entry[2] != exclude]
        names += [(label, "kg-service label", "kg-service") for label in sorted(RESERVED_LABELS | {ENTITY_LABEL})]
        return names

    def _check_no_case_variant(self, model: OntologyModel, name: str, exclude: str | None = None) -> None:
        """Reject a new name that differs only by case from a term of this ontology or a stored term's name.

        Stored names are node labels, relationship types and property names. `exclude` is the IRI of
        the term being renamed, which may change the case of its own name.
        """
        existing_names = {local_name(str(subject)): str(subject) for subject in model.graph.subjects()
                          if isinstance(subject, URIRef) and str(subject) != exclude}
        for existing, _, iri in self._term_names(model, exclude):
            existing_names.setdefault(existing, iri)

        folded = name.casefold()
        for existing, iri in sorted(existing_names.items()):
            if existing != name and existing.casefold() == folded:
                raise OntologyError(f"name {name!r} differs only by case from {existing!r} ({iri}), and names "
                                    "that differ only by case are easily confused; choose a name that differs "
                                    "in more than case")

    def _check_type_no_case_variant(self, model: OntologyModel, rel_type: str, exclude: str | None = None) -> None:
        """Reject a relationship type equal, ignoring case, to a node label, property name or other relationship type.

        `exclude` is the IRI of the property being renamed, which may change the case of its own type.
        """
        folded = rel_type.casefold()
        names = self._term_names(model, exclude)
        names += [(name, "relationship type", "kg-service") for name in sorted(INTERNAL_RELATIONSHIP_TYPES)]
        # Terms of an ontology come before kg-service's own names, so the error names the class `Entity`.
        for existing, kind, iri in sorted(set(names), key=lambda entry: (entry[2] == "kg-service", entry)):
            if existing.casefold() != folded:
                continue
            owner = "kg-service's own nodes" if iri == "kg-service" else iri
            if existing == rel_type:
                raise OntologyError(f"relationship type {rel_type!r} is already the {kind} of {owner}; a relationship "
                                    "type may not repeat a node label, property name or other relationship type, so "
                                    "choose another relationship type")
            raise OntologyError(f"relationship type {rel_type!r} differs only by case from the {kind} {existing!r} "
                                f"({owner}), and names that differ only by case are easily confused; choose a "
                                "relationship type that differs in more than case")

    def _rename_migration(self, graph: Graph, model: OntologyModel, iri: str, new_name: str,
                          relationship_type: str | None = None) -> tuple[Migration, Impact]:
        """Return the instance migration of renaming `iri` to `new_name` and the data it touches."""
        if iri in model.classes:
            old_label = model.classes[iri].label
            if new_name != old_label:
                self._check_free_label(new_name)
            impact = self._count_nodes(old_label)
            verb = "carries" if impact.nodes == 1 else "carry"
            impact.description = f"class {old_label}: {count_of(impact.nodes, 'instance node')} {verb} the label"
            return Migration("label", old_label, new_name), impact
        if iri in model.relationships:
            old_type = model.relationships[iri].type
            new_type = relationship_type or (relationship_type_for(new_name) if new_name != local_name(iri) else old_type)
            check_identifier(new_type, "relationship type")
            if new_type != old_type:
                self._check_free_type(new_type)
                self._check_type_no_case_variant(model, new_type, exclude=iri)
                change = f"relationship type {old_type} becomes {new_type}"
            elif new_name != local_name(iri):
                change = f"relationship type {old_type} stays"
            else:
                change = f"relationship type {old_type}"
            count = self.store.read(f"MATCH ()-[r:{quote(old_type, 'relationship type')}]->() RETURN count(r) AS n")
            impact = Impact(relationships=count[0]["n"],
                            description=f"{change}: {count_of(count[0]['n'], 'relationship')}")
            return Migration("type", old_type, new_type), impact
        old_name = model.properties[iri].name
        if new_name != old_name:
            self._check_free_property(new_name)
        counts = self.store.read(
            f"CALL () {{ MATCH (n:{quote(ENTITY_LABEL)}) WHERE n.{quote(old_name, 'property name')} IS NOT NULL "
            f"RETURN count(n) AS nodes }} CALL () {{ MATCH ()-[r]->() WHERE r.{quote(old_name, 'property name')} "
            "IS NOT NULL RETURN count(r) AS rels } RETURN nodes, rels")[0]
        impact = Impact(nodes=counts["nodes"], relationships=counts["rels"],
                        description=f"property {old_name}: set on {count_of(counts['nodes'], 'node')} and "
                                    f"{count_of(counts['rels'], 'relationship')}")
        return Migration("property", old_name, new_name), impact

    def _count_nodes(self, label: str) -> Impact:
        count = self.store.read(f"MATCH (n:{quote(ENTITY_LABEL)}:{quote(label, 'label')}) RETURN count(n) AS n")
        return Impact(nodes=count[0]["n"])

    def _domain_range_impact(self, graph: Graph, model: OntologyModel, iri: str) -> Impact:
        """Count the relationships (or nodes) of a property and those that break its new domain or range."""
        label_of = {class_iri: mapping.label for class_iri, mapping in model.classes.items()}
        domain = label_of.get(_single_iri(graph, URIRef(iri), RDFS.domain) or "")
        range_label = label_of.get(_single_iri(graph, URIRef(iri), RDFS.range) or "")
        if iri in model.properties:
            name = quote(model.properties[iri].name, "property name")
            row = self.store.read(
                f"MATCH (n:{quote(ENTITY_LABEL)}) WHERE n.{name} IS NOT NULL "
                "RETURN count(n) AS total, count(CASE WHEN $domain IS NOT NULL AND NOT $domain IN labels(n) "
                "THEN 1 END) AS bad", {"domain": domain})[0]
            return Impact(nodes=row["total"], violations=row["bad"],
                          description=f"{count_of(row['total'], 'node')} set the property, {row['bad']} outside "
                                      "the new domain")
        rel_type = quote(model.relationships[iri].type, "relationship type")
        row = self.store.read(
            f"MATCH (a)-[r:{rel_type}]->(b) RETURN count(r) AS total, "
            "count(CASE WHEN ($domain IS NOT NULL AND NOT $domain IN labels(a)) "
            "OR ($range IS NOT NULL AND NOT $range IN labels(b)) THEN 1 END) AS bad",
            {"domain": domain, "range": range_label})[0]
        # NOTE: existing relationships that break the new domain or range are counted, not rejected
        # or removed; the batched writer enforces the new rule for later writes only.
        return Impact(relationships=row["total"], violations=row["bad"],
                      description=f"{count_of(row['total'], 'relationship')}, {row['bad']} "
                                  f"{'breaks' if row['bad'] == 1 else 'break'} the new domain or range")

    def _validate(self, model: OntologyModel, term: str | None) -> None:
        """Raise OntologyError when the edited ontology has a subclass cycle or a dangling domain or range."""
        cycle = find_subclass_cycle(model)
        if cycle:
            raise OntologyError(f"the edit would create a subclass cycle: {' -> '.join(local_name(iri) for iri in cycle)}; "
                                "choose a parent that is not a subclass of the class")
        if term is None or URIRef(term) not in {s for s in model.graph.subjects()}:
            return
        for predicate, role in ((RDFS.domain, "domain"), (RDFS.range, "range")):
            if term not in model.relationships and not (term in model.properties and role == "domain"):
                continue
            for value in model.graph.objects(URIRef(term), predicate):
                if str(value) not in model.classes:
                    raise OntologyError(f"{role} {value} of {term} is not a class of {model.iri}; "
                                        "add the class first or pick a known one")
        if term in model.classes or term in model.relationships or term in model.properties:
            return
        if model.iri != SHAPES_ONTOLOGY_IRI:
            raise OntologyError(f"{term} is not mapped after the edit; check that its name is a valid node label, "
                                "relationship type or property name")

    def _drop_foreign_collisions(self, model: OntologyModel) -> None:
        labels = {row["name"]: (row["iri"], row["ontology"]) for row in self.store.read(
            "MATCH (c:OntologyClass) WHERE c.ontology <> $iri RETURN c.nodeLabel AS name, c.iri AS iri, "
            "c.ontology AS ontology", {"iri": model.iri})}
        types = {row["name"]: (row["iri"], row["ontology"]) for row in self.store.read(
            "MATCH (p:OntologyProperty {kind: 'object'}) WHERE p.ontology <> $iri RETURN p.relationshipType AS name, "
            "p.iri AS iri, p.ontology AS ontology", {"iri": model.iri})}
        model.drop_collisions(labels, types)

    def _migrate(self, tx, migration: Migration) -> None:
        """Rename instance labels, relationship types or property names in batches inside `tx`."""
        if migration.old == migration.new:
            return
        old, new = migration.old, migration.new
        if migration.kind == "label":
            query = (f"MATCH (n:{quote(ENTITY_LABEL)}:{quote(old, 'label')}) WITH n LIMIT $size "
                     f"SET n:{quote(new, 'label')} REMOVE n:{quote(old, 'label')} RETURN count(n) AS moved")
        elif migration.kind == "type":
            # CREATE, not MERGE: parallel relationships of one type between the same two nodes are
            # separate facts (two work orders, two measurements), and each keeps its own properties.
            query = (f"MATCH (a)-[r:{quote(old, 'relationship type')}]->(b) WITH a, r, b LIMIT $size "
                     f"CREATE (a)-[s:{quote(new, 'relationship type')}]->(b) SET s = properties(r) DELETE r "
                     "RETURN count(*) AS moved")
        else:
            old_q, new_q = quote(old, "property name"), quote(new, "property name")
            query = (f"MATCH (n) WHERE n.{old_q} IS NOT NULL WITH n LIMIT $size "
                     f"SET n.{new_q} = n.{old_q} REMOVE n.{old_q} RETURN count(n) AS moved")
            self._repeat(tx, query)
            query = (f"MATCH ()-[r]->() WHERE r.{old_q} IS NOT NULL WITH r LIMIT $size "
                     f"SET r.{new_q} = r.{old_q} REMOVE r.{old_q} RETURN count(r) AS moved")
        self._repeat(tx, query)

    def _repeat(self, tx, query: str) -> None:
        # NOTE: the batches bound each statement's memory, but they share the edit's one transaction,
        # so a migration of millions of instances needs a matching transaction memory limit.
        while tx.run(query, size=self.batch_size).single()["moved"]:
            pass


# validation helpers


def _check_labels_unused(terms: Iterable[tuple[str, dict[str, str]]], labels: dict[str, str], kind: str,
                         plural: str) -> None:
    """Raise OntologyError when a label in `labels` is already, ignoring case, the same-language label of a term."""
    for iri, existing_labels in terms:
        for language, text in labels.items():
            existing = existing_labels.get(language)
            if existing is not None and existing.casefold() == text.strip().casefold():
                raise OntologyError(f"label {text!r}@{language} is already the label of {kind} {iri}; "
                                    f"choose a label that tells the two {plural} apart")


def check_local_name(name: str, role: str) -> str:
    """Return `name` when it can be a new IRI local name and Cypher name, else raise OntologyError.

    New names are ASCII letters, digits and '_', starting with a letter, and no longer than
    `check_identifier` allows.
    """
    if not isinstance(name, str) or not name:
        raise OntologyError(f"{role} must be a non-empty name, got {shorten(name)}")
    try:
        check_identifier(name, role)
    except UnknownTermError as error:
        raise OntologyError(f"{error}") from None
    if not _NEW_NAME.fullmatch(name):
        bad = next((char for char in name if not (char.isascii() and (char.isalnum() or char == "_"))), name[0])
        raise OntologyError(f"{role} {name!r} is invalid at {bad!r} (U+{ord(bad):04X}): a name may not contain "
                            "anything but ASCII letters, digits and '_', and must start with a letter; "
                            "write names in other scripts as labels (labelZh, labelEn)")
    return name


def xsd_datatype(reference: str) -> str:
    """Return the full IRI of the XSD datatype that `reference` names (xsd:decimal or its IRI), else raise."""
    text = reference.strip() if isinstance(reference, str) else ""
    for prefix in ("xsd:", str(XSD)):
        if text.startswith(prefix) and text[len(prefix):] in XSD_DATATYPES:
            return str(XSD) + text[len(prefix):]
    raise OntologyError(f"range {shorten(reference)} is not a supported datatype for a datatype property; use one of "
                        f"{', '.join('xsd:' + name for name in XSD_DATATYPES)}")


def check_texts(texts: dict[str, str], role: str, required: bool) -> None:
    """Raise OntologyError unless `texts` maps 'en'/'zh' to non-empty text (both when `required`)."""
    if not isinstance(texts, dict):
        raise OntologyError(f"{role}s must map a language (en, zh) to text, got {shorten(texts)}")
    for language, text in texts.items():
        if language not in LANGUAGES:
            raise OntologyError(f"{role} language {shorten(language)} is not supported; use one of {', '.join(LANGUAGES)}")
        check_free_text(text, f"{role}@{language}")
    missing = [language for language in LANGUAGES if language not in texts]
    if required and missing:
        raise OntologyError(f"{role} missing in {', '.join(missing)}; every term needs one in en and zh")


def check_free_text(text: str, role: str) -> str:
    """Raise OntologyError unless `text` is non-empty after trimming and at most MAX_TEXT_LENGTH characters."""
    if not isinstance(text, str) or not text.strip():
        raise OntologyError(f"{role} must not be empty")
    if len(text) > MAX_TEXT_LENGTH:
        raise OntologyError(f"{role} is {len(text)} characters long; the limit is {MAX_TEXT_LENGTH}")
    return text


def find_subclass_cycle(model: OntologyModel) -> list[str]:
    """Return one rdfs:subClassOf cycle among the model's classes as a list of IRIs, or [] when there is none."""
    parents = {iri: [parent for parent in mapping.parents if parent in model.classes]
               for iri, mapping in model.classes.items()}
    state: dict[str, int] = {}
    for start in sorted(parents):
        if state.get(start):
            continue
        stack: list[tuple[str, int]] = [(start, 0)]
        path: list[str] = []
        while stack:
            node, index = stack.pop()
            if index == 0:
                state[node] = 1
                path.append(node)
            children = parents[node]
            if index < len(children):
                stack.append((node, index + 1))
                child = children[index]
                if state.get(child) == 1:
                    return path[path.index(child):] + [child]
                if not state.get(child):
                    stack.append((child, 0))
            else:
                state[node] = 2
                path.pop()
    return []


# Prefixes that upsertShape declares before the caller's Turtle.
SHAPE_PREFIX_HEADER = (
    "@prefix sh: <http://www.w3.org/ns/shacl#> .\n@prefix rdf: <http://www.w3.org/1999/02/22-rdf-syntax-ns#> .\n"
    "@prefix rdfs: <http://www.w3.org/2000/01/rdf-schema#> .\n@prefix xsd: <http://www.w3.org/2001/XMLSchema#> .\n"
    "@prefix kg: <https://w3id.org/kg-service/ontology#> .\n@prefix kgsh: <https://w3id.org/kg-service/shapes#> .\n")
# Characters of the caller's line shown on each side of a Turtle syntax error.
SYNTAX_CONTEXT_LENGTH = 40


def parse_shape_turtle(turtle: str) -> Graph:
    """Parse SHACL shapes written in Turtle; the prefixes sh, rdf, rdfs, xsd, kg and kgsh are predeclared."""
    check_free_text(turtle, "shape")
    graph = Graph()
    try:
        graph.parse(data=SHAPE_PREFIX_HEADER + turtle, format="turtle")
    except Exception as error:  # noqa: BLE001 - rdflib raises several exception types for bad Turtle
        raise OntologyError(f"shape is not valid Turtle: {_turtle_error_text(error)}; fix the text and try "
                            "again") from None
    if not shape_subjects(graph):
        raise OntologyError("shape declares no named sh:NodeShape or sh:PropertyShape; give the shape an IRI "
                            "(for example kgsh:PumpShape a sh:NodeShape)")
    return graph


def _turtle_error_text(error: Exception) -> str:
    """Describe a Turtle parse error by line and column of the caller's text, without the predeclared prefixes.

    rdflib 7's BadSyntax keeps the parsed text as UTF-8 bytes (`_str`), the character offset of the
    error in that text (`_i`) and the reason (`_why`). Its own message counts the prefix lines and
    shows bytes reprs, so it is only the fallback for other errors.
    """
    data, offset, reason = (getattr(error, name, None) for name in ("_str", "_i", "_why"))
    if not isinstance(data, bytes) or not isinstance(offset, int) or reason is None:
        return str(error).replace(SHAPE_PREFIX_HEADER, "")
    text = data.decode("utf-8", errors="replace")
    if not text.startswith(SHAPE_PREFIX_HEADER):
        return str(error)
    position = min(max(offset - len(SHAPE_PREFIX_HEADER), 0), len(text) - len(SHAPE_PREFIX_HEADER))
    before = text[len(SHAPE_PREFIX_HEADER):len(SHAPE_PREFIX_HEADER) + position]
    after = text[len(SHAPE_PREFIX_HEADER) + position:]
    line_start = before.rsplit("\n", 1)[-1]
    line_end = after.split("\n", 1)[0]
    context = (line_start[-SYNTAX_CONTEXT_LENGTH:] + "^" + line_end[:SYNTAX_CONTEXT_LENGTH]).strip()
    return (f"line {before.count(chr(10)) + 1}, column {len(line_start) + 1}: {str(reason).rstrip('.')} "
            f"(^ marks the position in \"{context}\")")


def shape_subjects(graph: Graph) -> list[URIRef]:
    """Return the IRIs typed sh:NodeShape or sh:PropertyShape, sorted."""
    names = set(graph.subjects(RDF.type, URIRef(SH + "NodeShape"))) | set(graph.subjects(RDF.type, URIRef(SH + "PropertyShape")))
    return sorted(name for name in names if isinstance(name, URIRef))


def shapes_referring_to(shapes: Graph, iri: URIRef) -> list[URIRef]:
    """Return the named shapes whose statements (nested property shapes and lists included) mention `iri`, sorted.

    Named shapes are those typed sh:NodeShape or sh:PropertyShape and those with an sh:targetClass.
    """
    names = set(shape_subjects(shapes))
    names.update(name for name in shapes.subjects(URIRef(SH + "targetClass"), None) if isinstance(name, URIRef))
    return sorted(name for name in names
                  if any(iri in (predicate, value) for _, predicate, value in _closure(shapes, name)))


def shapes_querying(shapes: Graph, iri: URIRef) -> list[URIRef]:
    """Return the named shapes with a SPARQL query (sh:select, sh:ask) whose text names `iri`, sorted."""
    owners = set()
    for node, text, pattern, _ in _query_mentions(shapes, iri, iri):
        if pattern.search(str(text)):
            owner = node if isinstance(node, URIRef) else _named_owner(shapes, node)
            if owner is not None:
                owners.add(owner)
    return sorted(owners)


def _replace_query_iri(shapes: Graph, old: URIRef, new: URIRef) -> None:
    """Rewrite the SPARQL text of every query in `shapes` that names `old`, as <iri> or with a declared prefix."""
    for node, text, pattern, replacement in _query_mentions(shapes, old, new):
        rewritten = pattern.sub(lambda _: replacement, str(text))
        if rewritten != str(text):
            predicate = next(p for p in (URIRef(SH + "select"), URIRef(SH + "ask")) if (node, p, text) in shapes)
            shapes.remove((node, predicate, text))
            shapes.add((node, predicate, Literal(rewritten, lang=text.language, datatype=text.datatype)))


def _query_mentions(shapes: Graph, old: URIRef, new: URIRef) -> list[tuple[Node, Literal, re.Pattern, str]]:
    """Return, per query in `shapes`, a pattern that finds `old` in its text and the text that names `new`.

    A query names a term as <iri> or as prefix:local with a prefix that its sh:prefixes declare.
    The new name keeps the prefix when the new IRI is in the same namespace, else it is <iri>.
    """
    mentions = []
    for predicate in (URIRef(SH + "select"), URIRef(SH + "ask")):
        for node, text in list(shapes.subject_objects(predicate)):
            if not isinstance(text, Literal):
                continue
            alternatives = [re.escape(f"<{old}>")]
            replacement = f"<{new}>"
            for prefix, namespace in _query_prefixes(shapes, node).items():
                if str(old).startswith(namespace) and len(str(old)) > len(namespace):
                    alternatives.append(re.escape(f"{prefix}:{str(old)[len(namespace):]}"))
                    if str(new).startswith(namespace):
                        replacement = f"{prefix}:{str(new)[len(namespace):]}"
            # A prefixed name ends where no name character (or a dot inside the name) follows.
            pattern = re.compile(rf"(?<![\w:<-])(?:{'|'.join(alternatives)})(?![\w-]|\.\w)")
            mentions.append((node, text, pattern, replacement))
    return mentions


def check_shapes_graph(shapes: Graph) -> None:
    """Validate shapes against the W3C shacl-shacl meta-shapes that pySHACL ships; raise OntologyError when they fail."""
    import pyshacl

    meta = Graph()
    with resources.files("pyshacl").joinpath("assets", "shacl-shacl.ttl").open("rb") as handle:
        meta.parse(handle, format="turtle")
    conforms, report, _ = pyshacl.validate(shapes, shacl_graph=meta, inference="none")
    if conforms:
        return
    problems = sorted(set(_meta_problem(shapes, report, result)
                          for result in report.subjects(RDF.type, URIRef(SH + "ValidationResult"))))
    raise OntologyError("shape is not well-formed SHACL (checked with the shacl-shacl meta-shapes):\n- "
                        + "\n- ".join(problems) + "\nfix these statements and try again")


def _meta_problem(shapes: Graph, report: Graph, result: Node) -> str:
    """Return one line for a shacl-shacl result: focus node, path, message and value."""
    focus = report.value(result, URIRef(SH + "focusNode"))
    path = report.value(result, URIRef(SH + "resultPath"))
    value = report.value(result, URIRef(SH + "value"))
    message = report.value(result, URIRef(SH + "resultMessage"))
    line = f"focus {_short(shapes, focus)}"
    if path is not None:
        line += f", path {_short(shapes, path)}"
    line += f": {message if message is not None else 'constraint not met'}"
    if value is not None:
        line += f" (value {_short(shapes, value)})"
    return line


def _short(shapes: Graph, node: Node | None) -> str:
    """Return a node as prefixed name where possible; a blank node as 'a node inside <named shape>'."""
    if node is None:
        return "?"
    if isinstance(node, BNode):
        owner = _named_owner(shapes, node)
        return f"a blank node inside {_short(shapes, owner)}" if owner is not None else "a blank node"
    if isinstance(node, URIRef):
        try:
            return shapes.namespace_manager.normalizeUri(node)
        except Exception:  # noqa: BLE001 - rdflib raises for IRIs it cannot split into a prefixed name
            return f"<{node}>"
    return node.n3()


def _named_owner(graph: Graph, node: Node) -> URIRef | None:
    """Return the nearest IRI subject that reaches the blank node `node` through blank nodes, or None."""
    seen: set[Node] = set()
    frontier = [node]
    while frontier:
        current = frontier.pop()
        if current in seen:
            continue
        seen.add(current)
        for subject in graph.subjects(None, current):
            if isinstance(subject, URIRef):
                return subject
            frontier.append(subject)
    return None


# Datatypes that sh:datatype may name besides the XSD ones (RDF 1.1 and RDF 1.2 literal types).
RDF_DATATYPES = frozenset(str(RDF) + name for name in ("langString", "HTML", "XMLLiteral", "JSON", "PlainLiteral",
                                                      "dirLangString"))


def check_shape_references(shapes: Graph, known_classes: set[str], known_properties: set[str]) -> None:
    """Raise OntologyError when a shape names a class, property or datatype that does not exist.

    sh:targetClass and sh:class must name a class of a stored ontology. An sh:path in the kg:
    namespace must name a stored property, and IRIs of other vocabularies (rdfs:label) are
    accepted as they are. sh:datatype must be an XSD datatype or an RDF literal type.
    """
    problems = []
    for predicate in ("targetClass", "class"):
        for shape, value in shapes.subject_objects(URIRef(SH + predicate)):
            if str(value) not in known_classes:
                problems.append(f"sh:{predicate} {_short(shapes, value)} of {_short(shapes, shape)}: no stored "
                                f"ontology declares this class{_closest(value, known_classes, shapes)}")
    for shape, path in shapes.subject_objects(URIRef(SH + "path")):
        for term in _path_iris(shapes, path):
            if str(term).startswith(str(KG)) and str(term) not in known_properties:
                problems.append(f"sh:path {_short(shapes, term)} of {_short(shapes, shape)}: no stored ontology "
                                f"declares this property{_closest(term, known_properties, shapes)}")
    xsd_names = {str(XSD[name]) for name in XSD_DATATYPES}
    for shape, datatype in shapes.subject_objects(URIRef(SH + "datatype")):
        if not ((isinstance(datatype, URIRef) and datatype in XSD) or str(datatype) in RDF_DATATYPES):
            problems.append(f"sh:datatype {_short(shapes, datatype)} of {_short(shapes, shape)} is not an XSD "
                            f"datatype or rdf:langString{_closest(datatype, xsd_names, shapes)}")
    if problems:
        raise OntologyError("shape refers to terms that do not exist:\n- " + "\n- ".join(sorted(problems))
                            + "\nload or add the term first, or correct the name")


def _path_iris(graph: Graph, path: Node) -> list[URIRef]:
    """Return the property IRIs in a SHACL path: the path itself, or those in a sequence, inverse or other path."""
    if isinstance(path, URIRef):
        return [path]
    return [value for _, _, value in _closure(graph, path)
            if isinstance(value, URIRef) and value != RDF.nil]


def _closest(term: Node, known: Iterable[str], shapes: Graph) -> str:
    """Return '; did you mean ...' with up to three known IRIs whose local names are closest to `term`'s."""
    import difflib

    by_name: dict[str, list[str]] = {}
    for iri in known:
        by_name.setdefault(local_name(iri).casefold(), []).append(iri)
    matches = difflib.get_close_matches(local_name(str(term)).casefold(), list(by_name), n=3, cutoff=0.6)
    names = [_short(shapes, URIRef(iri)) for match in matches for iri in sorted(by_name[match])][:3]
    return f"; did you mean {', '.join(names)}?" if names else ""


def shape_query_problems(shapes: Graph, names: Iterable[URIRef] | None = None) -> list[str]:
    """Return one line per SPARQL query (sh:select, sh:ask) in `shapes` that pySHACL could not run.

    Each query is parsed with rdflib's SPARQL parser and the prefixes that pySHACL 0.40.1 gives it:
    rdf, rdfs, owl and the sh:declare entries of its sh:prefixes. With `names`, only queries inside
    those shapes are checked. A query that uses MINUS, VALUES or SERVICE is a problem too, because
    SHACL-SPARQL forbids them and pySHACL then fails at validation time.
    """
    from pyshacl.helper.sparql_query_helper import SPARQLQueryHelper
    from rdflib.plugins.sparql import prepareQuery

    selected = set(names) if names is not None else None
    problems = []
    for kind, query_type in (("select", "SelectQuery"), ("ask", "AskQuery")):
        for node, text in shapes.subject_objects(URIRef(SH + kind)):
            owner = node if isinstance(node, URIRef) else _named_owner(shapes, node)
            if selected is not None and owner not in selected:
                continue
            where = f"sh:{kind} of {_short(shapes, owner) if owner is not None else 'a blank node'}"
            query = str(text)
            try:
                parsed = prepareQuery(query, initNs=_query_prefixes(shapes, node))
            except Exception as error:  # noqa: BLE001 - rdflib raises pyparsing errors and plain Exceptions
                problems.append(f"{where}: {_parse_error_text(error, query)}")
                continue
            if parsed.algebra.name != query_type:
                problems.append(f"{where}: the query is a {parsed.algebra.name}, but sh:{kind} needs a {query_type}")
            for clause, pattern in (("MINUS", SPARQLQueryHelper.has_minus_regex),
                                    ("VALUES", SPARQLQueryHelper.has_values_regex),
                                    ("SERVICE", SPARQLQueryHelper.has_service_regex)):
                if pattern.search(query):
                    problems.append(f"{where}: SHACL-SPARQL does not allow a {clause} clause; use FILTER instead")
    return sorted(problems)


def _query_prefixes(shapes: Graph, node: Node) -> dict[str, str]:
    """Return the prefixes pySHACL declares for the query at `node`: rdf, rdfs, owl and its sh:prefixes."""
    prefixes = {"rdf": str(RDF), "rdfs": str(RDFS), "owl": str(OWL)}
    declares = []
    for source in shapes.objects(node, URIRef(SH + "prefixes")):
        declares.extend(shapes.objects(source, URIRef(SH + "declare")))
    for declare in declares:
        prefix = shapes.value(declare, URIRef(SH + "prefix"))
        namespace = shapes.value(declare, URIRef(SH + "namespace"))
        if prefix is not None and namespace is not None:
            prefixes[str(prefix)] = str(namespace)
    return prefixes


def _parse_error_text(error: Exception, query: str) -> str:
    """Describe a SPARQL parse error with its line, column and the query line it points at."""
    line_number = getattr(error, "lineno", None)
    column = getattr(error, "col", None)
    message = getattr(error, "msg", None) or str(error)
    found = getattr(error, "found", None)
    if found:
        message += f", found {found}"
    if line_number is None:
        return f"{message}; query: {' '.join(query.split())[:200]}"
    lines = query.splitlines() or [""]
    text = lines[line_number - 1].strip() if 0 < line_number <= len(lines) else ""
    return f"{message} at line {line_number}, column {column} of the query ({text[:120]!r})"


def namespace_of(model: OntologyModel) -> str:
    """Return the namespace that most of the model's classes use, else the ontology IRI with '#'."""
    counts: dict[str, int] = {}
    for iri in model.classes:
        namespace = iri[:len(iri) - len(local_name(iri))]
        counts[namespace] = counts.get(namespace, 0) + 1
    if not counts:
        return model.iri + "#"
    return max(sorted(counts), key=lambda namespace: counts[namespace])


def count_of(number: int, noun: str) -> str:
    """Return `number` with `noun` in the singular or plural ("1 SHACL shape", "2 SHACL shapes")."""
    return f"{number} {noun}" if number == 1 else f"{number} {noun}s"


def bump_version(info: str | None) -> str:
    """Return `info` with its last number increased (0.1.0 -> 0.1.1); '0.0.1' when there is none."""
    if not info:
        return "0.0.1"
    match = re.search(r"(\d+)(\D*)$", info)
    if match is None:
        return f"{info}.1"
    return info[:match.start(1)] + str(int(match.group(1)) + 1) + match.group(2)


# graph helpers

def _copy(graph: Graph) -> Graph:
    copy = Graph()
    for prefix, namespace in graph.namespaces():
        copy.bind(prefix, namespace, override=True, replace=True)
    for triple in graph:
        copy.add(triple)
    return copy


def _replace_iri(graph: Graph, old: URIRef, new: URIRef) -> None:
    for s, p, o in list(graph):
        if old in (s, p, o):
            graph.remove((s, p, o))
            graph.add((new if s == old else s, new if p == old else p, new if o == old else o))


def _texts(graph: Graph, subject: URIRef, predicate: URIRef) -> dict[str, str]:
    texts: dict[str, str] = {}
    for value in graph.objects(subject, predicate):
        if isinstance(value, Literal):
            texts.setdefault((value.language or "en").split("-")[0].lower(), str(value))
    return texts


def _set_text(graph: Graph, subject: URIRef, predicate: URIRef, language: str, text: str) -> None:
    for value in list(graph.objects(subject, predicate)):
        if isinstance(value, Literal) and (value.language or "en").split("-")[0].lower() == language:
            graph.remove((subject, predicate, value))
    graph.add((subject, predicate, Literal(text, lang=language)))


def _is_deprecated(graph: Graph, subject: URIRef) -> bool:
    return any(isinstance(value, Literal) and value.toPython() is True
               for value in graph.objects(subject, OWL.deprecated))


def _single_iri(graph: Graph, subject: URIRef, predicate: URIRef) -> str | None:
    values = sorted(str(value) for value in graph.objects(subject, predicate) if isinstance(value, URIRef))
    return values[0] if values else None


def _closure(graph: Graph, subject) -> list[tuple]:
    """Return the triples of `subject` and of the blank nodes it reaches (lists, nested property shapes)."""
    triples, seen, frontier = [], set(), [subject]
    while frontier:
        node = frontier.pop()
        if node in seen:
            continue
        seen.add(node)
        for triple in graph.triples((node, None, None)):
            triples.append(triple)
            if isinstance(triple[2], BNode):
                frontier.append(triple[2])
    return triples


def _version_info(graph: Graph, ontology_iri: str) -> str | None:
    value = graph.value(URIRef(ontology_iri), OWL.versionInfo)
    return str(value) if value is not None else None


def _change_record(node: Any) -> ChangeRecord:
    data = dict(node)
    at = data.get("at")
    return ChangeRecord(ontology=data["ontology"], version=data["version"], author=data["author"],
                        at=at.iso_format() if hasattr(at, "iso_format") else str(at),
                        operation=data["operation"], arguments=json.loads(data["arguments"]), why=data["why"],
                        nodes=data.get("nodes", 0), relationships=data.get("relationships", 0),
                        violations=data.get("violations", 0), ontology_version=data.get("ontologyVersion"),
                        inverse=json.loads(data["inverse"]) if data.get("inverse") else None,
                        author_note=data.get("authorNote"))


# Change-log argument names whose values are term keys (IRIs or names), which history by term matches.
TERM_ARGUMENTS = ("term", "name", "new_name", "new_iri", "parent", "domain", "range", "relationship_type")
# Arguments that list term IRIs: the terms that a release merge added.
LIST_TERM_ARGUMENTS = ("added",)


def _term_list(arguments: dict, names: tuple[str, ...]) -> list[str]:
    """Return the term IRIs listed under `names` in a change's arguments."""
    return [item for name in names if isinstance(arguments.get(name), list)
            for item in arguments[name] if isinstance(item, str)]

# Relationship types that kg-service's own ontology nodes use; ontology properties may not take them.
INTERNAL_RELATIONSHIP_TYPES = frozenset({"SUBCLASS_OF", "DOMAIN", "RANGE", "DECLARES"})


def _check_not_protected(model: OntologyModel, iri: str, action: str = "renamed") -> None:
    """Reject renaming, deprecating or re-typing the top class and the core terms that kg-service's queries name.

    `action` is "renamed", "deprecated" or "given a new domain or range". Relabelling stays
    allowed because no query reads labels.
    """
    mapping = model.classes.get(iri)
    if mapping is not None and (mapping.label == ENTITY_LABEL or mapping.label in RESERVED_LABELS):
        raise OntologyError(f"class {mapping.label!r} cannot be {action}: every instance node carries this label "
                            "and kg-service looks nodes up by it")
    if mapping is not None:
        kind, name = "class", mapping.label
        instead = f"add a subclass with addClass(parent: {name!r}) and use it in new data"
    elif iri in model.relationships:
        kind, name = "relationship type", model.relationships[iri].type
        instead = "add a new property with addProperty and write new data with it"
    elif iri in model.properties:
        kind, name = "property", model.properties[iri].name
        instead = "add a new property with addProperty and write new data with it"
    else:
        return
    features = features_using(model.iri, name)
    if features:
        raise OntologyError(f"{kind} {name!r} cannot be {action}: kg-service queries it by this name for "
                            f"{'; '.join(features)}, which would silently return wrong results. To change "
                            f"how it reads, relabel it (relabelTerm with labelEn or labelZh); for a new "
                            f"meaning, {instead}")
