"""The `kg-service` command line."""

from __future__ import annotations

import json
import logging
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator, Optional

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from kg_service.config import Settings, get_settings
from kg_service.errors import KGServiceError, QueryError
from kg_service.logging_setup import configure_logging

app = typer.Typer(help="Knowledge-graph reasoning service for manufacturing.", no_args_is_help=True,
                  pretty_exceptions_enable=False)
neo4j_app = typer.Typer(help="Run the project's own Neo4j Community server.", no_args_is_help=True)
ontology_app = typer.Typer(help="Load, inspect and export ontologies.", no_args_is_help=True)
ingest_app = typer.Typer(help="Load source files into the graph.", no_args_is_help=True)
app.add_typer(neo4j_app, name="neo4j")
app.add_typer(ontology_app, name="ontology")
app.add_typer(ingest_app, name="ingest")

console = Console(stderr=True)
logger = logging.getLogger("kg_service.cli")

@app.callback()
def main(verbose: bool = typer.Option(False, "--verbose", "-v", help="Log at DEBUG level")) -> None:
    with _errors():
        settings = get_settings()
    configure_logging("DEBUG" if verbose else settings.log_level)


@contextmanager
def _errors() -> Iterator[None]:
    """Print kg-service errors as one clear message and exit with status 1."""
    try:
        yield
    except KGServiceError as error:
        typer.echo(f"error: {error}", err=True)
        raise typer.Exit(1) from None


def _store(settings: Settings, start_local: bool = False, retry_s: float | None = None):
    from kg_service.graph.store import GraphStore
    from kg_service.neo4j_server import LocalNeo4j

    if start_local and settings.uses_local_server:
        LocalNeo4j(settings).start()
    store = GraphStore.from_settings(settings, retry_s=retry_s)
    store.verify()
    return store


class _RichWriteProgress:
    """A rich progress bar fed by BatchedWriter (records written so far out of the total)."""

    def __init__(self, progress: Progress, task) -> None:
        self._progress = progress
        self._task = task

    def start(self, total: int) -> None:
        self._progress.update(self._task, total=total)

    def advance(self, count: int) -> None:
        self._progress.advance(self._task, count)


@contextmanager
def _progress(description: str) -> Iterator[_RichWriteProgress]:
    with Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                  console=console, transient=False) as progress:
        yield _RichWriteProgress(progress, progress.add_task(description, total=None))


# neo4j

@neo4j_app.command("start")
def neo4j_start() -> None:
    """Download Neo4j on first use, start it on 127.0.0.1 and wait until Bolt responds."""
    settings = get_settings()
    if not settings.uses_local_server:
        console.print(f"NEO4J_URI is set ({settings.neo4j_uri}); nothing to start.")
        return
    from kg_service.neo4j_server import LocalNeo4j

    with _errors():
        status = LocalNeo4j(settings).start()
    console.print(status.describe())


@neo4j_app.command("stop")
def neo4j_stop() -> None:
    """Stop the local Neo4j server cleanly; with NEO4J_URI set, stop nothing, as `start` starts nothing."""
    from kg_service.neo4j_server import LocalNeo4j

    settings = get_settings()
    if not settings.uses_local_server:
        console.print(f"NEO4J_URI is set ({settings.neo4j_uri}); nothing to stop. Unset NEO4J_URI to stop the "
                      "local Neo4j under KG_STATE_DIR.")
        return
    with _errors():
        stopped = LocalNeo4j(settings).stop()
    console.print("Neo4j stopped." if stopped else "Neo4j was not running.")


# How long `neo4j status` waits for an external server to accept a connection, in seconds.
STATUS_CONNECTION_TIMEOUT_S = 5.0


@neo4j_app.command("status")
def neo4j_status() -> None:
    """Report whether Neo4j runs and where. Exit status 3 when it does not, 1 when it rejects the settings.

    With NEO4J_URI set, connect to that server and check the credentials and NEO4J_DATABASE.
    """
    settings = get_settings()
    if not settings.uses_local_server:
        _external_neo4j_status(settings)
        return
    from kg_service.neo4j_server import LocalNeo4j

    status = LocalNeo4j(settings).status()
    typer.echo(status.describe())
    if not status.running:
        raise typer.Exit(3)


