"""Limits on GraphQL queries: depth, tokens, aliases and a cost budget.

Depth, token and alias limits (strawberry's own extensions) bound a query's shape; the cost
budget bounds how much work it can ask for. Each field costs 1 per item of its page, times the
page size of every list above it, where a page size is the field's `first` or `limit` argument (a
literal, a variable, or the argument's schema default when the query leaves it out). A field with a
`@cost(weight: N)` directive costs N - 1 more per call: the fields that run a whole reasoning step
(a root-cause ranking, a supplier ranking, a SHACL validation) weigh as much as the many plain
fields their work equals, however small the page they return. Fragments count where they are
spread.

`query_limit_extensions` builds the whole set so that strawberry's parser and validation caches
hit on a repeated query text.

Every error of these checks carries an `extensions.code`: `QueryLimitError` for the depth, token,
alias and introspection-depth limits, `QueryCostError` for the cost budget, `QueryError` for a
page size above the maximum, `GRAPHQL_PARSE_FAILED` for a syntax error and
`GRAPHQL_VALIDATION_FAILED` for any other validation error (an unknown field, a fragment spread
inside itself).
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable, Iterator
from typing import Any

import strawberry
from graphql import (DocumentNode, FieldNode, FragmentDefinitionNode, FragmentSpreadNode, GraphQLError, GraphQLField,
                     GraphQLInterfaceType, GraphQLNamedType, GraphQLObjectType, GraphQLSchema, InlineFragmentNode,
                     IntValueNode, OperationDefinitionNode, SelectionSetNode, VariableNode, get_named_type)
from strawberry.extensions import (AddValidationRules, MaxAliasesLimiter, MaxTokensLimiter, ParserCache,
                                   QueryDepthLimiter, SchemaExtension, ValidationCache)
from strawberry.schema_directive import Location

from kg_service.api.error_codes import COST_CODE, LIMIT_CODE, PARSE_CODE, VALIDATION_CODE, set_code
from kg_service.errors import QueryError
from kg_service.reasoning.lookup import MAX_PAGE_SIZE

logger = logging.getLogger(__name__)

PAGE_ARGUMENTS = ("first", "limit")

MAX_TOKENS = 2000

# The code of a page size above the maximum, as paging.check_first raises it.
PAGE_SIZE_CODE = QueryError.__name__

# The messages of the limits that strawberry 0.341 and graphql-core 3.3 report without a code:
# QueryDepthLimiter, MaxAliasesLimiter, the parser's max_tokens and MaxIntrospectionDepthRule.
LIMIT_MESSAGES = re.compile(r"exceeds maximum operation depth of \d+$|^\d+ aliases found\. Allowed: \d+$"
                            r"|Document contains more than \d+ tokens|^Maximum introspection depth exceeded")

STRAWBERRY_DEFINITION = "strawberry-definition"


@strawberry.schema_directive(locations=[Location.FIELD_DEFINITION],
                             description="What resolving this field once costs in the query cost budget; "
                                         "a field without it costs 1")
class Cost:
    """The weight of a field in the query cost budget, shown in the SDL as `@cost(weight: N)`.

    Usage::

        @strawberry.field(directives=[Cost(weight=100)])
        async def root_causes(self, info: Info, ...) -> RootCauseResult: ...
    """

    weight: int

    def __post_init__(self) -> None:
        if isinstance(self.weight, bool) or not isinstance(self.weight, int) or self.weight < 1:
            raise ValueError(f"weight must be a positive integer, got {self.weight!r}")


def field_weight(field_def: GraphQLField | None) -> int:
    """Return the weight of a field: its `@cost` directive's weight, else 1."""
    definition = field_def.extensions.get(STRAWBERRY_DEFINITION) if field_def is not None else None
    for directive in getattr(definition, "directives", None) or ():
        if isinstance(directive, Cost):
            return directive.weight
    return 1


def _variables_with_defaults(operation: OperationDefinitionNode, variables: dict[str, Any]) -> dict[str, Any]:
    """Add the operation's default values for variables the request did not send."""
    values = dict(variables)
    for definition in operation.variable_definitions or ():
        name = definition.variable.name.value
        if name not in values and isinstance(definition.default_value, IntValueNode):
            values[name] = int(definition.default_value.value)
    return values


def _default_page_size(field_def: GraphQLField | None) -> int:
    """Return the schema default of a field's `first` or `limit` argument, or 1 when it has none."""
    if field_def is None:
        return 1
    for name in PAGE_ARGUMENTS:
        argument = field_def.args.get(name)
        if argument is not None and isinstance(argument.default_value, int):
            return max(1, argument.default_value)
    return 1


def variable_page_size(value: Any) -> int | None:
    """Return the Int that graphql-core coerces a variable's JSON value to, or None when it rejects the value.

    graphql-core 3.3 runs a float without a fractional part (200.0 or 2e2 in JSON) as that Int, so it counts as one.
    """
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return None


