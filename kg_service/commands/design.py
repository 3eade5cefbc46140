"""`kg-service design ...`: check proposed designs and list design constraints; `kg-service ingest rdf`."""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Optional

import typer

from kg_service.cli import ingest_app

logger = logging.getLogger(__name__)

command_name = "design"
command_group = typer.Typer(help="Check designs against the SHACL design-constraint shapes.", no_args_is_help=True)


def read_design_file(path: Path):
    """Read a proposed design from a JSON file; raise InputDataError when it is missing or invalid.

    Part ratings may be spelled as in the file format (rated_load) or as in GraphQL (ratedLoad).
    """
    from pydantic import ValidationError

    from kg_service.errors import InputDataError
    from kg_service.reasoning.design import DesignInput

    if not path.is_file():
        raise InputDataError("file not found", path=str(path), hint="pass a design JSON file or an RDF file")
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError as error:
        raise InputDataError(f"not UTF-8 text ({error.reason} at byte {error.start})", path=str(path)) from None
    try:
        raw = json.loads(text, parse_constant=_reject_constant)
    except json.JSONDecodeError as error:
        raise InputDataError(f"invalid JSON: {error.msg}", path=str(path), line=error.lineno,
                             hint="fix the JSON syntax; see docs/design-constraints.md for an example") from None
    except RecursionError:
        raise InputDataError("invalid JSON: nested too deeply", path=str(path)) from None
    except ValueError as error:
        raise InputDataError(f"invalid JSON: {error}", path=str(path),
                             hint="write numbers as finite decimals") from None
    try:
        return DesignInput.model_validate(raw)
    except ValidationError as error:
        problems = "; ".join(f"{'.'.join(map(str, item['loc'])) or 'design'}: {item['msg']}" for item in error.errors())
        raise InputDataError(f"invalid design: {problems}", path=str(path),
                             hint="see docs/design-constraints.md for the fields of a design") from None


def _report_json(report, source: str) -> str:
    return json.dumps({"file": source, "conforms": report.conforms, "violations": report.count("Violation"),
                       "warnings": report.count("Warning"), "data_triples": report.data_triples,
                       "seconds": round(report.seconds, 3),
                       "results": [item._asdict() for item in report.violations]}, ensure_ascii=False, indent=2)


@command_group.command("check")
def check(file: Path = typer.Argument(..., help="Proposed design (.json), or any RDF data file (.ttl, .rdf, .nt)"),
          shapes: Optional[Path] = typer.Option(None, "--shapes", help="SHACL shapes file; default the shapes stored "
                                                "in Neo4j by upsertShape, else ontology/shapes.ttl"),
          lang: str = typer.Option("en", help="Language of the messages: en or zh"),
          inference: str = typer.Option("none", help="pySHACL inference for RDF files: none, rdfs, owlrl"),
          ontology: Optional[Path] = typer.Option(None, "--ontology",
                                                  help="Ontology mixed into an RDF data file, for example "
                                                       "ontology/kg-core.ttl")) -> None:
    """Validate a design (JSON, joined with the graph) or an RDF file; print the results as JSON.

    Exits with status 2 when a result has severity Violation, 0 otherwise (warnings only).
    """
    from kg_service.cli import _errors, _store
    from kg_service.config import get_settings
    from kg_service.reasoning.design import DEFAULT_SHAPES_FILE, check_design, validate_rdf

    shapes_files = [shapes] if shapes is not None else None
    with _errors():
        if file.suffix.lower() == ".json":
            proposal = read_design_file(file)
            store = _store(get_settings())
            try:
                report = check_design(store, proposal, lang, shapes_files)
            finally:
                store.close()
        else:
            report = validate_rdf(file, shapes or DEFAULT_SHAPES_FILE, lang, inference, ontology)
    typer.echo(_report_json(report, str(file)))
    if report.count("Violation"):
        raise typer.Exit(2)


@command_group.command("constraints")
def constraints(target: str = typer.Argument(..., help="Key or name of a product, design, part or component"),
                lang: str = typer.Option("en", help="Language of labels and messages: en or zh"),
                shapes: Optional[Path] = typer.Option(None, "--shapes",
                                                      help="SHACL shapes file; default ontology/shapes.ttl")) -> None:
    """List the constraints on a target and its bill of materials, each with its source, as JSON."""
    from kg_service.cli import _errors, _store
    from kg_service.config import get_settings
    from kg_service.reasoning.design import design_constraints

    with _errors():
        store = _store(get_settings())
        try:
            result = design_constraints(store, target, lang, [shapes] if shapes is not None else None)
        finally:
            store.close()
    typer.echo(json.dumps({"target": result.target["id"], "items": [item.key for item in result.items],
                           "constraints": [{**item._asdict(), "rules": [rule._asdict() for rule in item.rules]}
                                           for item in result.constraints]}, ensure_ascii=False, indent=2))


@ingest_app.command("rdf")
def ingest_rdf(file: Path = typer.Argument(..., help="Turtle, RDF/XML or N-Triples file of kg-core instances")) -> None:
    """Load instances written in the kg-core vocabulary (for example samples/sample_plant/designs.ttl)."""
    from kg_service.cli import _errors, _progress, _store
    from kg_service.config import get_settings
    from loaders.rdf_instances import load_rdf_instances

    settings = get_settings()
    with _errors():
        store = _store(settings)
        try:
            with _progress(f"writing {file.name}") as progress:
                _, report = load_rdf_instances(store, settings, file, progress)
        finally:
            store.close()
    typer.echo(json.dumps({"file": str(file), "nodes": report.nodes, "relationships": report.relationships,
                           "nodes_created": report.nodes_created,
                           "relationships_created": report.relationships_created}, ensure_ascii=False))


def _reject_constant(name: str) -> float:
    """Reject JSON's non-standard NaN, Infinity and -Infinity, which no dimension or rating can be."""
    raise ValueError(f"{name} is not a finite number")