def _external_neo4j_status(settings: Settings) -> None:
    from kg_service.errors import GraphUnavailableError
    from kg_service.graph.store import GraphStore

    with _errors():
        store = GraphStore.from_settings(settings, retry_s=STATUS_CONNECTION_TIMEOUT_S,
                                         connection_timeout_s=STATUS_CONNECTION_TIMEOUT_S)
        try:
            store.verify()
        except GraphUnavailableError as error:
            typer.echo(f"error: {error}", err=True)
            raise typer.Exit(3) from None
        finally:
            store.close()
    typer.echo(f"using the external Neo4j at {settings.neo4j_uri} (NEO4J_URI), database {settings.neo4j_database!r}: "
               "connected, and the server accepted the credentials")


# ontology

@ontology_app.command("load")
def ontology_load(files: list[Path] = typer.Argument(..., help="Turtle, RDF/XML, N-Triples or JSON-LD files")) -> None:
    """Map ontologies to node labels and relationship types, create keys and indexes, store them in Neo4j."""
    from kg_service.ingest import load_ontologies

    settings = get_settings()
    with _errors():
        store = _store(settings)
        try:
            summaries = load_ontologies(store, files)
        finally:
            store.close()
    for summary in summaries:
        typer.echo(summary.as_text())


@ontology_app.command("export")
def ontology_export(file: Path = typer.Argument(..., help="Output file; the suffix picks the format (.ttl, .rdf, .nt)"),
                    iri: Optional[str] = typer.Option(None, help="Ontology IRI; default the kg-service core ontology"),
                    version: Optional[int] = typer.Option(None, help="Version of the change log to write (0: as "
                                                                     "loaded, before the first change); default "
                                                                     "the current ontology")) -> None:
    """Write a stored ontology back to RDF."""
    from kg_service.ontology.editing import OntologyEditor
    from kg_service.ontology.model import KG_ONTOLOGY_IRI
    from kg_service.ontology.storage import export_ontology, write_export

    with _errors():
        store = _store(get_settings())
        try:
            if version is None:
                graph = export_ontology(store, iri or KG_ONTOLOGY_IRI)
            else:
                graph = OntologyEditor(store, iri or KG_ONTOLOGY_IRI).snapshot(version)
        finally:
            store.close()
        write_export(graph, file)
    console.print(f"wrote {len(graph)} triples to {file}")


# ingest

def _run_ingest(run, file: Path, mapping: Path, encoding: str | None) -> None:
    """Run one ingestion use case with a progress bar and print its report as one JSON object."""
    settings = get_settings()
    with _errors():
        store = _store(settings)
        try:
            with _progress(f"writing {file.name}") as progress:
                result = run(store, settings, file, mapping, encoding, progress)
        finally:
            store.close()
    report = result.report
    typer.echo(json.dumps({"file": str(result.source), "rows": result.rows, "encoding": result.encoding,
                           "nodes": report.nodes, "relationships": report.relationships,
                           "nodes_created": report.nodes_created, "relationships_created": report.relationships_created,
                           **result.details}, ensure_ascii=False))


@ingest_app.command("workorders")
def ingest_workorders(file: Path = typer.Argument(..., help="Work-order CSV file"),
                      mapping: Path = typer.Option(..., "--mapping", "-m", help="Column mapping (YAML)"),
                      encoding: Optional[str] = typer.Option(None, help="Text encoding; detected when omitted")) -> None:
    """Load work orders from a CSV export with a declared column mapping."""
    from kg_service.ingest import ingest_workorders as run

    _run_ingest(run, file, mapping, encoding)