def _page_size(field: FieldNode, field_def: GraphQLField | None, variables: dict[str, Any]) -> int:
    for argument in field.arguments or ():
        if argument.name.value not in PAGE_ARGUMENTS:
            continue
        value = argument.value
        # A page size above MAX_PAGE_SIZE costs MAX_PAGE_SIZE, because the field rejects it with a
        # range error that names the field before it reads anything.
        if isinstance(value, IntValueNode):
            return min(max(1, int(value.value)), MAX_PAGE_SIZE)
        if isinstance(value, VariableNode):
            size = variable_page_size(variables.get(value.name.value))
            if size is not None:
                return min(max(1, size), MAX_PAGE_SIZE)
    # A page argument left out of the query costs its schema default (a connection's first=20).
    # NOTE: a list without a page argument counts as one item. Such lists are short value lists of one
    # item (an entity's classes, a path's nodes, a score's components by source).
    return _default_page_size(field_def)


def _field_definition(parent: GraphQLNamedType | None, name: str) -> GraphQLField | None:
    if isinstance(parent, (GraphQLObjectType, GraphQLInterfaceType)):
        return parent.fields.get(name)
    return None


def query_cost(selection_set: SelectionSetNode | None, fragments: dict[str, FragmentDefinitionNode],
               variables: dict[str, Any], spread: frozenset[str] = frozenset(), *,
               schema: GraphQLSchema | None = None, parent: GraphQLNamedType | None = None) -> int:
    """Return the cost of a selection set; a fragment spread inside itself counts once (validation rejects it).

    Given `schema` and the selection's `parent` type, a field without a page argument costs the
    schema default of its `first` or `limit` argument. Without them, such a field costs 1.
    """
    if selection_set is None:
        return 0
    total = 0
    for selection in selection_set.selections:
        if isinstance(selection, FieldNode):
            field_def = _field_definition(parent, selection.name.value)
            child = get_named_type(field_def.type) if field_def is not None else None
            inner = query_cost(selection.selection_set, fragments, variables, spread, schema=schema, parent=child)
            # The items of a page cost 1 each plus their selections; a weight above 1 counts once per call.
            total += _page_size(selection, field_def, variables) * (1 + inner) + field_weight(field_def) - 1
        elif isinstance(selection, InlineFragmentNode):
            condition = _condition_type(schema, selection.type_condition, parent)
            total += query_cost(selection.selection_set, fragments, variables, spread, schema=schema,
                                parent=condition)
        elif isinstance(selection, FragmentSpreadNode):
            name = selection.name.value
            if name in fragments and name not in spread:
                fragment = fragments[name]
                condition = _condition_type(schema, fragment.type_condition, parent)
                total += query_cost(fragment.selection_set, fragments, variables, spread | {name}, schema=schema,
                                    parent=condition)
    return total


def _condition_type(schema: GraphQLSchema | None, condition: Any, parent: GraphQLNamedType | None
                    ) -> GraphQLNamedType | None:
    if schema is None or condition is None:
        return parent
    return schema.get_type(condition.name.value)


def _root_type(schema: GraphQLSchema | None, operation: OperationDefinitionNode) -> GraphQLNamedType | None:
    if schema is None:
        return None
    return schema.get_root_type(operation.operation)


def operation_cost(schema: GraphQLSchema | None, document: DocumentNode, operation_name: str | None,
                   variables: dict[str, Any]) -> int:
    """Return the cost of the operations in `document` that `operation_name` selects (all of them when None)."""
    fragments = {definition.name.value: definition for definition in document.definitions
                 if isinstance(definition, FragmentDefinitionNode)}
    return sum(query_cost(definition.selection_set, fragments, _variables_with_defaults(definition, variables),
                          schema=schema, parent=_root_type(schema, definition))
               for definition in document.definitions
               if isinstance(definition, OperationDefinitionNode)
               and (operation_name is None or (definition.name and definition.name.value == operation_name)))


def _argument_size(value: Any, variables: dict[str, Any]) -> int | None:
    """Return the Int of a page argument's literal or variable, or None when it has none."""
    if isinstance(value, IntValueNode):
        return int(value.value)
    if isinstance(value, VariableNode):
        return variable_page_size(variables.get(value.name.value))
    return None


def oversized_page(selection_set: SelectionSetNode | None, fragments: dict[str, FragmentDefinitionNode],
                   variables: dict[str, Any], spread: frozenset[str] = frozenset()) -> tuple[str, int] | None:
    """Return the name and page size of the first field whose `first` or `limit` exceeds MAX_PAGE_SIZE, or None."""
    if selection_set is None:
        return None
    for selection in selection_set.selections:
        found = None
        if isinstance(selection, FieldNode):
            for argument in selection.arguments or ():
                if argument.name.value not in PAGE_ARGUMENTS:
                    continue
                size = _argument_size(argument.value, variables)
                if size is not None and size > MAX_PAGE_SIZE:
                    return selection.name.value, size
            found = oversized_page(selection.selection_set, fragments, variables, spread)
        elif isinstance(selection, InlineFragmentNode):
            found = oversized_page(selection.selection_set, fragments, variables, spread)
        elif isinstance(selection, FragmentSpreadNode):
            name = selection.name.value
            if name in fragments and name not in spread:
                found = oversized_page(fragments[name].selection_set, fragments, variables, spread | {name})
        if found is not None:
            return found
    return None


