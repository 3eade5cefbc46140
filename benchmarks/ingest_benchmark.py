"""Measure how fast work-order records reach Neo4j with three write strategies.

The input is one work-order CSV (by default the MaintKG case-study file with
loaders/mappings/maintkg_pdl.yaml). It is parsed once with WorkOrderReader, and the
resulting node and relationship records are written by:

1. `batched`: kg_service.graph.writer.BatchedWriter, UNWIND + MERGE, one transaction per
   `batch_size` rows, at each size given with --batch-sizes;
2. `row-by-row`: the same MERGE statements (same labels, keys and properties), one record per
   transaction (`session.execute_write` per node or relationship), on the first --limit
   records;
3. `rdflib-neo4j`: the records converted to RDF triples (one IRI per node key under
   --base-iri, rdf:type to the kg: class, datatype properties as literals, object properties as
   IRI-to-IRI triples) and added through rdflib_neo4j.Neo4jStore with its own batching.

Before every timed run the script deletes every node and relationship in the database and
loads the ontology files again (by default the core ontology), so each run starts from the same
graph. Only the write is
timed: parsing the CSV, building the RDF triples and loading the ontology are not. Graph
elements are the nodes plus relationships that the run added, counted in the database after
the write. Each configuration runs --repeats times in interleaved order, and the table reports
the median with the minimum and maximum. A last step writes the file twice with the batched
writer and checks that the second write creates nothing and leaves the graph checksum unchanged.
The database is left empty, without the ontology.

Run it against a disposable database, because it deletes all data there. With the local server:

    export KG_STATE_DIR=.kg/bench KG_BOLT_PORT=7712
    .venv/bin/kg-service neo4j start
    .venv/bin/python benchmarks/ingest_benchmark.py --output bench.json
    .venv/bin/kg-service neo4j stop

It connects like the service does (NEO4J_URI when set, else the local server under
KG_STATE_DIR), prints a Markdown table to stdout and logs progress to stderr. It needs the
`bench` extra (`pip install -e '.[bench]'`) for rdflib-neo4j.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import logging
import os
import platform
import statistics
import sys
import time
from collections import defaultdict
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from datetime import datetime, timezone
from importlib import metadata
from pathlib import Path
from urllib.parse import quote as percent_encode

from rdflib import RDF, Graph, Literal, Namespace, URIRef

from kg_service.config import find_project_root, get_settings
from kg_service.graph.checksum import graph_checksum
from kg_service.graph.identifiers import quote, quote_labels
from kg_service.graph.records import NodeRecord, RelationshipRecord
from kg_service.graph.store import GraphStore
from kg_service.graph.writer import BatchedWriter
from kg_service.ingest import load_ontologies
from kg_service.ontology.model import KG, OntologyModel, local_name
from kg_service.ontology.parsing import parse_ontology_file
from kg_service.ontology.schema import ENTITY_LABEL, GraphSchema
from loaders.mapping import WorkOrderMapping, load_mapping
from loaders.workorders import WorkOrderReader

logger = logging.getLogger("ingest_benchmark")

ROOT = find_project_root()
DEFAULT_CSV = ROOT.parent / "shared" / "data" / "maintkg_pdl" / "case_study_pdl.csv"
DEFAULT_MAPPING = ROOT / "loaders" / "mappings" / "maintkg_pdl.yaml"
DEFAULT_BASE_IRI = "https://w3id.org/kg-service/id/"
# Name and statement of the constraint that rdflib-neo4j 1.1 expects (see Neo4jStore.open).
RESOURCE_CONSTRAINT = "n10s_unique_uri"
RESOURCE_CONSTRAINT_STATEMENT = f"CREATE CONSTRAINT {RESOURCE_CONSTRAINT} IF NOT EXISTS FOR (r:Resource) REQUIRE r.uri IS UNIQUE"

# The row-by-row warm-up writes fewer records than its timed runs to keep the benchmark short. On
# the MaintKG file they include every label and relationship type, so every query is planned.
ROW_BY_ROW_WARMUP_RECORDS = 1000

Triple = tuple[URIRef, URIRef, URIRef | Literal]


@dataclass
class RunResult:
    """One timed write: wall time and what the database gained."""

    wall_s: float
    records: int
    nodes_added: int
    relationships_added: int
    triples: int | None = None

    @property
    def elements(self) -> int:
        return self.nodes_added + self.relationships_added

    @property
    def elements_per_s(self) -> float:
        return self.elements / self.wall_s

    @property
    def triples_per_s(self) -> float | None:
        return None if self.triples is None else self.triples / self.wall_s


@dataclass
class Configuration:
    """One writer setting and its timed runs."""

    writer: str
    batch_size: int
    run: Callable[[], RunResult] = field(repr=False)
    # Untimed write that runs before the timed runs. When it is unset, `run` is the warm-up.
    warmup: Callable[[], RunResult] | None = field(default=None, repr=False)
    runs: list[RunResult] = field(default_factory=list)

    @property
    def name(self) -> str:
        return f"{self.writer} (batch size {self.batch_size})"


# Graph reset


def reset_graph(store: GraphStore, ontology_paths: list[Path]) -> tuple[int, int]:
    """Wipe the graph, load the ontologies again and return the node and relationship counts."""
    store.wipe()
    load_ontologies(store, ontology_paths)
    return store.counts()


def measure(store: GraphStore, baseline: tuple[int, int], records: int, write: Callable[[], object],
            triples: int | None = None) -> RunResult:
    """Time `write` and count the nodes and relationships it added over `baseline`."""
    start = time.perf_counter()
    write()
    wall_s = time.perf_counter() - start
    nodes, relationships = store.counts()
    return RunResult(wall_s, records, nodes - baseline[0], relationships - baseline[1], triples)


# Writers


def run_batched(store: GraphStore, ontology_paths: list[Path], nodes: list[NodeRecord],
                relationships: list[RelationshipRecord], batch_size: int) -> RunResult:
    baseline = reset_graph(store, ontology_paths)
    writer = BatchedWriter(store, GraphSchema.from_store(store), batch_size)
    return measure(store, baseline, len(nodes) + len(relationships), lambda: writer.write(nodes, relationships))


def first_records(nodes: list[NodeRecord], relationships: list[RelationshipRecord],
                  limit: int | None) -> tuple[list[NodeRecord], list[RelationshipRecord]]:
    """Return about `limit` records with the node-to-relationship ratio of the whole file.

    Records come in CSV order, so the first nodes are those of the first rows. The relationships
    kept are the first ones whose two endpoints are among the kept nodes.
    """
    total = len(nodes) + len(relationships)
    if limit is None or limit >= total:
        return nodes, relationships
    node_count = max(1, round(limit * len(nodes) / total))
    kept_nodes = nodes[:node_count]
    kept_ids = {node.id for node in kept_nodes}
    kept_relationships = [rel for rel in relationships if rel.start_id in kept_ids and rel.end_id in kept_ids]
    return kept_nodes, kept_relationships[:limit - node_count]


def row_by_row_queries(schema: GraphSchema, nodes: list[NodeRecord],
                       relationships: list[RelationshipRecord]) -> tuple[dict[str, str], dict[str, str]]:
    """Build the single-record forms of the batched writer's MERGE statements, by label and by type."""
    entity = quote(ENTITY_LABEL)
    node_queries = {}
    for label in {node.label for node in nodes}:
        labels = [ENTITY_LABEL] + [name for name in schema.ancestors(label) if name != ENTITY_LABEL]
        node_queries[label] = f"MERGE (n:{entity} {{id: $id}}) SET n{quote_labels(labels)} SET n += $props"
    relationship_queries = {}
    for rel_type in {rel.type for rel in relationships}:
        schema.relationship(rel_type)
        relationship_queries[rel_type] = (
            f"MATCH (a:{entity} {{id: $start}}) MATCH (b:{entity} {{id: $end}}) "
            f"MERGE (a)-[r:{quote(rel_type, 'relationship type')}]->(b) SET r += $props RETURN count(r) AS matched")
    return node_queries, relationship_queries