@ingest_app.command("telemetry")
def ingest_telemetry(file: Path = typer.Argument(..., help="Telemetry file: wide or long CSV, text or Parquet"),
                     mapping: Path = typer.Option(..., "--mapping", "-m", help="Signal mapping (YAML)"),
                     encoding: Optional[str] = typer.Option(None, help="Text encoding; detected when omitted"),
                     file_format: Optional[str] = typer.Option(None, "--format",
                                                               help="csv, text or parquet; default: the mapping's "
                                                                    "'format', else the file suffix"),
                     time_origin: Optional[str] = typer.Option(None, help="ISO 8601 time of elapsed second 0 and "
                                                                          "sequence 0; overrides the mapping's "
                                                                          "'time_origin'")) -> None:
    """Load telemetry: samples to Parquet (by asset and day), signal summaries and events to the graph."""
    from datetime import datetime

    from kg_service.ingest import ingest_telemetry as ingest
    from loaders.mapping import TelemetryMapping, load_mapping
    from loaders.timeseries import count_rows, detect_format

    if file_format is not None and file_format not in ("csv", "text", "parquet"):
        raise typer.BadParameter(f"{file_format!r} is not csv, text or parquet", param_hint="--format")
    try:
        origin = datetime.fromisoformat(time_origin) if time_origin else None
    except ValueError:
        raise typer.BadParameter(f"{time_origin!r} is not an ISO 8601 date-time", param_hint="--time-origin") from None

    def run(store, settings, file, mapping, encoding, progress):
        total = None
        loaded = load_mapping(mapping)
        if file.is_file() and isinstance(loaded, TelemetryMapping):
            total = count_rows(file, detect_format(file, loaded, file_format))
        with Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                      console=console, transient=False) as rows:
            task = rows.add_task(f"reading {file.name}", total=total)
            return ingest(store, settings, file, mapping, encoding, progress, file_format, origin,
                          lambda count: rows.advance(task, count))

    _run_ingest(run, file, mapping, encoding)


# query

def _parse_param(text: str) -> tuple[str, object]:
    name, separator, raw = text.partition("=")
    if not separator or not name:
        raise typer.BadParameter(f"{text!r} is not name=value", param_hint="--param")
    try:
        return name, json.loads(raw)
    except json.JSONDecodeError:
        return name, raw


# Neo4j's status code for a write attempted in a READ transaction.
ACCESS_MODE_ERROR = "Neo.ClientError.Statement.AccessMode"


@app.command("query")
def query(cypher: str = typer.Argument(..., help="A read-only Cypher query"),
          param: list[str] = typer.Option([], "--param", "-p", help="Query parameter name=value (JSON or text)")) -> None:
    """Run a read-only Cypher query in a READ transaction; print one JSON object per row."""
    from neo4j.exceptions import DriverError, Neo4jError

    from kg_service.jsonable import to_jsonable

    params = dict(_parse_param(item) for item in param)
    with _errors():
        store = _store(get_settings())
        try:
            with store.session(read_only=True) as session:
                try:
                    rows = session.execute_read(lambda tx: [record for record in tx.run(cypher, params)])
                except Neo4jError as error:
                    if error.code == ACCESS_MODE_ERROR:
                        raise QueryError("kg-service query runs read-only queries; CREATE/MERGE/SET/DELETE are not "
                                         "allowed here — use the loaders (kg-service ingest …) to change the "
                                         "graph") from None
                    raise KGServiceError(f"query failed: {error.code}: {error.message}") from None
                except DriverError as error:
                    raise KGServiceError(f"query failed: the connection to Neo4j broke ({error}); the server may "
                                         "have run out of memory, see its debug.log") from None
        finally:
            store.close()
    for record in rows:
        typer.echo(json.dumps({key: to_jsonable(record[key]) for key in record.keys()}, ensure_ascii=False))
    if not rows:
        # stdout stays empty for scripts that read rows. The note goes to stderr, where a person reads it.
        typer.echo("the query returned no rows", err=True)


# graphiql

graphiql_app = typer.Typer(help="GraphiQL assets and the GraphQL schema (SDL).", no_args_is_help=True)
app.add_typer(graphiql_app, name="graphiql")