def _operation_oversized_page(document: DocumentNode, operation_name: str | None,
                              variables: dict[str, Any]) -> tuple[str, int] | None:
    """Return the first oversized page (see `oversized_page`) of the operations that `operation_name` selects."""
    fragments = {definition.name.value: definition for definition in document.definitions
                 if isinstance(definition, FragmentDefinitionNode)}
    for definition in document.definitions:
        if isinstance(definition, OperationDefinitionNode) and (
                operation_name is None or (definition.name and definition.name.value == operation_name)):
            found = oversized_page(definition.selection_set, fragments,
                                   _variables_with_defaults(definition, variables))
            if found is not None:
                return found
    return None


def _shown(cost: int) -> str:
    """Return a cost as text, shortened where a huge page size made it longer than a message should be."""
    return str(cost) if cost < 10**15 else "over 10^15"


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
            cost = operation_cost(getattr(context.schema, "_schema", None), document, context.operation_name,
                                  context.variables or {})
            if cost > self.max_cost:
                context.pre_execution_errors = [self._error(document, context.operation_name,
                                                            context.variables or {}, cost)]
        yield

    def _error(self, document: DocumentNode, operation_name: str | None, variables: dict[str, Any],
               cost: int) -> GraphQLError:
        """Return the error of a query over the budget: the range error of an oversized page first, if it has one."""
        oversized = _operation_oversized_page(document, operation_name, variables)
        if oversized is not None:
            field, size = oversized
            logger.warning("rejected a GraphQL query with first %d on %s", size, field)
            # The same message as paging.check_first, which the field itself raises.
            return GraphQLError(f"first of {field} must be between 1 and {MAX_PAGE_SIZE}, got {size}",
                                extensions={"code": PAGE_SIZE_CODE})
        logger.warning("rejected a GraphQL query of cost %s (budget %d)", _shown(cost), self.max_cost)
        return GraphQLError(f"query cost {_shown(cost)} exceeds the budget of {self.max_cost}; request fewer items "
                            "with smaller first values, fewer aliases or less nesting",
                            extensions={"code": COST_CODE})


class CodedParserCache(ParserCache):
    """strawberry's ParserCache, with an `extensions.code` on a syntax error or a token limit error.

    Usage::

        strawberry.Schema(query=Query, extensions=[lambda: CodedParserCache(maxsize=256)])
    """

    def on_parse(self) -> Iterator[None]:
        context = self.execution_context
        try:
            context.graphql_document = self.cached_parse_document(context.query, **context.parse_options)
        except GraphQLError as error:
            set_code(error, LIMIT_CODE if LIMIT_MESSAGES.search(error.message) else PARSE_CODE)
            raise
        yield


class CodedValidationCache(ValidationCache):
    """strawberry's ValidationCache, with an `extensions.code` on each validation error.

    The depth, alias and introspection-depth limits get LIMIT_CODE, every other rule VALIDATION_CODE.
    The cache keeps the same error objects, so a cached result carries its codes.

    Usage::

        strawberry.Schema(query=Query, extensions=[lambda: CodedValidationCache(maxsize=256)])
    """

    def on_validate(self) -> Iterator[None]:
        context = self.execution_context
        errors = self.cached_validate_document(context.schema._schema, context.graphql_document,
                                               context.validation_rules)
        for error in errors:
            set_code(error, LIMIT_CODE if LIMIT_MESSAGES.search(error.message) else VALIDATION_CODE)
        context.pre_execution_errors = errors
        yield


def query_limit_extensions(max_depth: int = 10, max_tokens: int = MAX_TOKENS, max_aliases: int = 20,
                           max_cost: int = 10_000, cache_size: int = 256) -> list[Callable[[], SchemaExtension]]:
    """Build extension factories for the depth, token, alias and cost limits and the parser and validation caches.

    strawberry's ValidationCache keys its results by the document and the tuple of validation
    rules. QueryDepthLimiter and MaxAliasesLimiter create a new rule class per instance, so a
    fresh limiter per request would make every request miss the cache. Here the rule classes
    are created once and every request adds the same ones. A query text seen before therefore
    skips validation, which is safe because the depth and alias rules read only the document.
    The cost limiter runs on every request because a cost depends on the variables.
    """
    shape_rules = [*QueryDepthLimiter(max_depth=max_depth).validation_rules,
                   *MaxAliasesLimiter(max_alias_count=max_aliases).validation_rules]
    return [lambda: AddValidationRules(shape_rules), lambda: MaxTokensLimiter(max_token_count=max_tokens),
            lambda: CodedParserCache(maxsize=cache_size), lambda: CodedValidationCache(maxsize=cache_size),
            lambda: QueryCostLimiter(max_cost=max_cost)]
