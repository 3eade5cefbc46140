"""A graphql-core executor that completes plain fields in one pass.

graphql-core runs every field the same way. It builds a GraphQLResolveInfo, calls the field's
resolver (for strawberry, a wrapper that converts arguments and builds its own Info) and then
completes the value through the null, list, object and leaf checks. A page of 20 work orders
takes about 150 such field executions and 340 value completions, which cost about a third as
much time as the Cypher query behind the page.

`PlainFieldExecutor` completes plain fields directly. A field is plain when it is

- an attribute field: a strawberry field without a resolver, arguments, permission or field
  extension, which strawberry resolves by reading the attribute; or
- a pure field: a resolver marked with `PURE_RESOLVER` in its field metadata, which reads only
  `self` and scalar arguments, such as an entity's `label(lang)` or a work order's
  `failureModes(first, after)`, which pages a list the work order already holds;

and its type is a built-in scalar (String, Int, Float, Boolean, ID), an object type, or a list
of either. An object or a list of objects is completed in the same pass when every field
selected on it is plain (or `__typename`). So a work order's
`failureModes { totalCount edges { cursor node { id label } } }` goes through no graphql-core
field execution at all, because the executor calls the pure resolver itself and completes the
connection it returns in the same pass.

Values are coerced with each scalar's own `coerce_output_value`. A field goes the standard way
whenever the short way might differ. That happens with field middleware, directives on a
field, @defer, an object type with `is_type_of`, a null for a non-null type, a value the
scalar does not coerce and any exception in a pure resolver. The standard way then returns the
same data or error as an unmodified executor. Attribute reads and pure resolvers have no side
effects, so computing such a field a second time the standard way is safe.
"""

from __future__ import annotations

import inspect
import logging
from operator import attrgetter
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from graphql import (GraphQLField, GraphQLList, GraphQLNonNull, GraphQLObjectType, GraphQLScalarType, GraphQLSchema,
                     Undefined)
from graphql import version as graphql_version
from graphql.execution.values import get_argument_values
from graphql.type.scalars import specified_scalar_types
from strawberry.schema.schema import StrawberryGraphQLCoreExecutionContext
from strawberry.schema.schema_converter import GraphQLCoreConverter
from strawberry.utils.str_converters import to_camel_case

logger = logging.getLogger(__name__)

# Metadata key of a strawberry field whose resolver reads only `self` and scalar arguments.
PURE_RESOLVER = "kg_pure_resolver"

TYPENAME = "__typename"


class _StandardPath(Exception):
    """The value needs graphql-core's standard completion (a null for a non-null type, an invalid value)."""


@dataclass(frozen=True)
class PlainField:
    """How to complete one plain field: where its value comes from and the type it completes to.

    `named_type` is a built-in scalar or an object type. `non_null`, `is_list` and
    `item_non_null` describe the wrappers around it.
    """

    attribute: str | None
    resolver: Callable[..., Any] | None
    argument_names: dict[str, str]
    named_type: GraphQLScalarType | GraphQLObjectType
    non_null: bool
    is_list: bool
    item_non_null: bool

    def value(self, source: Any, arguments: dict[str, Any]) -> Any:
        return self.reader(arguments)(source)

    def reader(self, arguments: dict[str, Any]) -> Callable[[Any], Any]:
        """Return the function that reads the field's value from a source object, with `arguments` bound."""
        if self.resolver is None:
            return attrgetter(self.attribute)
        resolver = self.resolver
        keywords = {self.argument_names[name]: value for name, value in arguments.items()}
        return lambda source: resolver(source, **keywords)

    def complete(self, value: Any, complete_item: Callable[[Any], Any]) -> Any:
        """Return the completed value, completing each non-null item with `complete_item`.

        Raises _StandardPath where graphql-core must decide (a null for a non-null type, a value
        that is not a list where a list is expected).
        """
        if value is None:
            if self.non_null:
                raise _StandardPath
            return None
        if not self.is_list:
            return complete_item(value)
        if not isinstance(value, (list, tuple)):
            raise _StandardPath
        completed = []
        for item in value:
            if item is None:
                if self.item_non_null:
                    raise _StandardPath
                completed.append(None)
            else:
                completed.append(complete_item(item))
        return completed


# The built-in scalars whose output coercion returns a value of this exact Python type unchanged.
_UNCHANGED_OUTPUT = {"String": str, "ID": str, "Boolean": bool}


def coerce_leaf(scalar: GraphQLScalarType, value: Any) -> Any:
    """Return a scalar value coerced for output, or raise _StandardPath when the scalar rejects it."""
    coerced = scalar.coerce_output_value(value)
    if coerced is None or coerced is Undefined:
        raise _StandardPath
    return coerced