def _merge_node(tx, query: str, node: NodeRecord) -> None:
    tx.run(query, id=node.id, props=node.properties).consume()


def _merge_relationship(tx, query: str, rel: RelationshipRecord) -> None:
    matched = tx.run(query, start=rel.start_id, end=rel.end_id, props=rel.properties).single()["matched"]
    if matched != 1:
        raise RuntimeError(f"relationship {rel.start_id} -[{rel.type}]-> {rel.end_id} was not written because "
                           "an endpoint node is missing; the row-by-row subset must include both endpoints")


def run_row_by_row(store: GraphStore, ontology_paths: list[Path], nodes: list[NodeRecord],
                   relationships: list[RelationshipRecord]) -> RunResult:
    baseline = reset_graph(store, ontology_paths)
    schema = GraphSchema.from_store(store)
    node_queries, relationship_queries = row_by_row_queries(schema, nodes, relationships)
    validator = BatchedWriter(store, schema)

    def write() -> None:
        # The batched writer checks the records against the ontology inside write(), so this does too.
        validator.validate(nodes, relationships)
        with store.session(read_only=False) as session:
            for node in nodes:
                session.execute_write(_merge_node, node_queries[node.label], node)
            for rel in relationships:
                session.execute_write(_merge_relationship, relationship_queries[rel.type], rel)

    return measure(store, baseline, len(nodes) + len(relationships), write)


