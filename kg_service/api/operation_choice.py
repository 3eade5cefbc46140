"""The choice of the operation to run when a GraphQL document contains several.

A request whose document contains several operations must name the one to run in
`operationName`; graphql-core 3.3 rejects it otherwise ("Must provide operation name if query
contains multiple operations"). strawberry 0.341 passes the first operation's name when the
request has none, so it runs the first operation. The API checks this before the schema
executes a request.
"""

from __future__ import annotations

import logging
from functools import lru_cache

from graphql import GraphQLError, OperationDefinitionNode, parse

from kg_service.api.error_codes import OPERATION_CODE
from kg_service.api.limits import MAX_TOKENS

logger = logging.getLogger(__name__)


@lru_cache(maxsize=256)
def operation_names(query: str) -> tuple[str, ...] | None:
    """Return the names of the operations in `query` ("" for an anonymous one), or None when it does not parse.

    A document that does not parse, or that exceeds the token limit, is left to the schema, which
    reports the error.
    """
    try:
        document = parse(query, no_location=True, max_tokens=MAX_TOKENS)
    except GraphQLError:
        return None
    return tuple(definition.name.value if definition.name else "" for definition in document.definitions
                 if isinstance(definition, OperationDefinitionNode))


def missing_operation_name(query: object, operation_name: object) -> GraphQLError | None:
    """Return the request error for a document with several operations and no `operationName`, else None."""
    if operation_name is not None or not isinstance(query, str):
        return None
    names = operation_names(query)
    # Validation rejects an anonymous operation beside others (LoneAnonymousOperationRule) with its own message.
    if names is None or len(names) < 2 or "" in names:
        return None
    listed = ", ".join(repr(name) for name in names[:10])
    logger.warning("rejected a GraphQL document with %d operations and no operationName", len(names))
    return GraphQLError(f"must provide operation name if the query contains several operations: the document "
                        f"contains {len(names)} ({listed}); send operationName with the name of the one to run",
                        extensions={"code": OPERATION_CODE})