def leaf_completer(scalar: GraphQLScalarType) -> Callable[[Any], Any]:
    """Return `coerce_leaf` for one scalar, skipping the coercion call for a value it returns unchanged.

    graphql-core returns a str as-is for String and ID and a bool as-is for Boolean, so an item
    of that exact type needs no call. Int and Float check ranges and finiteness, so their values
    always go through the scalar.
    """
    unchanged = _UNCHANGED_OUTPUT.get(scalar.name)

    def complete(value: Any) -> Any:
        if type(value) is unchanged:
            return value
        return coerce_leaf(scalar, value)

    return complete


def _type_shape(field_type: Any) -> tuple[Any, bool, bool, bool]:
    """Return (named type, non_null, is_list, item_non_null) for a type with at most one list wrapper."""
    non_null = isinstance(field_type, GraphQLNonNull)
    inner = field_type.of_type if non_null else field_type
    is_list = isinstance(inner, GraphQLList)
    item_non_null = False
    if is_list:
        inner = inner.of_type
        item_non_null = isinstance(inner, GraphQLNonNull)
        inner = inner.of_type if item_non_null else inner
    return inner, non_null, is_list, item_non_null


def _is_builtin_scalar(named_type: Any) -> bool:
    return isinstance(named_type, GraphQLScalarType) and specified_scalar_types.get(named_type.name) is named_type


def _plain_field(field: GraphQLField) -> PlainField | None:
    shape = _type_shape(field.type)
    named_type = shape[0]
    is_object = isinstance(named_type, GraphQLObjectType) and named_type.is_type_of is None
    definition = (field.extensions or {}).get(GraphQLCoreConverter.DEFINITION_BACKREF)
    if definition is None or not (is_object or _is_builtin_scalar(named_type)):
        return None
    if getattr(field.resolve, "_is_default", False) and not field.args:
        return PlainField(definition.python_name, None, {}, *shape)

    resolver = definition.base_resolver
    if not (definition.metadata or {}).get(PURE_RESOLVER) or resolver is None:
        return None
    if resolver.is_async or resolver.info_parameter is not None or resolver.root_parameter is not None:
        raise ValueError(f"field {definition.python_name} is marked {PURE_RESOLVER} but its resolver is async or "
                         "reads info or root; remove the mark")
    if any(not _is_builtin_scalar(_type_shape(argument.type)[0]) for argument in field.args.values()):
        return None
    names = {argument.graphql_name or to_camel_case(argument.python_name): argument.python_name
             for argument in definition.arguments}
    if any(graphql_name not in names for graphql_name in field.args):
        return None
    return PlainField(None, resolver.wrapped_func, names, *shape)


def plain_fields(schema: GraphQLSchema) -> dict[tuple[str, str], PlainField]:
    """Return the plain fields of every object type, by type name and field name."""
    plans = {}
    for type_name, named_type in schema.type_map.items():
        if not isinstance(named_type, GraphQLObjectType) or type_name.startswith("__"):
            continue
        for field_name, field in named_type.fields.items():
            plan = _plain_field(field)
            if plan is not None:
                plans[(type_name, field_name)] = plan
    return plans


_STANDARD = object()