def node_iri(base_iri: str, key: str) -> URIRef:
    return URIRef(base_iri + percent_encode(key, safe=":/"))


def build_triples(nodes: list[NodeRecord], relationships: list[RelationshipRecord], model: OntologyModel,
                  base_iri: str) -> list[Triple]:
    """Convert records to RDF triples, with all triples of one subject next to each other.

    rdflib-neo4j 1.1 buffers a subject's triples until a triple with another subject arrives, so a
    subject whose triples are spread out is written more than once. Each node's rdf:type, literals
    and outgoing object properties are therefore emitted together.
    """
    class_iris = {mapping.label: URIRef(mapping.iri) for mapping in model.classes.values()}
    relationship_iris = {mapping.type: URIRef(mapping.iri) for mapping in model.relationships.values()}
    property_iris = {mapping.name: URIRef(mapping.iri) for mapping in model.properties.values()}

    outgoing: dict[str, list[RelationshipRecord]] = defaultdict(list)
    for rel in relationships:
        if rel.properties:
            raise ValueError(f"relationship {rel.start_id} -[{rel.type}]-> {rel.end_id} has properties, which "
                             "rdflib-neo4j 1.1 cannot store; this benchmark supports relationships without properties")
        outgoing[rel.start_id].append(rel)

    triples: list[Triple] = []
    for node in nodes:
        subject = node_iri(base_iri, node.id)
        triples.append((subject, RDF.type, class_iris[node.label]))
        for name, value in node.properties.items():
            triples.append((subject, property_iris[name], Literal(value)))
        for rel in outgoing.pop(node.id, []):
            triples.append((subject, relationship_iris[rel.type], node_iri(base_iri, rel.end_id)))
    if outgoing:
        raise ValueError(f"{len(outgoing)} relationships start at nodes that are not in the records")
    return triples


def relationship_type_mappings(model: OntologyModel, relationships: list[RelationshipRecord]) -> list[tuple[str, str, str]]:
    """Return rdflib-neo4j MAP entries (prefix, local name, relationship type) for the kg: object properties used."""
    used = {rel.type for rel in relationships}
    mappings = []
    for mapping in model.relationships.values():
        if mapping.type in used:
            if not mapping.iri.startswith(str(KG)):
                raise ValueError(f"object property {mapping.iri} is outside the kg: namespace {KG}")
            mappings.append(("kg", local_name(mapping.iri), mapping.type))
    return mappings


