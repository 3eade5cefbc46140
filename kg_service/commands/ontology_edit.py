"""`kg-service ontology diff` and `kg-service ontology history`: compare ontologies and list their change log."""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Optional

import typer

from kg_service.cli import ontology_app

logger = logging.getLogger(__name__)


@ontology_app.command("diff")
def ontology_diff(old: str = typer.Argument(..., help="Old side: an ontology file, 'stored:' or 'stored:IRI', "
                                                     "with '@N' for version N of the change log ('stored:@0')"),
                  new: str = typer.Argument(..., help="New side: an ontology file, 'stored:' or 'stored:IRI', "
                                                     "with '@N' for version N of the change log"),
                  as_json: bool = typer.Option(False, "--json", help="Print one JSON object")) -> None:
    """List the classes and properties added, removed or changed from OLD to NEW (labels, domains, ranges)."""
    from kg_service.cli import _errors, _store
    from kg_service.config import get_settings
    from kg_service.ontology.diff import STORED_PREFIX, diff_graphs, load_side

    with _errors():
        store = _store(get_settings()) if STORED_PREFIX in (old[:7], new[:7]) else None
        try:
            result = diff_graphs(load_side(old, store), load_side(new, store), old, new)
        finally:
            if store is not None:
                store.close()
    typer.echo(result.as_json() if as_json else result.as_text())


@ontology_app.command("history")
def ontology_history(iri: Optional[str] = typer.Option(None, help="Ontology IRI; default the kg-service core ontology"),
                     term: Optional[str] = typer.Option(None, help="Only changes that name this term (IRI or name)"),
                     as_json: bool = typer.Option(False, "--json", help="Print one JSON object per change")) -> None:
    """Print the change log of a stored ontology, oldest change first."""
    from dataclasses import asdict

    from kg_service.cli import _errors, _store
    from kg_service.config import get_settings
    from kg_service.ontology.editing import OntologyEditor
    from kg_service.ontology.model import KG_ONTOLOGY_IRI

    with _errors():
        store = _store(get_settings())
        try:
            editor = OntologyEditor(store, iri or KG_ONTOLOGY_IRI)
            info, latest = editor.version()
            changes = editor.history(term)
        finally:
            store.close()
    if as_json:
        for change in changes:
            typer.echo(json.dumps(asdict(change), ensure_ascii=False))
        return
    typer.echo(f"ontology {iri or KG_ONTOLOGY_IRI}: version {info or '-'}, {latest} changes")
    for change in changes:
        author = f"{change.author} (for {change.author_note})" if change.author_note else change.author
        typer.echo(f"{change.version:4d}  {change.at}  {author}  {change.operation} "
                   f"{json.dumps(change.arguments, ensure_ascii=False)}")
        typer.echo(f"      why: {change.why}; affected {change.nodes} nodes, {change.relationships} relationships; "
                   f"ontology version {change.ontology_version}")


@ontology_app.command("replace")
def ontology_replace(files: list[Path] = typer.Argument(..., help="Turtle, RDF/XML, N-Triples or JSON-LD files"),
                     author: str = typer.Option(..., help="Who discards the edits; kept in the change log"),
                     why: str = typer.Option(..., help="Reason, kept in the change log"),
                     undo_migrations: bool = typer.Option(
                         False, "--undo-migrations",
                         help="First undo the discarded renames that migrated instance data or rewrote stored "
                              "shapes, newest first, one transaction each; without it such a replace is rejected"),
                     keep_orphans: bool = typer.Option(
                         False, "--keep-orphans",
                         help="Replace even when instance nodes or relationships use a class or object property "
                              "that the file lacks, and keep them under that undeclared label or relationship "
                              "type; without it such a replace is rejected")
                     ) -> None:
    """Load ontologies like 'ontology load', but replace stored ontologies that experts edited, discarding the edits.

    Each replacement of an ontology with a change log is logged as a 'loadOntology' change. A
    discarded rename that migrated instance data or rewrote stored shapes blocks the replace
    unless --undo-migrations undoes it first. A class or object property that the file lacks but
    instance data uses (an expert added it and loaders wrote instances) blocks the replace unless
    --keep-orphans is given.
    """
    from kg_service.cli import _errors, _store
    from kg_service.config import get_settings
    from kg_service.ingest import load_ontologies

    with _errors():
        store = _store(get_settings())
        try:
            summaries = load_ontologies(store, files, replace=True, author=author, why=why,
                                        undo_migrations=undo_migrations, keep_orphans=keep_orphans)
        finally:
            store.close()
    for summary in summaries:
        typer.echo(summary.as_text())
