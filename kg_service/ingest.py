"""Ingestion use cases shared by the CLI, the quick start and the tests.

Each function reads and checks a whole source before the first write, then writes through
the batched writer, so bad input leaves the graph as it was.
"""

from __future__ import annotations

import functools
import json
import logging
from pathlib import Path
from typing import TYPE_CHECKING, NamedTuple

from rdflib import Graph, Literal, URIRef
from rdflib.compare import isomorphic
from rdflib.namespace import OWL

from kg_service.config import Settings, find_project_root
from kg_service.errors import MappingError, OntologyError
from kg_service.graph.store import GraphStore
from kg_service.graph.writer import BatchedWriter, WriteProgress, WriteReport
from kg_service.ontology.model import KG_ONTOLOGY_IRI, OntologyModel, OntologySummary
from kg_service.ontology.orphans import OrphanedTerm, find_orphaned_data
from kg_service.ontology.parsing import parse_ontology_file
from kg_service.ontology.schema import GraphSchema
from kg_service.ontology.storage import export_ontology, ontology_load_state, store_ontology

if TYPE_CHECKING:
    from kg_service.ontology.editing import DataChange

logger = logging.getLogger(__name__)


class IngestResult(NamedTuple):
    """Counts of what one ingestion read and wrote."""

    source: Path
    rows: int
    encoding: str
    report: WriteReport
    details: dict


CORE_ONTOLOGY_FILE = find_project_root() / "ontology" / "kg-core.ttl"


@functools.lru_cache(maxsize=1)
def _core_names() -> tuple[dict[str, tuple[str, str]], dict[str, tuple[str, str]]]:
    """Labels and relationship types of the kg-service core ontology, reserved for it."""
    if not CORE_ONTOLOGY_FILE.is_file():
        return {}, {}
    model = OntologyModel.from_graph(parse_ontology_file(CORE_ONTOLOGY_FILE))
    return ({mapping.label: (iri, model.iri) for iri, mapping in model.classes.items()},
            {rel.type: (iri, model.iri) for iri, rel in model.relationships.items()})


def _stored_names(store: GraphStore, ontology_iri: str) -> tuple[dict, dict]:
    labels = {row["name"]: (row["iri"], row["ontology"]) for row in store.read(
        "MATCH (c:OntologyClass) WHERE c.ontology <> $iri RETURN c.nodeLabel AS name, c.iri AS iri, "
        "c.ontology AS ontology", {"iri": ontology_iri})}
    types = {row["name"]: (row["iri"], row["ontology"]) for row in store.read(
        "MATCH (p:OntologyProperty {kind: 'object'}) WHERE p.ontology <> $iri RETURN p.relationshipType AS name, "
        "p.iri AS iri, p.ontology AS ontology", {"iri": ontology_iri})}
    return labels, types


def load_ontologies(store: GraphStore, paths: list[Path], *, replace: bool = False, author: str | None = None,
                    why: str | None = None, undo_migrations: bool = False,
                    keep_orphans: bool = False) -> list[OntologySummary]:
    """Parse every file first, then store each; a parse error leaves the stored ontologies unchanged.

    A class or object property whose label or relationship type is already mapped by another
    ontology is kept as metadata only. The core ontology's names are reserved for it whatever
    the load order, so importing IOF or AAS never changes the labels that the loaders write.

    An ontology that domain experts edited since it was last loaded keeps every edit, unless
    `replace` is true: the load only adds the terms of the file that the stored copy never had
    since that load, logged as one `mergeRelease` change, and warns (see
    `kg_service.ontology.release_merge`). `replace` discards the edits and needs `author` and `why`,
    which the change log records. Whenever a load changes an ontology that has a change log, the
    load is logged as a `loadOntology` change, so the log and `owl:versionInfo` keep counting up.

    A replace restores the ontology's terms but not the instance data or the stored shapes that a
    discarded rename migrated. When such a rename's term would disappear, the replace raises
    OntologyError listing those renames, unless `undo_migrations` is true: then their inverses are
    applied first, newest first and one transaction each.

    A replace that discards edits also checks the classes and object properties that the file
    lacks. When instance nodes or relationships still use one (an expert added the class and loaders
    wrote instances of it), it raises OntologyError naming each term with its count before anything
    is written, unless `keep_orphans` is true: then the data stays under the undeclared label or
    relationship type, and the change log records those terms and counts.
    """
    if replace:
        from kg_service.ontology.editing import check_free_text

        check_free_text(author, "author")
        check_free_text(why, "why")
    # A file without an owl:Ontology header is named by its absolute path, so two such files never replace each other.
    models = [(path, OntologyModel.from_graph(parse_ontology_file(path), Path(path).resolve().as_uri()))
              for path in paths]
    for path, model in models:
        _check_no_subclass_cycle(path, model)
    core_labels, core_types = _core_names()
    summaries = []
    for path, model in models:
        labels, types = _stored_names(store, model.iri)
        if model.iri != KG_ONTOLOGY_IRI:
            labels |= core_labels
            types |= core_types
        model.drop_collisions(labels, types)
        summaries.append(_store_unless_edited(store, path, model, replace, author, why, undo_migrations,
                                              keep_orphans))
    return summaries


