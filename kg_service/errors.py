"""Exception hierarchy: one root, `KGServiceError`, with a subclass per kind of failure.

Every message names the input, what is wrong with it and what to do next, because these
messages reach users through the CLI and GraphQL errors unchanged.
"""

from __future__ import annotations


class KGServiceError(Exception):
    """Root of every error that kg-service raises on purpose."""


class ConfigurationError(KGServiceError):
    """A setting is missing or invalid."""


class Neo4jServerError(KGServiceError):
    """The local Neo4j server could not be installed, started or stopped."""


class GraphStoreError(KGServiceError):
    """A query against Neo4j failed or the server could not be reached."""


class GraphUnavailableError(GraphStoreError):
    """Neo4j could not be reached: the server is down, restarting or behind a broken network."""


class OntologyError(KGServiceError):
    """An ontology file is invalid or a term is not in the loaded ontology."""


class UnknownTermError(OntologyError):
    """A label, relationship type or property name is not in the ontology allowlist."""


class OntologyConflictError(OntologyError):
    """Another change to the same ontology was applied while an edit was prepared.

    The edit itself may be valid, so running it again unchanged can succeed, unlike other OntologyErrors.
    """


class InputDataError(KGServiceError):
    """A source file is unreadable or contains a value that cannot be loaded.

    `path`, `line` and `column` locate the problem where they are known; `line` is 1-based
    and counts physical lines of the file, the header included.
    """

    def __init__(self, message: str, *, path: str | None = None, line: int | None = None,
                 column: str | int | None = None, hint: str | None = None) -> None:
        self.path = path
        self.line = line
        self.column = column
        self.hint = hint
        super().__init__(self._format(message))

    def _format(self, message: str) -> str:
        location = []
        if self.path is not None:
            location.append(str(self.path))
        if self.line is not None:
            location.append(f"line {self.line}")
        if self.column is not None:
            location.append(f"column {self.column!r}" if isinstance(self.column, str) else f"column {self.column}")
        text = f"{', '.join(location)}: {message}" if location else message
        if self.hint:
            # Hints are written as clauses ("pass it with --encoding"); here each starts a sentence.
            text += f". {self.hint[:1].upper()}{self.hint[1:]}"
        return text


class MappingError(InputDataError):
    """A source mapping file (YAML) is invalid or does not fit its source."""


class QueryError(KGServiceError):
    """A reasoning or API query got invalid arguments."""


class NotFoundError(QueryError):
    """An entity named in a query does not exist in the graph."""


class DecisionInputError(QueryError, ValueError):
    """A decision method got an invalid decision matrix, weights, directions or pairwise comparison matrix."""


class ToolCallError(QueryError):
    """A tool call for a natural-language question is not valid JSON or has invalid arguments."""


class LLMBackendError(KGServiceError):
    """A language-model backend failed to answer: an endpoint error after retries, or a failed generation."""
