"""The quick start: Neo4j, ontology, data, GraphQL server and one root-cause ranking in one command."""

from __future__ import annotations

import logging
import os
import threading
import time
from pathlib import Path
from typing import Optional

import httpx
import typer
from rich.console import Console
from rich.table import Table

from kg_service.config import find_project_root, get_settings
from kg_service.errors import KGServiceError, MappingError

logger = logging.getLogger(__name__)

# Output width when stdout is not a terminal (a file or a pipe): wide enough that a ranking row stays on one line.
# rich would otherwise wrap at 80 columns. COLUMNS, when set, still takes precedence.
PIPED_WIDTH = 200


def _make_console() -> Console:
    terminal = Console()
    if terminal.is_terminal or os.environ.get("COLUMNS"):
        return terminal
    return Console(width=PIPED_WIDTH)


console = _make_console()

SAMPLE_DIR = find_project_root() / "samples" / "sample_plant"
SAMPLE_SOURCES = [f"{SAMPLE_DIR / name}.csv={SAMPLE_DIR / name}.yaml"
                  for name in ("workorders_en", "workorders_zh", "telemetry")]

ROOT_CAUSE_QUERY = """
query RootCause($asset: String!, $failureMode: String!, $lang: String!) {
  rootCauses(asset: $asset, failureMode: $failureMode) {
    targetWorkOrders
    asset { id label(lang: $lang) }
    condition { id label(lang: $lang) }
    candidates(first: 5) {
      edges {
        node {
          entity { id classes label(lang: $lang) }
          score
          breakdown { source value }
          evidenceWorkOrders { totalCount }
        }
      }
    }
  }
}
"""


def _split_source(text: str) -> tuple[Path, Path]:
    data, separator, mapping = text.partition("=")
    if not separator:
        raise typer.BadParameter(f"{text!r} must be DATA_FILE=MAPPING_FILE", param_hint="--source")
    return Path(data), Path(mapping)