def _store_unless_edited(store: GraphStore, path: Path, model: OntologyModel, replace: bool, author: str | None,
                         why: str | None, undo_migrations: bool = False,
                         keep_orphans: bool = False) -> OntologySummary:
    """Store `model`, or merge its new terms when experts edited the stored copy since the last load.

    Return the summary of what is stored.
    """
    from kg_service.ontology.editing import bump_version

    stored, latest, loaded_at = ontology_load_state(store, model.iri)
    if not stored or latest == 0:
        store_ontology(store, model, source=str(path))
        return model.summary()

    current = export_ontology(store, model.iri)
    if _same_terms(current, model.graph, model.iri):
        logger.info("ontology %s in %s is already stored with the same statements; left it as it is (change-log "
                    "version %d)", model.iri, path, latest)
        return model.summary()

    edits = latest - loaded_at
    if edits and not replace:
        return _merge_into_edited(store, path, model, current, latest, loaded_at)

    renames: list[DataChange] = []
    orphans: list[OrphanedTerm] = []
    if edits:
        # Both checks run before the first write, so a rejected replace leaves the graph as it was.
        renames = _discarded_data_changes(store, path, model, loaded_at, undo_migrations)
        # The undos move the data of the renamed terms back to names that the file declares.
        orphans = _check_orphaned_data(store, path, model, keep_orphans, {change.new_iri for change in renames})
    if renames:
        _undo_renames(store, path, model, renames, author, why)
        # The undos are logged changes too, so the state is read again. The replace is logged even when
        # the undos alone restored the file's terms, so that later loads count edits from here.
        _, latest, loaded_at = ontology_load_state(store, model.iri)
        current = export_ontology(store, model.iri)
        edits = latest - loaded_at

    # The log continues from the stored version, so owl:versionInfo never goes back to the file's.
    old_info = current.value(URIRef(model.iri), OWL.versionInfo)
    new_info = bump_version(str(old_info) if old_info is not None else None)
    model.graph.set((URIRef(model.iri), OWL.versionInfo, Literal(new_info)))
    reason = why.strip() if replace and why else f"reloaded from {path}, which changed since the last load"
    arguments = {"file": str(path), "replace": replace, "discardedEdits": edits}
    if orphans:
        arguments["keptOrphans"] = {orphan.name: orphan.count for orphan in orphans}
    change = {"ontology": model.iri, "author": author.strip() if replace and author else "kg-service ontology load",
              "operation": "loadOntology", "why": reason, "term": None, "arguments": json.dumps(arguments),
              "nodes": 0, "relationships": 0, "violations": 0, "ontologyVersion": new_info,
              "previousOntologyVersion": str(old_info) if old_info is not None else None, "inverse": None,
              "snapshot": model.graph.serialize(format="turtle"), "baseline": None}
    store_ontology(store, model, source=str(path), change=change, expected_version=latest)
    if edits:
        logger.warning("replaced the stored ontology %s with %s and discarded %d expert %s; logged as change %d",
                       model.iri, path, edits, "edit" if edits == 1 else "edits", latest + 1)
    return model.summary()


def _merge_into_edited(store: GraphStore, path: Path, model: OntologyModel, current: Graph, latest: int,
                       loaded_at: int) -> OntologySummary:
    """Add to the edited stored copy the terms that `model` adds, keep every expert edit, and return its summary."""
    from kg_service.ontology.release_merge import merge_release

    merge = merge_release(store, path, model, current, latest, loaded_at)
    edits = f"{merge.expert_edits} {'edit' if merge.expert_edits == 1 else 'edits'}"
    replace_hint = (f"To load {path} as it is and discard the edits on purpose, run 'kg-service ontology replace "
                    f"{path} --author NAME --why TEXT' or call load_ontologies with replace=True, author and why")
    if merge.added:
        logger.warning("merged %d new %s of %s into the stored ontology %s as change-log version %d and kept the %s "
                       "that domain experts made to it since it was last loaded; statements of the file about terms "
                       "that the stored copy already has were not loaded. %s", len(merge.added),
                       "term" if len(merge.added) == 1 else "terms", path, model.iri, merge.version, edits,
                       replace_hint)
    else:
        logger.warning("kept the stored ontology %s instead of loading %s, because domain experts made %s to it "
                       "since it was last loaded (change-log version %d), and the file adds no term that could be "
                       "merged. %s", model.iri, path, edits, latest, replace_hint)
    return merge.model.summary()