def run_rdflib(store: GraphStore, ontology_paths: list[Path], triples: list[Triple],
               mappings: list[tuple[str, str, str]], batch_size: int, records: int) -> RunResult:
    from rdflib_neo4j import HANDLE_VOCAB_URI_STRATEGY, Neo4jStore, Neo4jStoreConfig

    baseline = reset_graph(store, ontology_paths)
    # MAP keeps local names for classes and datatype properties (WorkOrder, name) and maps each
    # kg: object property to the relationship type that kg-service uses (kg:forAsset to FOR_ASSET).
    config = Neo4jStoreConfig(custom_prefixes={"kg": Namespace(str(KG))}, custom_mappings=mappings,
                              batching=True, batch_size=batch_size,
                              handle_vocab_uri_strategy=HANDLE_VOCAB_URI_STRATEGY.MAP)
    # rdflib-neo4j prints its progress with print(); keep stdout for the results table.
    with contextlib.redirect_stdout(sys.stderr):
        # NOTE: Neo4jStore opens sessions without a database name, so it writes to the server's
        # home database. prepare_database() rejects any NEO4J_DATABASE other than 'neo4j'.
        graph = Graph(store=Neo4jStore(config=config, neo4j_driver=store.driver))

        def write() -> None:
            for triple in triples:
                graph.add(triple)
            graph.close(commit_pending_transaction=True)

        return measure(store, baseline, records, write, triples=len(triples))


# Idempotency


def check_idempotency(store: GraphStore, ontology_paths: list[Path], nodes: list[NodeRecord],
                      relationships: list[RelationshipRecord], batch_size: int) -> dict:
    """Write the records twice and report what the second write created and whether the checksum changed."""
    reset_graph(store, ontology_paths)
    writer = BatchedWriter(store, GraphSchema.from_store(store), batch_size)
    first = writer.write(nodes, relationships)
    checksum_before = graph_checksum(store)
    start = time.perf_counter()
    second = writer.write(nodes, relationships)
    second_wall_s = time.perf_counter() - start
    checksum_after = graph_checksum(store)
    return {
        "batch_size": batch_size,
        "first_nodes_created": first.nodes_created,
        "first_relationships_created": first.relationships_created,
        "second_nodes_created": second.nodes_created,
        "second_relationships_created": second.relationships_created,
        "second_wall_s": second_wall_s,
        "checksum_unchanged": checksum_before == checksum_after,
        "checksum": checksum_after,
    }


# Reporting


def summarize(values: Sequence[float]) -> dict[str, float]:
    return {"median": statistics.median(values), "min": min(values), "max": max(values)}


def summarize_configuration(configuration: Configuration) -> dict:
    runs = configuration.runs
    summary = {
        "writer": configuration.writer,
        "batch_size": configuration.batch_size,
        "records": runs[0].records,
        "elements": runs[0].elements,
        "nodes_added": runs[0].nodes_added,
        "relationships_added": runs[0].relationships_added,
        "triples": runs[0].triples,
        "wall_s": summarize([run.wall_s for run in runs]),
        "elements_per_s": summarize([run.elements_per_s for run in runs]),
        "triples_per_s": summarize([run.triples_per_s for run in runs]) if runs[0].triples is not None else None,
        "runs": [asdict(run) for run in runs],
    }
    if len({run.elements for run in runs}) > 1:
        logger.warning("%s added a different number of elements across runs: %s",
                       configuration.name, [run.elements for run in runs])
    return summary


def throughput_ratios(summaries: list[dict]) -> list[dict]:
    """Return each batched size's median elements/s divided by the row-by-row and rdflib-neo4j medians."""
    by_writer = {summary["writer"]: summary for summary in summaries if summary["writer"] != "batched"}
    ratios = []
    for summary in summaries:
        if summary["writer"] != "batched":
            continue
        batched_rate = summary["elements_per_s"]["median"]
        entry = {"batch_size": summary["batch_size"]}
        for other in ("row-by-row", "rdflib-neo4j"):
            if other in by_writer:
                entry[f"over_{other}"] = batched_rate / by_writer[other]["elements_per_s"]["median"]
        ratios.append(entry)
    return ratios


def format_range(stats: dict[str, float], digits: int) -> str:
    return f"{stats['median']:,.{digits}f} ({stats['min']:,.{digits}f}–{stats['max']:,.{digits}f})"


