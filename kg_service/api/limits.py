"""A cost budget for GraphQL queries: page sizes multiplied through the nesting.

Depth, token and alias limits (strawberry's own extensions) bound a query's shape; this one
bounds how much data it can ask for. Each field costs 1, times the page size of every list
above it, where a page size is the field's `first` or `limit` argument (a literal or a
variable). Fragments count where they are spread.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from typing import Any

from graphql import (FieldNode, FragmentDefinitionNode, FragmentSpreadNode, GraphQLError, InlineFragmentNode,
                     IntValueNode, OperationDefinitionNode, SelectionSetNode, VariableNode)
from strawberry.extensions import SchemaExtension

logger = logging.getLogger(__name__)

PAGE_ARGUMENTS = ("first", "limit")


def _variables_with_defaults(operation: OperationDefinitionNode, variables: dict[str, Any]) -> dict[str, Any]:
    """Add the operation's default values for variables the request did not send."""
    values = dict(variables)
    for definition in operation.variable_definitions or ():
        name = definition.variable.name.value
        if name not in values and isinstance(definition.default_value, IntValueNode):
            values[name] = int(definition.default_value.value)
    return values


def _page_size(field: FieldNode, variables: dict[str, Any]) -> int:
    for argument in field.arguments or ():
        if argument.name.value not in PAGE_ARGUMENTS:
            continue
        value = argument.value
        if isinstance(value, IntValueNode):
            return max(1, int(value.value))
        if isinstance(value, VariableNode) and isinstance(variables.get(value.name.value), int):
            return max(1, variables[value.name.value])
    # NOTE: lists without a page argument (a work order's failure modes, ontology classes) count as one item.
    return 1


def query_cost(selection_set: SelectionSetNode | None, fragments: dict[str, FragmentDefinitionNode],
               variables: dict[str, Any], spread: frozenset[str] = frozenset()) -> int:
    """Return the cost of a selection set; a fragment spread inside itself counts once (validation rejects it)."""
    if selection_set is None:
        return 0
    total = 0
    for selection in selection_set.selections:
        if isinstance(selection, FieldNode):
            total += _page_size(selection, variables) * (1 + query_cost(selection.selection_set, fragments,
                                                                         variables, spread))
        elif isinstance(selection, InlineFragmentNode):
            total += query_cost(selection.selection_set, fragments, variables, spread)
        elif isinstance(selection, FragmentSpreadNode):
            name = selection.name.value
            if name in fragments and name not in spread:
                total += query_cost(fragments[name].selection_set, fragments, variables, spread | {name})
    return total


class QueryCostLimiter(SchemaExtension):
    """Reject a query whose estimated cost exceeds `max_cost` before it is validated or run.

    Usage::

        strawberry.Schema(query=Query, extensions=[lambda: QueryCostLimiter(max_cost=20_000)])
    """

    def __init__(self, max_cost: int = 20_000) -> None:
        if max_cost < 1:
            raise ValueError(f"max_cost must be at least 1, got {max_cost}")
        self.max_cost = max_cost

    def on_validate(self) -> Iterator[None]:
        context = self.execution_context
        document = context.graphql_document
        # Runs after strawberry's validation (or its cache), so only a query that passed it is costed.
        if document is not None and not context.pre_execution_errors:
            fragments = {definition.name.value: definition for definition in document.definitions
                         if isinstance(definition, FragmentDefinitionNode)}
            variables = context.variables or {}
            cost = sum(query_cost(definition.selection_set, fragments, _variables_with_defaults(definition, variables))
                       for definition in document.definitions
                       if isinstance(definition, OperationDefinitionNode)
                       and (context.operation_name is None or
                            (definition.name and definition.name.value == context.operation_name)))
            if cost > self.max_cost:
                logger.warning("rejected a GraphQL query of cost %d (budget %d)", cost, self.max_cost)
                context.pre_execution_errors = [GraphQLError(
                    f"query cost {cost} exceeds the budget of {self.max_cost}; request fewer items with smaller "
                    "first/limit values, fewer aliases or less nesting")]
        yield