def _serve_in_background(application, host: str, port: int):
    import uvicorn

    server = uvicorn.Server(uvicorn.Config(application, host=host, port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, name="graphql-server", daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            raise KGServiceError(f"the GraphQL server did not start on {host}:{port}; is the port in use? "
                                 "Pass another --port (or set KG_API_PORT)")
        time.sleep(0.1)
    return server, thread


CLASS_LABELS_QUERY = """
query ClassLabels($lang: String!, $after: String) {
  ontologyClasses(first: 200, after: $after) {
    edges { node { nodeLabel label(lang: $lang) } }
    pageInfo { hasNextPage endCursor }
  }
}
"""

# The Chinese names of the evidence sources of a root-cause score (`breakdown.source` in the API). The
# table prints a source without an entry here under its English name.
SOURCE_NAMES_ZH = {
    "co-occurrence": "共现",
    "precedence": "先行",
    "mechanism": "机理",
    "predicted-co-occurrence": "预测共现",
    "causal": "因果",
    "text": "文本",
    "prediction": "预测",
}

TABLE_TEXT = {
    "en": {"title": "Likely causes of {condition} on {asset} ({count} work orders record it)",
           "columns": ("rank", "candidate", "class", "score", "score by source", "evidence work orders"),
           "separator": ", "},
    "zh": {"title": "{asset}{condition}的可能原因（{count} 张工单记录了该故障）",
           "columns": ("排名", "候选原因", "类别", "得分", "各来源得分", "证据工单数"),
           "separator": "，"},
}


def _source_name(source: str, lang: str) -> str:
    return SOURCE_NAMES_ZH.get(source, source) if lang == "zh" else source


def _class_labels(url: str, lang: str) -> dict[str, str]:
    """Return the label in `lang` of every ontology class, by node label, read page by page from the API."""
    labels: dict[str, str] = {}
    after = None
    while True:
        response = httpx.post(url, json={"query": CLASS_LABELS_QUERY, "variables": {"lang": lang, "after": after}},
                              timeout=120)
        payload = response.json()
        if payload.get("errors"):
            raise KGServiceError(f"reading the ontology's class labels failed: {payload['errors'][0]['message']}")
        page = payload["data"]["ontologyClasses"]
        for edge in page["edges"]:
            node = edge["node"]
            labels[node["nodeLabel"]] = node["label"] or node["nodeLabel"]
        if not page["pageInfo"]["hasNextPage"]:
            return labels
        after = page["pageInfo"]["endCursor"]


def _print_answer(answer: dict, lang: str, class_labels: dict[str, str]) -> None:
    result = answer["rootCauses"]
    text = TABLE_TEXT[lang]
    table = Table(title=text["title"].format(condition=result["condition"]["label"], asset=result["asset"]["label"],
                                             count=result["targetWorkOrders"]))
    for column in text["columns"]:
        table.add_column(column)
    for rank, candidate in enumerate((edge["node"] for edge in result["candidates"]["edges"]), start=1):
        entity = candidate["entity"]
        node_class = entity["classes"][0]
        breakdown = text["separator"].join(f"{_source_name(part['source'], lang)} {part['value']:.2f}"
                                           for part in candidate["breakdown"])
        table.add_row(str(rank), entity["label"] or entity["id"], class_labels.get(node_class, node_class),
                      f"{candidate['score']:.3f}", breakdown, str(candidate["evidenceWorkOrders"]["totalCount"]))
    console.print(table)


def quickstart_command(
    source: list[str] = typer.Option([], "--source", "-s", help="DATA_FILE=MAPPING_FILE to load instead of the "
                                     "sample plant; repeat for several files"),
    asset: str = typer.Option("AC-3", help="Asset (key or name) of the example root-cause query"),
    failure_mode: str = typer.Option("Overheating", help="Failure mode (key or name) of the example query"),
    lang: str = typer.Option("en", help="Language of the printed names: en or zh"),
    exit_after: bool = typer.Option(False, "--exit", help="Stop after printing the ranking instead of serving on"),
    host: Optional[str] = typer.Option(None, help="Listen address; default KG_API_HOST (127.0.0.1)"),
    port: Optional[int] = typer.Option(None, help="Listen port, 1 to 65535; default KG_API_PORT (8000)"),
) -> None:
    """Start Neo4j, load the ontology and data, serve GraphQL and print one root-cause ranking."""
    from kg_service.api.app import create_app
    from kg_service.cli import _check_listen_port, _check_port_free, _errors, _progress, _store
    from kg_service.ingest import ingest_telemetry, ingest_workorders, load_ontologies
    from loaders.mapping import load_mapping

    # The same rule as the API's lang arguments: any case, and a tag with a region names its language.
    lang = lang.strip().lower().replace("_", "-").split("-")[0]
    if lang not in TABLE_TEXT:
        raise typer.BadParameter(f"{lang!r} is not a supported language; use en or zh", param_hint="--lang")
    _check_listen_port(port)
    settings = get_settings()
    host, port = host or settings.api_host, port or settings.api_port
    sources = [_split_source(item) for item in (source or SAMPLE_SOURCES)]
    with _errors():
        # The port is checked before the data loads, so a busy port fails at once instead of after loading.
        _check_port_free(host, port)
        store = _store(settings, start_local=True)
        for summary in load_ontologies(store, settings.ontology_files):
            console.print(summary.as_text(), highlight=False)
        for data_file, mapping_file in sources:
            kind = load_mapping(mapping_file).kind
            run = {"workorders": ingest_workorders, "telemetry": ingest_telemetry}.get(kind)
            if run is None:
                raise MappingError(f"unknown mapping kind {kind!r}", path=str(mapping_file))
            with _progress(f"loading {data_file.name}") as progress:
                result = run(store, settings, data_file, mapping_file, None, progress)
            console.print(f"{data_file}: {result.rows} rows, {result.report.nodes_created} new nodes, "
                          f"{result.report.relationships_created} new relationships", highlight=False)

        application = create_app(settings, store)
        server, thread = _serve_in_background(application, host, port)
        url = f"http://{host}:{port}/graphql"
        response = httpx.post(url, json={"query": ROOT_CAUSE_QUERY,
                                         "variables": {"asset": asset, "failureMode": failure_mode, "lang": lang}},
                              timeout=120)
        payload = response.json()
        if payload.get("errors"):
            server.should_exit = True
            raise KGServiceError(f"the example query failed: {payload['errors'][0]['message']}")
        try:
            class_labels = _class_labels(url, lang)
        except KGServiceError:
            server.should_exit = True
            raise
        _print_answer(payload["data"], lang, class_labels)

        if exit_after:
            server.should_exit = True
            thread.join(timeout=10)
            store.close()
            return
        console.print(f"GraphQL API with GraphiQL at {url}; press Ctrl-C to stop. Neo4j keeps running after that: "
                      "stop it with 'kg-service neo4j stop'.")
        try:
            while thread.is_alive():
                thread.join(timeout=1)
        except KeyboardInterrupt:
            server.should_exit = True
            thread.join(timeout=10)
        store.close()