def _discarded_data_changes(store: GraphStore, path: Path, model: OntologyModel, loaded_at: int,
                            undo: bool) -> list[DataChange]:
    """Return the renames that a replace would discard and that left data or shapes behind, newest first.

    Return an empty list when no such rename's term would disappear. Otherwise raise OntologyError
    listing them all, unless `undo`.
    """
    from kg_service.ontology.editing import OntologyEditor, count_of

    changes = OntologyEditor(store, model.iri).data_changes(loaded_at, model.graph)
    if not any(change.stale for change in changes):
        return []

    if not undo:
        lines = "\n".join(f"- {change.describe()}; undo with {change.undo_call()}" for change in changes)
        raise OntologyError(
            f"{path}: the replace was rejected, because {count_of(len(changes), 'discarded change')} of ontology "
            f"{model.iri} also changed instance data or stored shapes, which a replace does not restore. Design "
            f"checks and loaders would then use terms that no longer exist:\n{lines}\nUndo them first, newest "
            "first, as listed, or run the replace again with --undo-migrations (load_ontologies(..., "
            "undo_migrations=True)) to undo them automatically")
    return changes


def _undo_renames(store: GraphStore, path: Path, model: OntologyModel, changes: list[DataChange],
                  author: str | None, why: str | None) -> None:
    """Apply the inverses of `changes` in their order, one transaction and one change-log entry each."""
    from kg_service.ontology.editing import OntologyEditor

    logger.warning("undoing %d discarded %s of %s before replacing it with %s", len(changes),
                   "rename" if len(changes) == 1 else "renames", model.iri, path)
    OntologyEditor(store, model.iri).undo_changes(changes, why=f"undone before 'ontology replace': {why.strip()}",
                                                  author=author.strip())


def _check_orphaned_data(store: GraphStore, path: Path, model: OntologyModel, keep: bool,
                         restored: set[str]) -> list[OrphanedTerm]:
    """Return the terms that `model` lacks but instance data uses, leaving out the IRIs in `restored`.

    Raise OntologyError naming each term with its count unless `keep`. With `keep`, log them.
    """
    orphans = [orphan for orphan in find_orphaned_data(store, model.iri, model) if orphan.iri not in restored]
    if not orphans:
        return []

    lines = "\n".join(f"- {orphan.describe()}" for orphan in orphans)
    if not keep:
        raise OntologyError(
            f"{path}: the replace was rejected, because {path} lacks {len(orphans)} "
            f"{'term' if len(orphans) == 1 else 'terms'} of ontology {model.iri} that instance data still uses. "
            f"After the replace, no ontology would declare their labels or relationship types, so loaders, design "
            f"checks and GraphQL would no longer know them:\n{lines}\nAdd these terms to {path} and run the "
            "replace again, or run it with --keep-orphans (load_ontologies(..., keep_orphans=True)) to keep the "
            "data under the undeclared names. Nodes keep their other labels, so they still count as instances "
            "of the superclasses that the file declares")

    logger.warning("replacing %s with %s keeps instance data under %d undeclared %s (--keep-orphans):\n%s",
                   model.iri, path, len(orphans), "name" if len(orphans) == 1 else "names", lines)
    return orphans


def _same_terms(stored: Graph, loaded: Graph, iri: str) -> bool:
    """Return True when the two graphs hold the same statements apart from owl:versionInfo."""

    def without_version(graph: Graph) -> Graph:
        copy = Graph()
        for triple in graph.triples((None, None, None)):
            if triple[:2] != (URIRef(iri), OWL.versionInfo):
                copy.add(triple)
        return copy

    return isomorphic(without_version(stored), without_version(loaded))


def _check_no_subclass_cycle(path: Path, model: OntologyModel) -> None:
    """Raise OntologyError naming the classes of an rdfs:subClassOf cycle, which no label hierarchy can follow."""
    from kg_service.ontology.editing import find_subclass_cycle

    cycle = find_subclass_cycle(model)
    if cycle:
        names = " -> ".join(iri.rsplit("#", 1)[-1].rsplit("/", 1)[-1] for iri in cycle)
        raise OntologyError(f"{path}: the classes form an rdfs:subClassOf cycle ({names}); remove one of these "
                            "subClassOf statements and load the file again")


def current_schema(store: GraphStore) -> GraphSchema:
    schema = GraphSchema.from_store(store)
    if schema.is_empty:
        raise OntologyError("no ontology is loaded in Neo4j; run 'kg-service ontology load ontology/kg-core.ttl' first")
    return schema