def markdown_report(results: dict) -> str:
    lines = [
        "| Writer | Batch size | Elements written | Wall s, median (min–max) | Elements/s, median (min–max) "
        "| Triples | Triples/s, median |",
        "|---|---:|---:|---:|---:|---:|---:|",
    ]
    input_records = results["input"]["nodes"] + results["input"]["relationships"]
    for summary in results["configurations"]:
        elements = f"{summary['elements']:,}"
        if summary["records"] < input_records:
            elements += f" (first {summary['records']:,} of {input_records:,} records)"
        triples = f"{summary['triples']:,}" if summary["triples"] is not None else "–"
        triples_rate = f"{summary['triples_per_s']['median']:,.0f}" if summary["triples_per_s"] else "–"
        lines.append(f"| {summary['writer']} | {summary['batch_size']:,} | {elements} "
                     f"| {format_range(summary['wall_s'], 2)} | {format_range(summary['elements_per_s'], 0)} "
                     f"| {triples} | {triples_rate} |")
    lines.append("")
    for ratio in results["ratios"]:
        parts = [f"{name.removeprefix('over_')} x{value:.1f}" for name, value in ratio.items() if name != "batch_size"]
        lines.append(f"- batched {ratio['batch_size']:,} vs " + ", ".join(parts) + " (median elements/s)")
    idempotency = results.get("idempotency")
    if idempotency:
        lines.append(f"- second batched write (batch size {idempotency['batch_size']:,}): "
                     f"{idempotency['second_nodes_created']} nodes and {idempotency['second_relationships_created']} "
                     f"relationships created in {idempotency['second_wall_s']:.2f} s; checksum unchanged: "
                     f"{idempotency['checksum_unchanged']}")
    return "\n".join(lines)


def machine_info(store: GraphStore) -> dict:
    cpu_model = None
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text(encoding="utf-8").splitlines():
            if line.startswith("model name"):
                cpu_model = line.split(":", 1)[1].strip()
                break
    memory_gib = None
    with contextlib.suppress(OSError, ValueError, IndexError):
        meminfo = Path("/proc/meminfo").read_text(encoding="utf-8").splitlines()
        memory_gib = round(int(meminfo[0].split()[1]) / 1024 ** 2, 1)
    components = store.read("CALL dbms.components() YIELD name, versions, edition "
                            "RETURN name, versions[0] AS version, edition")
    settings = get_settings()
    packages = {}
    for package in ("neo4j", "rdflib", "rdflib-neo4j"):
        with contextlib.suppress(metadata.PackageNotFoundError):
            packages[package] = metadata.version(package)
    return {
        "cpus": os.cpu_count(),
        # The load average shows whether other processes competed for the CPUs during the runs.
        "load_average_1_5_15_min_at_start": os.getloadavg(),
        "cpu_model": cpu_model,
        "memory_gib": memory_gib,
        "python": platform.python_version(),
        "platform": platform.platform(),
        "neo4j": components[0] if components else None,
        "neo4j_uri": store.uri,
        "local_server": settings.uses_local_server,
        "neo4j_heap": settings.neo4j_heap if settings.uses_local_server else None,
        "neo4j_page_cache": settings.neo4j_page_cache if settings.uses_local_server else None,
        "packages": packages,
    }


