"""The `extensions.code` of GraphQL errors that do not come from a kg-service exception.

An error that kg-service raises on purpose carries the name of its class (`NotFoundError`,
`QueryError`, ...), which `kg_service.api.schema.KGSchema` sets. The codes here cover the rest,
so that every error in a response has a code. Where a kind of error has a code in Apollo Server,
the code is the same.
"""

from __future__ import annotations

from graphql import GraphQLError

# The depth, token, alias and introspection-depth limits.
LIMIT_CODE = "QueryLimitError"
# The query cost budget.
COST_CODE = "QueryCostError"
# A document that does not parse.
PARSE_CODE = "GRAPHQL_PARSE_FAILED"
# A document that fails a validation rule other than a limit (an unknown field, a fragment cycle).
VALIDATION_CODE = "GRAPHQL_VALIDATION_FAILED"
# A document with several operations and no operationName.
OPERATION_CODE = "OPERATION_RESOLUTION_FAILURE"
# A variable value that does not fit its type.
BAD_INPUT_CODE = "BAD_USER_INPUT"
# An unexpected error, masked unless KG_DEBUG is set.
INTERNAL_CODE = "INTERNAL_SERVER_ERROR"


def set_code(error: GraphQLError, code: str) -> None:
    """Set `extensions.code` of an error that has none."""
    if not (error.extensions or {}).get("code"):
        error.extensions = {**(error.extensions or {}), "code": code}


def set_missing_code(error: GraphQLError) -> None:
    """Give an error of graphql-core without a code the code of its kind.

    Parse, validation and limit errors have their codes by now. An error without a path comes
    from graphql-core preparing the execution, which rejects variable values that do not fit
    their types (its original error, if any, is a GraphQLError). An error with a path and no
    original error comes from completing a field's value (a null for a non-null field), a
    server fault. Errors that a resolver raised keep their own handling.
    """
    original = error.original_error
    if error.path is None and (original is None or isinstance(original, GraphQLError)):
        set_code(error, BAD_INPUT_CODE)
    elif original is None:
        set_code(error, INTERNAL_CODE)