def _checked_mapping(mapping_path: Path, expected: type, kind: str):
    """Load a mapping file and check that it is of the kind this ingestion reads."""
    from loaders.mapping import load_mapping

    mapping = load_mapping(mapping_path)
    if not isinstance(mapping, expected):
        raise MappingError(f"expected a '{kind}' mapping, got kind {mapping.kind!r}", path=str(mapping_path),
                           hint=f"load this data with 'kg-service ingest {mapping.kind}' or pass a {kind} mapping")
    return mapping


def _write(store: GraphStore, settings: Settings, schema: GraphSchema, load,
           progress: WriteProgress | None) -> WriteReport:
    writer = BatchedWriter(store, schema, settings.batch_size, progress)
    return writer.write(load.batch.nodes.values(), load.batch.relationships.values())


def ingest_workorders(store: GraphStore, settings: Settings, csv_path: Path, mapping_path: Path,
                      encoding: str | None = None, progress: WriteProgress | None = None) -> IngestResult:
    from loaders.mapping import WorkOrderMapping
    from loaders.workorders import WorkOrderReader

    mapping = _checked_mapping(mapping_path, WorkOrderMapping, "workorders")
    # The schema is read before the file, so a graph without an ontology fails before any parsing.
    schema = current_schema(store)
    load = WorkOrderReader(mapping, encoding, mapping_path).read(csv_path)
    report = _write(store, settings, schema, load, progress)
    return IngestResult(csv_path, load.rows, load.encoding, report, {"failure_modes": dict(load.failure_modes)})


def ingest_telemetry(store: GraphStore, settings: Settings, csv_path: Path, mapping_path: Path,
                     encoding: str | None = None, progress: WriteProgress | None = None,
                     file_format: str | None = None, time_origin=None, row_progress=None) -> IngestResult:
    """Read a telemetry file (wide or long CSV, text or Parquet), write its records, then store its samples.

    The Parquet samples are committed only after the graph write succeeds, so bad input changes
    neither the graph nor the stored samples. The file's failure events replace those of the same
    source and file that it no longer yields (see `loaders.timeseries_events`).
    """
    from loaders.mapping import TelemetryMapping
    from loaders.telemetry import TelemetryReader
    from loaders.timeseries import TimeseriesReader, detect_format, remove_dropped_assets
    from loaders.timeseries_events import replace_file_events, split_events

    mapping = _checked_mapping(mapping_path, TelemetryMapping, "telemetry")
    schema = current_schema(store)
    chosen = detect_format(Path(csv_path), mapping, file_format)
    if chosen == "csv" and mapping.layout == "wide" and time_origin is None:
        load = TelemetryReader(mapping, settings.telemetry_dir, encoding, mapping_path).read(csv_path)
        details = {"format": "csv", "failure_modes": dict(load.failure_modes), "failed_assets": load.failed_assets,
                   "end_of_life_events": load.end_of_life_events}
        if row_progress is not None:
            row_progress(load.rows)
    else:
        load = TimeseriesReader(mapping, settings.telemetry_dir, encoding, mapping_path, chosen, time_origin,
                                row_progress).read(csv_path)
        details = load.details
    # Failure events go last, because they point at the file's assets and failure modes. They are checked
    # against the ontology first, so an event the ontology rejects stops the load before anything is written.
    events = split_events(load.batch, Path(csv_path).stem)
    BatchedWriter(store, schema).validate(list(events.nodes.values()), list(events.relationships.values()))
    try:
        report = _write(store, settings, schema, load, progress)
        written = replace_file_events(store, schema, mapping, Path(csv_path).stem, events, settings.batch_size)
        report = WriteReport(*(total + part for total, part in zip(report, written.report)))
        details["removed_events"] = written.deleted
        # Loading a file again replaces its samples, so the summaries and events of assets no longer in it go too.
        details["removed_nodes"] = remove_dropped_assets(store, mapping, load.dropped_assets)
    except BaseException:
        load.samples.abort()
        raise
    details["dropped_assets"] = load.dropped_assets
    details["samples"] = str(load.samples.commit())
    return IngestResult(csv_path, load.rows, load.encoding, report, details)


def ingest_shipments(store: GraphStore, settings: Settings, csv_path: Path, mapping_path: Path,
                     encoding: str | None = None, progress: WriteProgress | None = None) -> IngestResult:
    """Read and check a whole delivery-history file, then write it; bad input writes nothing."""
    from loaders.mapping import ShipmentMapping
    from loaders.shipments import ShipmentReader

    mapping = _checked_mapping(mapping_path, ShipmentMapping, "shipments")
    schema = current_schema(store)
    load = ShipmentReader(mapping, encoding, mapping_path).read(csv_path)
    report = _write(store, settings, schema, load, progress)
    return IngestResult(csv_path, load.rows, load.encoding, report,
                        {"suppliers": load.suppliers, "parts": load.parts, "unknown_values": load.unknown_summary()})
