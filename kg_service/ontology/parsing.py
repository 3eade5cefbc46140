"""Read ontology files with rdflib and turn parser failures into errors that locate the problem."""

from __future__ import annotations

import logging
from pathlib import Path
from xml.sax import SAXParseException

from rdflib import Graph
from rdflib.plugins.parsers.notation3 import BadSyntax

from kg_service.errors import OntologyError

logger = logging.getLogger(__name__)

FORMATS_BY_SUFFIX = {
    ".ttl": "turtle",
    ".turtle": "turtle",
    ".owl": "xml",
    ".rdf": "xml",
    ".xml": "xml",
    ".nt": "nt",
    ".n3": "n3",
    ".jsonld": "json-ld",
    ".json": "json-ld",
}


def guess_format(path: Path) -> str:
    """Return the rdflib format name for a file suffix."""
    try:
        return FORMATS_BY_SUFFIX[path.suffix.lower()]
    except KeyError:
        raise OntologyError(f"{path}: unknown ontology file type {path.suffix!r}; use one of "
                            f"{', '.join(sorted(FORMATS_BY_SUFFIX))}") from None


def parse_ontology_file(path: Path | str, rdf_format: str | None = None) -> Graph:
    """Parse one ontology file; raise OntologyError with line and column when it is invalid."""
    path = Path(path)
    if path.is_dir():
        raise OntologyError(f"{path}: is a folder; pass the ontology files in it")
    if not path.is_file():
        raise OntologyError(f"{path}: ontology file not found")
    rdf_format = rdf_format or guess_format(path)
    graph = Graph()
    try:
        graph.parse(path, format=rdf_format)
    except BadSyntax as error:
        line, column = _locate_bad_syntax(error)
        raise OntologyError(f"{path}: invalid {rdf_format} at line {line}, column {column}: {error._why}; "
                            "fix the file and load it again (nothing was written)") from error
    except SAXParseException as error:
        raise OntologyError(f"{path}: invalid RDF/XML at line {error.getLineNumber()}, column "
                            f"{error.getColumnNumber()}: {error.getMessage()}; fix the file and load it again "
                            "(nothing was written)") from error
    except UnicodeDecodeError as error:
        raise OntologyError(f"{path}: not a UTF-8 text file ({error.reason} at byte {error.start}); ontology files "
                            "must be UTF-8 RDF, not compressed or binary") from error
    except ValueError as error:
        raise OntologyError(f"{path}: cannot parse as {rdf_format}: {error}") from error
    if len(graph) == 0:
        raise OntologyError(f"{path}: the file contains no triples; check that it is the right file")
    logger.info("parsed %s: %d triples", path, len(graph))
    return graph


def _locate_bad_syntax(error: BadSyntax) -> tuple[int, int]:
    """Return the 1-based line and column of a notation3/turtle syntax error."""
    text = error._str
    if isinstance(text, bytes):
        text = text.decode("utf-8", errors="replace")
    position = min(error._i, len(text))
    line = text.count("\n", 0, position) + 1
    column = position - (text.rfind("\n", 0, position) + 1) + 1
    return line, column