@graphiql_app.command("install")
def graphiql_install() -> None:
    """Fetch GraphiQL's scripts from the npm registry so /graphql works without internet access."""
    from kg_service.api.graphiql import install_assets

    with _errors():
        target = install_assets(get_settings().cache_dir)
    console.print(f"GraphiQL assets installed in {target}")


@graphiql_app.command("sdl")
def graphql_sdl(file: Optional[Path] = typer.Argument(None, help="Output file; standard output when omitted")) -> None:
    """Print or write the GraphQL schema in SDL (docs/schema.graphql is made with this)."""
    from kg_service.api.schema import build_schema

    sdl = build_schema().as_str() + "\n"
    if file is None:
        typer.echo(sdl, nl=False)
        return
    file.write_text(sdl, encoding="utf-8")
    console.print(f"wrote the GraphQL schema to {file}")


# serve

PORT_HELP = "Listen port, 1 to 65535; default KG_API_PORT (8000)"


def _check_listen_port(port: int | None) -> None:
    """Reject a --port outside 1-65535 with a message that names the option and the value."""
    if port is not None and not 1 <= port <= 65535:
        raise typer.BadParameter(f"{port} is not a TCP port number; pass one from 1 to 65535", param_hint="--port")


def _check_port_free(host: str, port: int) -> None:
    """Raise KGServiceError when a server already accepts connections on host:port."""
    import socket

    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        if probe.connect_ex((host, port)) == 0:
            raise KGServiceError(f"port {port} on {host} is already in use; stop the other server or pass "
                                 "--port (or set KG_API_PORT)")


@app.command("serve")
def serve(host: Optional[str] = typer.Option(None, help="Listen address; default KG_API_HOST (127.0.0.1)"),
          port: Optional[int] = typer.Option(None, help=PORT_HELP),
          workers: int = typer.Option(1, min=1, max=64, help="Server processes; more serve more concurrent "
                                                             "clients, each with its own Neo4j connection pool")) -> None:
    """Serve the GraphQL API (GraphiQL at /graphql)."""
    import uvicorn

    from kg_service.api.app import create_app

    _check_listen_port(port)
    settings = get_settings()
    host, port = host or settings.api_host, port or settings.api_port
    with _errors():
        store = _store(settings, retry_s=settings.api_retry_s)
        _check_port_free(host, port)
        if workers > 1:
            # Each worker process builds its own app and driver from the same settings.
            store.close()
            logger.info("serving the GraphQL API with %d worker processes", workers)
            uvicorn.run("kg_service.api.app:app_from_settings", factory=True, host=host, port=port, workers=workers,
                        log_level="info")
            return
        application = create_app(settings, store)
    uvicorn.run(application, host=host, port=port, log_level="info")


from kg_service.quickstart import quickstart_command  # noqa: E402

app.command("quickstart")(quickstart_command)

# Feature command groups: each module in FEATURE_COMMANDS adds its commands to a group it imports
# (for example `evaluate_app`) or defines its own `command_group` with a `command_name`.
import importlib  # noqa: E402

from kg_service.commands.evaluate import evaluate_app  # noqa: E402

FEATURE_COMMANDS: list[str] = [
    "kg_service.commands.ask",
    "kg_service.commands.apikeys",
    "kg_service.commands.shipments",
    "kg_service.commands.ontology_edit",
    "kg_service.commands.design",
    "kg_service.commands.causrca",
    "kg_service.commands.evaluate_rootcause",
    "kg_service.commands.anomalies",
    "kg_service.commands.evaluate_anomalies",
    "kg_service.commands.telemetry_live",
    "kg_service.commands.documents",
    "kg_service.commands.gnn",
    "kg_service.commands.evaluate_linkprediction",
    "kg_service.commands.models",
    "kg_service.commands.evaluate_extraction",
    "kg_service.commands.evaluate_graphrag",
]

for _module_name in FEATURE_COMMANDS:
    _module = importlib.import_module(_module_name)
    if hasattr(_module, "command_group"):
        app.add_typer(_module.command_group, name=_module.command_name)

app.add_typer(evaluate_app, name="evaluate")


if __name__ == "__main__":
    app(prog_name="kg-service")