# Command line


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description="Benchmark batched, row-by-row and rdflib-neo4j writes of work orders into Neo4j. "
                    "Deletes all data in the target database.")
    parser.add_argument("--csv", type=Path, default=DEFAULT_CSV, help="work-order CSV file (default: %(default)s)")
    parser.add_argument("--mapping", type=Path, default=DEFAULT_MAPPING,
                        help="work-order mapping YAML for the CSV (default: %(default)s)")
    parser.add_argument("--ontology", type=Path, nargs="+", default=None,
                        help="ontology files loaded before every run (default: KG_ONTOLOGY_FILES, the core ontology)")
    parser.add_argument("--writers", nargs="+", choices=["batched", "row-by-row", "rdflib-neo4j"],
                        default=["batched", "row-by-row", "rdflib-neo4j"], help="writers to measure (default: all)")
    parser.add_argument("--batch-sizes", type=int, nargs="+", default=[100, 1000, 5000],
                        help="rows per transaction for the batched writer (default: 100 1000 5000)")
    parser.add_argument("--limit", type=int, default=8000,
                        help="records (nodes plus relationships) written by the row-by-row writer, taken from "
                             "the start of the file; 0 writes all (default: %(default)s)")
    parser.add_argument("--rdflib-batch-size", type=int, default=5000,
                        help="rdflib-neo4j batch size in nodes or relationships per flush "
                             "(default: %(default)s, the package default)")
    parser.add_argument("--base-iri", default=DEFAULT_BASE_IRI,
                        help="namespace for the node IRIs given to rdflib-neo4j (default: %(default)s)")
    parser.add_argument("--repeats", type=int, default=3, help="timed runs per configuration (default: %(default)s)")
    parser.add_argument("--no-warmup", action="store_true",
                        help="skip the untimed warm-up write of each writer that runs before the timed runs")
    parser.add_argument("--skip-idempotency", action="store_true",
                        help="skip the check that a second batched write creates nothing")
    parser.add_argument("--allow-wipe", action="store_true",
                        help="run even when the database already contains data, which is deleted")
    parser.add_argument("--output", type=Path, help="write the results as JSON to this file")
    args = parser.parse_args(argv)

    if args.repeats < 1:
        parser.error(f"--repeats must be at least 1, got {args.repeats}")
    if any(size < 1 for size in args.batch_sizes):
        parser.error(f"--batch-sizes must all be at least 1, got {args.batch_sizes}")
    if args.limit < 0:
        parser.error(f"--limit must be 0 (all records) or more, got {args.limit}")
    if args.rdflib_batch_size < 1:
        parser.error(f"--rdflib-batch-size must be at least 1, got {args.rdflib_batch_size}")
    for path in [args.csv, args.mapping]:
        if not path.is_file():
            parser.error(f"file not found: {path}")
    return args


def build_configurations(args: argparse.Namespace, store: GraphStore, ontology_paths: list[Path],
                         nodes: list[NodeRecord], relationships: list[RelationshipRecord]) -> list[Configuration]:
    configurations = []
    if "batched" in args.writers:
        for size in args.batch_sizes:
            configurations.append(Configuration(
                "batched", size, lambda size=size: run_batched(store, ontology_paths, nodes, relationships, size)))

    if "row-by-row" in args.writers:
        row_nodes, row_relationships = first_records(nodes, relationships, args.limit or None)
        warmup_nodes, warmup_relationships = first_records(nodes, relationships, ROW_BY_ROW_WARMUP_RECORDS)
        logger.info("row-by-row writer uses %d nodes and %d relationships", len(row_nodes), len(row_relationships))
        configurations.append(Configuration(
            "row-by-row", 1, lambda: run_row_by_row(store, ontology_paths, row_nodes, row_relationships),
            warmup=lambda: run_row_by_row(store, ontology_paths, warmup_nodes, warmup_relationships)))

    if "rdflib-neo4j" in args.writers:
        # One model over all ontology files, so classes and properties from any of them get IRIs.
        ontology_graph = Graph()
        for path in ontology_paths:
            ontology_graph += parse_ontology_file(path)
        model = OntologyModel.from_graph(ontology_graph)
        start = time.perf_counter()
        triples = build_triples(nodes, relationships, model, args.base_iri)
        logger.info("converted the records to %d RDF triples in %.2f s (not timed)", len(triples),
                    time.perf_counter() - start)
        mappings = relationship_type_mappings(model, relationships)
        records = len(nodes) + len(relationships)
        configurations.append(Configuration(
            "rdflib-neo4j", args.rdflib_batch_size,
            lambda: run_rdflib(store, ontology_paths, triples, mappings, args.rdflib_batch_size, records)))
    return configurations


