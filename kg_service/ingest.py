"""Ingestion use cases shared by the CLI, the quick start and the tests.

Each function reads and checks a whole source before the first write, then writes through
the batched writer, so bad input leaves the graph as it was.
"""

from __future__ import annotations

import functools
import logging
from pathlib import Path
from typing import NamedTuple

from kg_service.config import Settings, find_project_root
from kg_service.errors import MappingError, OntologyError
from kg_service.graph.store import GraphStore
from kg_service.graph.writer import BatchedWriter, WriteProgress, WriteReport
from kg_service.ontology.model import KG_ONTOLOGY_IRI, OntologyModel, OntologySummary
from kg_service.ontology.parsing import parse_ontology_file
from kg_service.ontology.schema import GraphSchema
from kg_service.ontology.storage import store_ontology

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


def load_ontologies(store: GraphStore, paths: list[Path]) -> list[OntologySummary]:
    """Parse every file first, then store each; a parse error leaves the stored ontologies unchanged.

    A class or object property whose label or relationship type is already mapped by another
    ontology is kept as metadata only. The core ontology's names are reserved for it whatever
    the load order, so importing IOF or AAS never changes the labels that the loaders write.
    """
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
        store_ontology(store, model, source=str(path))
        summaries.append(model.summary())
    return summaries


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
    neither the graph nor the stored samples.
    """
    from loaders.mapping import TelemetryMapping
    from loaders.telemetry import TelemetryReader
    from loaders.timeseries import TimeseriesReader, detect_format

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
    try:
        report = _write(store, settings, schema, load, progress)
    except BaseException:
        load.samples.abort()
        raise
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
