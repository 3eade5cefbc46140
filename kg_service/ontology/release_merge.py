"""Merge the terms that a new release of an ontology file adds into a stored copy that experts edited.

Loading a file replaces the stored ontology only while no expert has edited it since its last load.
Once experts have edited it, a load adds, in one logged `mergeRelease` change, the terms that the
file declares and that the stored copy has never had since that load: classes, properties,
individuals and every statement about them. Everything else stays as the experts left it:

- statements about terms that the stored copy has (labels, domains, ranges, parents) keep their
  stored, edited version;
- a term that the stored copy had since the last load and lacks now (an expert renamed it away,
  or removed it) is not added again. A new term's references to a renamed term follow the rename;
- a new term goes through the checks of an expert's addClass or addProperty: valid name, no name
  or label that collides with a stored term (ignoring case), no dangling parent, domain or range,
  no subclass cycle. A term that fails is left out and named in a warning with the reason.

The `Ontology` node keeps the change-log version of its last full load, so later loads still see
the expert edits and merge again. A file that adds nothing writes nothing.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass, field
from pathlib import Path

from rdflib import BNode, Graph, Literal, URIRef
from rdflib.namespace import OWL, RDF, RDFS

from kg_service.errors import OntologyError
from kg_service.graph.store import GraphStore
from kg_service.ontology.editing import (ChangeRecord, OntologyEditor, _copy, bump_version, check_local_name,
                                         count_of, find_subclass_cycle)
from kg_service.ontology.model import OntologyModel, local_name
from kg_service.ontology.storage import store_ontology

logger = logging.getLogger(__name__)

MERGE_OPERATION = "mergeRelease"
MERGE_AUTHOR = "kg-service ontology load"
CLASS_TYPES = (OWL.Class, RDFS.Class)
# Statements whose objects must be classes of the merged ontology, by term kind, with the role named in messages.
REFERENCES = {
    "class": ((RDFS.subClassOf, "superclass"),),
    "object": ((RDFS.domain, "domain"), (RDFS.range, "range")),
    "datatype": ((RDFS.domain, "domain"),),
}


@dataclass
class ReleaseMerge:
    """Outcome of merging a file into an edited stored ontology."""

    # The stored ontology after the merge (as it was when nothing was added).
    model: OntologyModel
    # Change-log entries since the last full load that experts made, merges not counted.
    expert_edits: int
    added: list[str] = field(default_factory=list)
    # IRI of each new term that failed a check, with the reason.
    left_out: dict[str, str] = field(default_factory=dict)
    # IRI of each file term that the stored copy lacks because an expert renamed or removed it, with how.
    not_readded: dict[str, str] = field(default_factory=dict)
    # Change-log version of the merge, None when nothing was added.
    version: int | None = None


def merge_release(store: GraphStore, path: Path, release: OntologyModel, stored: Graph, expected_version: int,
                  loaded_at: int) -> ReleaseMerge:
    """Add the terms of `release` that the edited stored copy `stored` never had since its last load.

    `expected_version` is the latest change-log version and `loaded_at` the version of the last full
    load. The merge is stored and logged in one transaction, which fails with OntologyConflictError
    when the change log moved past `expected_version` meanwhile.
    """
    editor = OntologyEditor(store, release.iri)
    records = editor.history(after_version=loaded_at)
    expert_edits = sum(1 for record in records if record.operation != MERGE_OPERATION)
    renames = _renames(records, stored)
    candidates = _new_terms(release.graph, stored, release.iri)
    not_readded = _previously_stored_terms(store, release.iri, loaded_at, candidates, renames)
    merged, added, left_out = _merge_terms(editor, release, stored, [term for term in candidates
                                                                       if term not in not_readded], renames)
    if not_readded:
        logger.info("did not add %s of %s again, because the stored ontology %s had them since its last load: %s",
                    count_of(len(not_readded), "term"), path, release.iri,
                    "; ".join(f"{local_name(iri)}: {reason}" for iri, reason in sorted(not_readded.items())))
    if left_out:
        logger.warning("left %s of %s out of the merge into the stored ontology %s:\n%s\nFix the file or the "
                       "stored ontology (ontology editing) and load the file again",
                       count_of(len(left_out), "new term"), path, release.iri,
                       "\n".join(f"- {iri}: {reason}" for iri, reason in sorted(left_out.items())))
    if not added:
        return ReleaseMerge(OntologyModel.from_graph(stored, release.iri), expert_edits, [], left_out, not_readded)

    old_info = stored.value(URIRef(release.iri), OWL.versionInfo)
    new_info = bump_version(str(old_info) if old_info is not None else None)
    merged.set((URIRef(release.iri), OWL.versionInfo, Literal(new_info)))
    model = OntologyModel.from_graph(merged, release.iri)
    # Terms that another ontology maps stay metadata only, as at their first load.
    editor._drop_foreign_collisions(model)
    arguments = {"file": str(path), "added": added, "leftOut": left_out, "notReadded": not_readded}
    change = {"ontology": release.iri, "author": MERGE_AUTHOR, "operation": MERGE_OPERATION,
              "why": f"added {count_of(len(added), 'term')} of {path} that the stored, edited copy lacked",
              "term": None, "arguments": json.dumps(arguments, ensure_ascii=False, sort_keys=True),
              "nodes": 0, "relationships": 0, "violations": 0, "ontologyVersion": new_info,
              "previousOntologyVersion": str(old_info) if old_info is not None else None, "inverse": None,
              "snapshot": merged.serialize(format="turtle"), "baseline": None}
    store_ontology(store, model, source=str(path), change=change, expected_version=expected_version,
                   loaded_at=loaded_at)
    return ReleaseMerge(model, expert_edits, added, left_out, not_readded, expected_version + 1)


def _new_terms(release: Graph, stored: Graph, ontology_iri: str) -> list[str]:
    """Return the IRI subjects of `release` that are not subjects of `stored`, the ontology header excepted."""
    subjects = {str(subject) for subject in release.subjects() if isinstance(subject, URIRef)}
    subjects.discard(ontology_iri)
    return sorted(iri for iri in subjects if (URIRef(iri), None, None) not in stored)


def _renames(records: list[ChangeRecord], stored: Graph) -> dict[str, tuple[str, int]]:
    """Return, for each IRI that a logged rename replaced, its current IRI and the rename's version.

    Chains (A -> B -> C) resolve to the last name. An old IRI that the stored copy declares again
    (a rename back, or a new term of the old name) is left out, because it exists.
    """
    renames: dict[str, tuple[str, int]] = {}
    for record in records:
        if record.operation != "renameTerm" or record.inverse is None:
            continue
        arguments = record.inverse["arguments"]
        new_iri = arguments["term"]
        old_iri = new_iri[:len(new_iri) - len(local_name(new_iri))] + arguments["new_name"]
        for earlier, (target, version) in list(renames.items()):
            if target == old_iri:
                renames[earlier] = (new_iri, version)
        renames[old_iri] = (new_iri, record.version)
    return {old: target for old, target in renames.items()
            if (URIRef(old), None, None) not in stored and old != target[0]}


def _previously_stored_terms(store: GraphStore, ontology_iri: str, loaded_at: int, candidates: list[str],
                             renames: dict[str, tuple[str, int]]) -> dict[str, str]:
    """Return the candidates that the stored copy had at some change-log version since its last load.

    A renamed term is found through the rename. Any other is looked up in the copies of the
    ontology that the change log keeps: the copy after each change since the last load, and the
    copy before change 1 when the last load came before any change.
    """
    previous = {iri: f"an expert renamed it to {local_name(renames[iri][0])} in change {renames[iri][1]}"
                for iri in candidates if iri in renames}
    remaining = [iri for iri in candidates if iri not in previous]
    if not remaining:
        return previous

    rows = store.read("MATCH (c:OntologyChange {ontology: $iri}) WHERE c.version >= $first "
                      "RETURN c.version AS version, c.snapshot AS snapshot, "
                      "CASE WHEN c.version = 1 AND $loaded = 0 THEN c.baseline END AS baseline ORDER BY c.version",
                      {"iri": ontology_iri, "first": max(loaded_at, 1), "loaded": loaded_at})
    last_seen: dict[str, int] = {}
    for row in rows:
        for text, version in ((row["baseline"], row["version"] - 1), (row["snapshot"], row["version"])):
            # Parsing is skipped for a copy whose text cannot name any candidate, which is the usual case.
            if not text or not any(local_name(iri) in text for iri in remaining):
                continue
            copy = Graph()
            copy.parse(data=text, format="turtle")
            for iri in remaining:
                if (URIRef(iri), None, None) in copy:
                    last_seen[iri] = version
    for iri, version in last_seen.items():
        previous[iri] = f"the stored copy had it at change-log version {version} and an expert removed it since"
    return previous


def _merge_terms(editor: OntologyEditor, release: OntologyModel, stored: Graph, candidates: list[str],
                 renames: dict[str, tuple[str, int]]) -> tuple[Graph, list[str], dict[str, str]]:
    """Add each candidate that passes the checks to a copy of `stored`; return it, the added IRIs and the rest.

    A candidate whose parent, domain or range is another candidate waits until that one is decided,
    so the order of the file does not matter.
    """
    merged = _copy(stored)
    for prefix, namespace in release.graph.namespaces():
        merged.bind(prefix, namespace, override=False)
    base = OntologyModel.from_graph(_copy(merged), release.iri)
    added: list[str] = []
    left_out: dict[str, str] = {}
    pending = list(candidates)
    while pending:
        waiting: dict[str, str] = {}
        for term in pending:
            trial = _copy(merged)
            for triple in _term_statements(release.graph, term, renames):
                trial.add(triple)
            trial_model = OntologyModel.from_graph(trial, release.iri)
            undecided = {iri for iri in pending if iri not in added and iri not in left_out}
            problem, waits = _term_problem(editor, term, release, base, trial_model, undecided)
            if problem is None:
                merged, base = trial, OntologyModel.from_graph(_copy(trial), release.iri)
                added.append(term)
            elif waits:
                waiting[term] = problem
            else:
                left_out[term] = problem
        if len(waiting) == len(pending):
            left_out.update(waiting)
            break
        pending = list(waiting)
    return merged, added, left_out


def _term_statements(graph: Graph, term: str, renames: dict[str, tuple[str, int]]) -> list[tuple]:
    """Return the statements about `term` and the blank nodes it reaches, with renamed IRIs replaced."""

    def current(node):
        return URIRef(renames[str(node)][0]) if isinstance(node, URIRef) and str(node) in renames else node

    statements, seen, frontier = [], set(), [URIRef(term)]
    while frontier:
        node = frontier.pop()
        if node in seen:
            continue
        seen.add(node)
        for subject, predicate, value in graph.triples((node, None, None)):
            statements.append((subject, current(predicate), current(value)))
            if isinstance(value, BNode):
                frontier.append(value)
    return statements


def _term_problem(editor: OntologyEditor, term: str, release: OntologyModel, base: OntologyModel,
                  trial: OntologyModel, pending: set[str]) -> tuple[str | None, bool]:
    """Return why `term` cannot be merged (None when it can) and whether it waits for a pending term.

    `base` is the merged ontology so far and `trial` the same with `term` added.
    """
    kind = _declared_kind(release.graph, term)
    if kind is None:
        # Annotation properties and individuals map to no label, type or property name.
        return None, False
    mapping = {"class": trial.classes, "object": trial.relationships, "datatype": trial.properties}[kind].get(term)
    if mapping is None:
        reasons = "; ".join(skip.reason for skip in trial.skipped if skip.iri == term) or "it could not be mapped"
        return f"it is not mapped to a graph name: {reasons}", False

    for predicate, role in REFERENCES[kind]:
        for value in trial.graph.objects(URIRef(term), predicate):
            if not isinstance(value, URIRef) or str(value) in trial.classes:
                continue
            if str(value) in pending:
                return f"its {role} {local_name(str(value))} is a new class that could not be merged", True
            # A class that the file does not declare either stays unchecked, as on a normal load.
            if _declared_kind(release.graph, str(value)) == "class":
                return (f"its {role} {value} is not a class of the stored ontology: an expert renamed or removed "
                        "it, or the merge left it out"), False

    try:
        _check_names(editor, kind, mapping, base)
    except OntologyError as error:
        return str(error), False
    cycle = find_subclass_cycle(trial)
    if cycle:
        return f"it would create a subclass cycle: {' -> '.join(local_name(iri) for iri in cycle)}", False
    return None, False


def _declared_kind(graph: Graph, term: str) -> str | None:
    """Return 'class', 'object' or 'datatype' for a term that `graph` declares as one, else None."""
    subject = URIRef(term)
    if any((subject, RDF.type, kind) in graph for kind in CLASS_TYPES):
        return "class"
    if (subject, RDF.type, OWL.ObjectProperty) in graph:
        return "object"
    if (subject, RDF.type, OWL.DatatypeProperty) in graph:
        return "datatype"
    return None


def _check_names(editor: OntologyEditor, kind: str, mapping, base: OntologyModel) -> None:
    """Raise OntologyError when the term's names fail the checks of addClass or addProperty against `base`."""
    if kind == "class":
        check_local_name(mapping.label, "class name")
        editor._check_free_label(mapping.label)
        editor._check_no_case_variant(base, mapping.label)
        editor._check_unique_texts(base, mapping.labels, exclude=None)
        return

    name = local_name(mapping.iri)
    check_local_name(name, "property name")
    editor._check_free_label(name)
    editor._check_no_case_variant(base, name)
    if kind == "datatype":
        editor._check_free_property(mapping.name)
        editor._check_free_type(mapping.name)
    else:
        check_local_name(mapping.type, "relationship type")
        editor._check_free_property(name)
        editor._check_free_type(mapping.type)
        editor._check_type_no_case_variant(base, mapping.type)
    editor._check_unique_property_texts(base, mapping.labels)