def prepare_database(store: GraphStore, args: argparse.Namespace) -> bool:
    """Check that the database may be wiped and create the rdflib-neo4j constraint.

    Return True when this call created the constraint, so main() drops it at the end.
    """
    nodes, relationships = store.counts()
    entities = store.read("MATCH (n) WHERE NOT n:OntologyTerm AND NOT n:Ontology RETURN count(n) AS count")[0]["count"]
    if entities and not args.allow_wipe:
        raise SystemExit(f"the database at {store.uri} is not empty: it has {nodes} nodes and {relationships} "
                         f"relationships, and {entities} of the nodes are not ontology nodes. This benchmark "
                         "deletes all of them; point it at a disposable database or pass --allow-wipe.")
    if "rdflib-neo4j" not in args.writers:
        return False
    if store.database != "neo4j":
        raise SystemExit(f"rdflib-neo4j 1.1 writes to the server's home database, but NEO4J_DATABASE is "
                         f"{store.database!r}; use the database 'neo4j' or leave out --writers rdflib-neo4j")
    existing = store.read("SHOW CONSTRAINTS YIELD name WHERE name = $name RETURN name", {"name": RESOURCE_CONSTRAINT})
    store.run_schema([RESOURCE_CONSTRAINT_STATEMENT])
    return not existing


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    logging.basicConfig(level=logging.WARNING, stream=sys.stderr, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    logger.setLevel(logging.INFO)

    settings = get_settings()
    ontology_paths = args.ontology or list(settings.ontology_files)
    mapping = load_mapping(args.mapping)
    if not isinstance(mapping, WorkOrderMapping):
        raise SystemExit(f"{args.mapping} is a {mapping.kind!r} mapping; this benchmark needs a 'workorders' mapping")

    start = time.perf_counter()
    load = WorkOrderReader(mapping).read(args.csv)
    nodes = list(load.batch.nodes.values())
    relationships = list(load.batch.relationships.values())
    logger.info("parsed %s in %.2f s: %d rows, %d nodes, %d relationships (not timed)", args.csv,
                time.perf_counter() - start, load.rows, len(nodes), len(relationships))

    results: dict = {
        "benchmark": "ingest",
        "date_utc": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "command": [sys.executable, *sys.argv],
        "input": {"csv": str(args.csv), "mapping": str(args.mapping), "rows": load.rows, "nodes": len(nodes),
                  "relationships": len(relationships), "ontologies": [str(path) for path in ontology_paths]},
        "settings": {key: (str(value) if isinstance(value, Path) else value) for key, value in vars(args).items()},
    }

    with GraphStore.from_settings(settings) as store:
        store.verify()
        results["machine"] = machine_info(store)
        created_constraint = prepare_database(store, args)
        configurations = build_configurations(args, store, ontology_paths, nodes, relationships)
        try:
            if not args.no_warmup:
                # One untimed write per writer warms up the JVM and Neo4j's query plan cache.
                for configuration in {c.writer: c for c in configurations}.values():
                    logger.info("warm-up: %s", configuration.name)
                    (configuration.warmup or configuration.run)()

            # Interleave the configurations so slow drift of the server affects all of them alike.
            for repeat in range(1, args.repeats + 1):
                for configuration in configurations:
                    result = configuration.run()
                    configuration.runs.append(result)
                    logger.info("run %d/%d %s: %d elements in %.2f s, %.0f elements/s", repeat, args.repeats,
                                configuration.name, result.elements, result.wall_s, result.elements_per_s)

            results["configurations"] = [summarize_configuration(c) for c in configurations]
            results["ratios"] = throughput_ratios(results["configurations"])
            if not args.skip_idempotency:
                results["idempotency"] = check_idempotency(store, ontology_paths, nodes, relationships,
                                                           settings.batch_size)
        finally:
            store.wipe()
            if created_constraint:
                store.run_schema([f"DROP CONSTRAINT {RESOURCE_CONSTRAINT} IF EXISTS"])

    results["machine"]["load_average_1_5_15_min_at_end"] = os.getloadavg()
    print(markdown_report(results))
    if args.output:
        args.output.parent.mkdir(parents=True, exist_ok=True)
        args.output.write_text(json.dumps(results, indent=2, default=str) + "\n", encoding="utf-8")
        logger.info("wrote %s", args.output)
    return 0


if __name__ == "__main__":
    sys.exit(main())