class PlainFieldExecutor(StrawberryGraphQLCoreExecutionContext):
    """strawberry's executor, completing the fields in `plans` in one pass where it can.

    `executor_for(schema)` makes a subclass with the plans of one schema.
    """

    plans: dict[tuple[str, str], PlainField] = {}

    def execute_fields(self, parent_type: GraphQLObjectType, source_value: Any, path: Any,
                       grouped_field_set: dict[str, Any], position_context: Any) -> Any:
        middleware = self.middleware_manager
        if middleware is not None and middleware.middlewares:
            return super().execute_fields(parent_type, source_value, path, grouped_field_set, position_context)

        plain: dict[str, Any] = {}
        standard: dict[str, Any] = {}
        for response_name, field_details_list in grouped_field_set.items():
            value = self._plain_value(parent_type, source_value, field_details_list)
            if value is _STANDARD:
                standard[response_name] = field_details_list
            else:
                plain[response_name] = value
        if not standard:
            return plain

        # The other fields run the standard way, and the result keeps the order of the selection.
        executed = super().execute_fields(parent_type, source_value, path, standard, position_context)
        if not self.is_awaitable(executed):
            return _in_order(grouped_field_set, plain, executed)

        async def merge() -> dict[str, Any]:
            return _in_order(grouped_field_set, plain, await executed)

        return merge()

    def _plain_value(self, parent_type: GraphQLObjectType, source: Any, field_details_list: Any) -> Any:
        """Return the completed value of a plain field, or _STANDARD when the field must run the standard way."""
        try:
            return self._complete_plain(parent_type, source, field_details_list)
        except Exception:  # noqa: BLE001 - the standard way raises or reports the same error itself
            return _STANDARD

    def _complete_plain(self, parent_type: GraphQLObjectType, source: Any, field_details_list: Any) -> Any:
        return self._completer(parent_type, field_details_list)(source)

    def _completer(self, parent_type: GraphQLObjectType, field_details_list: Any) -> Callable[[Any], Any]:
        """Return the function that completes one field of `parent_type` from its source object.

        Every item of a list is selected by the same field details, so the function is built once
        per request and field. The plan lookup, the argument coercion and the subfield collection
        run once, and each item only reads and completes its values.
        The function raises _StandardPath where the field must run the standard way.
        """
        completers = self.__dict__.setdefault("_completers", {})
        key = (parent_type.name, id(field_details_list))
        completer = completers.get(key)
        if completer is None:
            completer = self._build_completer(parent_type, field_details_list)
            # The key contains an id, so the cache keeps the field details alive for the request as well.
            completers[key] = completer
            self.__dict__.setdefault("_completed_details", []).append(field_details_list)
        return completer

    def _build_completer(self, parent_type: GraphQLObjectType, field_details_list: Any) -> Callable[[Any], Any]:
        details = field_details_list[0]
        node = details.node
        name = node.name.value
        if node.directives:
            return _standard_path
        if name == TYPENAME:
            type_name = parent_type.name
            return lambda source: type_name
        plan = self.plans.get((parent_type.name, name))
        if plan is None:
            return _standard_path

        arguments: dict[str, Any] = {}
        if plan.resolver is not None:
            arguments = self._arguments(parent_type.fields[name], details)
        read_value = plan.reader(arguments)
        complete = plan.complete
        if isinstance(plan.named_type, GraphQLScalarType):
            complete_leaf = leaf_completer(plan.named_type)
            if not plan.is_list and not plan.non_null:
                # A nullable single leaf, the commonest field, completes without the wrapper checks.
                def complete_nullable_leaf(source: Any) -> Any:
                    value = read_value(source)
                    return None if value is None else complete_leaf(value)

                return complete_nullable_leaf
            return lambda source: complete(read_value(source), complete_leaf)

        object_type = plan.named_type
        grouped_field_set, new_defer_usages, _ = self.collect_subfields(object_type, field_details_list)
        if new_defer_usages:
            return _standard_path
        subfields = [(response_name, self._completer(object_type, subfield_details))
                     for response_name, subfield_details in grouped_field_set.items()]

        def complete_object(item: Any) -> dict[str, Any]:
            return {response_name: complete_field(item) for response_name, complete_field in subfields}

        return lambda source: complete(read_value(source), complete_object)

    def _arguments(self, field: GraphQLField, details: Any) -> dict[str, Any]:
        """Return the coerced arguments of a field node, coerced once per request.

        The arguments depend only on the node and the request's variables, so every item of a list
        (each work order's `failureModes(first: 5)`) shares the values of the first one.
        """
        cache = self.__dict__.setdefault("_argument_cache", {})
        key = (id(details.node), id(details.fragment_variable_values))
        arguments = cache.get(key)
        if arguments is None:
            arguments = get_argument_values(field, details.node, self.variable_values,
                                            details.fragment_variable_values, self.hide_suggestions)
            cache[key] = arguments
        return arguments


def _standard_path(source: Any) -> Any:
    """Raise _StandardPath, so the field runs the standard way."""
    raise _StandardPath


def _in_order(grouped_field_set: dict[str, Any], plain: dict[str, Any], executed: dict[str, Any]) -> dict[str, Any]:
    """Merge plain and executed field values in the order of the selection (a field not found is left out)."""
    merged = {}
    for response_name in grouped_field_set:
        if response_name in plain:
            merged[response_name] = plain[response_name]
        elif response_name in executed:
            merged[response_name] = executed[response_name]
    return merged


# The graphql-core internals that PlainFieldExecutor overrides or calls, with their parameter names in 3.3.
_EXPECTED_PARAMETERS = {
    "execute_fields": ("self", "parent_type", "source_value", "path", "grouped_field_set", "position_context"),
    "collect_subfields": ("self", "return_type", "field_details_list"),
}
_EXPECTED_ARGUMENT_VALUES = ("type_def", "node", "variable_values", "fragment_variable_values", "hide_suggestions")


def internals_match() -> bool:
    """Return whether the installed graphql-core has the executor internals this module was written against."""
    for name, expected in _EXPECTED_PARAMETERS.items():
        method = getattr(StrawberryGraphQLCoreExecutionContext, name, None)
        if method is None or tuple(inspect.signature(method).parameters) != expected:
            return False
    return tuple(inspect.signature(get_argument_values).parameters) == _EXPECTED_ARGUMENT_VALUES


def executor_for(schema: GraphQLSchema) -> type[StrawberryGraphQLCoreExecutionContext]:
    """Return a PlainFieldExecutor subclass with the plain fields of `schema`.

    With another graphql-core whose internals differ, return strawberry's own executor instead.
    """
    if not internals_match():
        logger.warning("graphql-core %s has other executor internals than 3.3; every field runs its resolver",
                       graphql_version)
        return StrawberryGraphQLCoreExecutionContext
    plans = plain_fields(schema)
    logger.debug("%d plain fields complete without a resolver call", len(plans))
    return type("SchemaPlainFieldExecutor", (PlainFieldExecutor,), {"plans": plans})
