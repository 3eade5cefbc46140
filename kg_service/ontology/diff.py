"""Compare two ontologies term by term: classes, properties, labels, definitions, domains and ranges.

Both sides are rdflib graphs mapped with `OntologyModel`, so the comparison ignores the order and
formatting of the files. A side is a file path, `stored:` (the stored core ontology) or
`stored:IRI` (another stored ontology), and a stored side may name a version of its change log:
`stored:@2` is the core ontology as it was after change 2, `stored:@0` before the first change.
"""

from __future__ import annotations

import json
import logging
import re
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from rdflib import BNode, Graph, URIRef
from rdflib.namespace import OWL

from kg_service.ontology.model import KG_ONTOLOGY_IRI, OntologyModel

if TYPE_CHECKING:
    from kg_service.graph.store import GraphStore

logger = logging.getLogger(__name__)

STORED_PREFIX = "stored:"
# A stored side may end in '@N', a version of the ontology's change log.
VERSION_SUFFIX = re.compile(r"@(\d+)$")


@dataclass
class FieldChange:
    """One field of a term that differs between the two sides."""

    field: str
    old: Any
    new: Any


@dataclass
class TermChange:
    """A term present on both sides whose fields differ."""

    iri: str
    kind: str
    changes: list[FieldChange]


@dataclass
class TermRef:
    """A term present on one side only."""

    iri: str
    kind: str
    name: str


@dataclass
class OntologyDiff:
    """Differences from side A (old) to side B (new)."""

    old: str
    new: str
    old_version: str | None = None
    new_version: str | None = None
    added: list[TermRef] = field(default_factory=list)
    removed: list[TermRef] = field(default_factory=list)
    changed: list[TermChange] = field(default_factory=list)
    triples_only_in_old: int = 0
    triples_only_in_new: int = 0

    @property
    def is_empty(self) -> bool:
        return not (self.added or self.removed or self.changed)

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)

    def as_json(self) -> str:
        return json.dumps(self.as_dict(), ensure_ascii=False, indent=2)

    def as_text(self) -> str:
        lines = [f"--- {self.old} (version {self.old_version or '-'})",
                 f"+++ {self.new} (version {self.new_version or '-'})"]
        for term in self.added:
            lines.append(f"+ {term.kind} {term.name} <{term.iri}>")
        for term in self.removed:
            lines.append(f"- {term.kind} {term.name} <{term.iri}>")
        for term in self.changed:
            lines.append(f"~ {term.kind} <{term.iri}>")
            for change in term.changes:
                lines.append(f"    {change.field}: {change.old!r} -> {change.new!r}")
        if self.is_empty:
            lines.append("no differences in classes or properties")
        lines.append(f"triples only in old: {self.triples_only_in_old}, only in new: {self.triples_only_in_new}")
        return "\n".join(lines)


def load_side(spec: str, store: "GraphStore | None") -> Graph:
    """Return the graph that `spec` names: a file path, 'stored:' or 'stored:IRI', optionally with '@VERSION'.

    'stored:@3' is the stored core ontology as it was after change 3 of its change log, and
    'stored:@0' as it was before the first change.
    """
    if spec.startswith(STORED_PREFIX):
        from kg_service.errors import ConfigurationError
        from kg_service.ontology.storage import export_ontology

        if store is None:
            raise ConfigurationError(f"{spec!r} needs a Neo4j connection")
        iri, version = _stored_reference(spec[len(STORED_PREFIX):])
        if version is None:
            return export_ontology(store, iri)
        from kg_service.ontology.editing import OntologyEditor

        return OntologyEditor(store, iri).snapshot(version)
    from kg_service.ontology.parsing import parse_ontology_file

    return parse_ontology_file(Path(spec))


def _stored_reference(reference: str) -> tuple[str, int | None]:
    """Split 'IRI@VERSION' into the ontology IRI (default the core ontology) and the change-log version."""
    match = VERSION_SUFFIX.search(reference)
    if match is None:
        return reference or KG_ONTOLOGY_IRI, None
    return reference[:match.start()] or KG_ONTOLOGY_IRI, int(match.group(1))


def diff_graphs(old: Graph, new: Graph, old_name: str = "A", new_name: str = "B") -> OntologyDiff:
    """Compare two ontology graphs by their mapped classes and properties."""
    old_model, new_model = OntologyModel.from_graph(old), OntologyModel.from_graph(new)
    result = OntologyDiff(old=old_name, new=new_name, old_version=_version(old_model),
                          new_version=_version(new_model))
    old_terms, new_terms = _terms(old_model), _terms(new_model)
    for iri in sorted(new_terms.keys() - old_terms.keys()):
        kind, fields = new_terms[iri]
        result.added.append(TermRef(iri, kind, fields["name"]))
    for iri in sorted(old_terms.keys() - new_terms.keys()):
        kind, fields = old_terms[iri]
        result.removed.append(TermRef(iri, kind, fields["name"]))
    for iri in sorted(old_terms.keys() & new_terms.keys()):
        (old_kind, old_fields), (new_kind, new_fields) = old_terms[iri], new_terms[iri]
        changes = [FieldChange("kind", old_kind, new_kind)] if old_kind != new_kind else []
        for name in sorted(old_fields.keys() | new_fields.keys()):
            if old_fields.get(name) != new_fields.get(name):
                changes.append(FieldChange(name, old_fields.get(name), new_fields.get(name)))
        if changes:
            result.changed.append(TermChange(iri, new_kind, changes))
    old_triples = {triple for triple in old if not any(isinstance(term, BNode) for term in triple)}
    new_triples = {triple for triple in new if not any(isinstance(term, BNode) for term in triple)}
    result.triples_only_in_old = len(old_triples - new_triples)
    result.triples_only_in_new = len(new_triples - old_triples)
    return result


def _version(model: OntologyModel) -> str | None:
    value = model.graph.value(URIRef(model.iri), OWL.versionInfo)
    return str(value) if value is not None else None


def _terms(model: OntologyModel) -> dict[str, tuple[str, dict[str, Any]]]:
    terms: dict[str, tuple[str, dict[str, Any]]] = {}
    for iri, mapping in model.classes.items():
        terms[iri] = ("class", {"name": mapping.label, "parents": sorted(mapping.parents),
                                "labels": mapping.labels, "definitions": mapping.definitions,
                                "altLabels": mapping.alt_labels, "deprecated": mapping.deprecated})
    for iri, rel in model.relationships.items():
        terms[iri] = ("object property", {"name": rel.type, "domain": rel.domain, "range": rel.range,
                                          "labels": rel.labels, "definitions": rel.definitions,
                                          "deprecated": _deprecated(model, iri)})
    for iri, prop in model.properties.items():
        terms[iri] = ("datatype property", {"name": prop.name, "domain": prop.domain, "range": prop.datatype,
                                            "labels": prop.labels, "definitions": prop.definitions,
                                            "deprecated": _deprecated(model, iri)})
    return terms


def _deprecated(model: OntologyModel, iri: str) -> bool:
    return any(str(value).lower() == "true" for value in model.graph.objects(URIRef(iri), OWL.deprecated))
