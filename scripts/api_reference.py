"""Generate docs/api-reference.md from the published GraphQL schema (docs/schema.graphql).

Usage:
    .venv/bin/python scripts/api_reference.py            # rewrite docs/api-reference.md
    .venv/bin/python scripts/api_reference.py --check    # exit 1 when the file is stale

Regenerate the SDL first with `kg-service graphiql sdl docs/schema.graphql`.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from graphql import (GraphQLArgument, GraphQLEnumType, GraphQLField, GraphQLInputField, GraphQLInputObjectType,
                     GraphQLObjectType, GraphQLScalarType, GraphQLSchema, Undefined, build_schema)
from graphql.utilities import ast_from_value
from graphql.language import print_ast

ROOT = Path(__file__).resolve().parent.parent
SDL_FILE = ROOT / "docs" / "schema.graphql"
REFERENCE_FILE = ROOT / "docs" / "api-reference.md"

HEADER = """# GraphQL API reference

Generated from [schema.graphql](schema.graphql) by `scripts/api_reference.py`; do not edit by hand.
Regenerate both with:

```bash
.venv/bin/kg-service graphiql sdl docs/schema.graphql
.venv/bin/python scripts/api_reference.py
```

Every field that returns a label takes `lang`: "en" or "zh" in any case, or a language tag with a
region such as "zh-CN". Without `lang`, a label is English, with three exceptions: the label of an
entity that `entities` returned follows that query's `lang`, a design constraint's label follows
the `lang` of `designConstraints`, and a citation's label follows the language of the answer.
Errors come back in the `errors` list of the response with a message that names the invalid
argument and what to pass instead.

`entities` matches `text` against the source, English and Chinese names of every entity, ignoring
case, whatever `lang` is. `lang` only picks the language of the labels.

Arguments that take a date or a time (`since` and `until` of `failureHistory` and `rootCauses`)
take ISO 8601, a date such as 2024-05-01 or a date-time such as 2024-05-01T08:30:00. A date-time
with Z or an offset such as +08:00 is converted to UTC. One without either is taken as UTC, because
the loaders store times in UTC. `failureHistory` filters work-order dates, so there a date-time
must be midnight UTC (2024-05-01T00:00:00Z, 2024-05-01T08:00:00+08:00), and another time of day is
rejected.

## Error codes and roles

Each error has an `extensions.code`. It is the kg-service error class (`QueryError`, `NotFoundError`,
`AuthorizationError`, ...), or `QueryCostError` or `QueryLimitError` for a request over a limit.
Requests that GraphQL itself rejects get `GRAPHQL_PARSE_FAILED`, `GRAPHQL_VALIDATION_FAILED`,
`BAD_USER_INPUT` for a variable of the wrong type, or `OPERATION_RESOLUTION_FAILURE` for several
operations without `operationName`. `GraphUnavailableError` means retry later, and
`INTERNAL_SERVER_ERROR` marks a masked unexpected error.
An ontology edit that another change overtook while it was prepared fails with `OntologyConflictError`:
send the same mutation again. Other rejected edits have `OntologyError` or `UnknownTermError`, and only
a changed mutation can succeed ([ontology-editing.md](ontology-editing.md)).

A request without a credential gets the role in `KG_ANONYMOUS_ROLE` (`reader` by default). A
credential is an API key or a JWT, sent as `Authorization: Bearer <credential>` or as
`X-API-Key: <credential>`. A credential that is rejected (empty, unknown, expired, or two different
ones in the two headers) fails the whole request with HTTP 401, a plain-text message and a
`WWW-Authenticate` header, before GraphQL runs. A field above the request's role fails with the
code `AuthorizationError`. Each role can do everything that the roles above it in this table can:

| role | adds |
|---|---|
| `reader` | every query except `ontologyChanges` |
| `analyst` | `ontologyChanges` |
| `ontology-editor` | every mutation (`addClass`, `addProperty`, `renameTerm`, `relabelTerm`, `deprecateTerm`, `setDomainRange`, `moveClass`, `upsertShape`) |
| `admin` | nothing in the API; API keys are managed with `kg-service apikey` on the server, which needs access to its state folder, not a role |

## Paging

A list of objects or graph keys is a Relay connection, also where it hangs off one item (a work
order's failure modes, an event's signals, a shape's rules, an answer's citations): `totalCount`,
`edges { cursor node }` and `pageInfo { hasNextPage endCursor hasPreviousPage startCursor }`. The
arguments are `first` (1 to 200 unless the field's description gives another maximum; a value outside
the range is rejected with a message that names the field and the value) and `after` (the `endCursor`
of the previous page). A cursor is opaque.

Entities, work orders, ontology terms, ontology changes and supplier KPIs page by key. Each cursor
carries the sort key of its item and a fingerprint of the field and of the arguments that define
the list: `text` and `ofClass` of `entities` (not `lang`, which changes only the labels),
`ontology` of `ontologyChanges`. A failure-history cursor carries a hash of the asset, the
failures-only filter and the date window. Lists that a resolver computes in full (rankings,
evidence, design checks, the lists of one work order, event, shape or answer) page by position.
Their cursor carries a fingerprint of the field and the request arguments, and for a list of one
item also that item's key. Each such request computes the whole list again, so the ranks and scores
on a page are those of the unpaged list.

A cursor of another list, another item or a request with other arguments is rejected, with an
error that says to restart from the first page (omit `after`). So is a cursor longer than 4096
characters, because this API issues none that long.

`SupplierRankingResult.tables(first, after)` pages the same way by supplier rows, without edges: a
page has `totalCount`, `pageInfo` and the table rows of its suppliers.

Lists whose length the request or the schema fixes stay plain lists:

| list | why it is not paged |
|---|---|
| `Entity.classes`, `ObservedEvent.classes`, `TelemetryEvidence.classes` | node labels of one node, bounded by the class hierarchy |
| `OntologyClass.parents` | direct superclasses of one class |
| `RootCauseResult.sources` | at most the six evidence sources |
| `RootCauseCandidate.breakdown` | one value per evidence source |
| `EvidencePath.nodes`, `EvidencePath.relationships` | the nodes and relationships of one path |
| `RankedSupplier.distances`, `RankedSupplier.values` | one value per distance of the method and per criterion given |
| `SupplierDecisionTables.criteria`, `directions`, `weights`, `ideal`, `antiIdeal` | one value per criterion given; they come whole with every page of `SupplierRankingResult.tables`, which pages the per-supplier rows |
| `SupplierNamedVector.values`, and the rows of `SupplierDecisionTables.decision`, `normalized` and `weighted` | one value per supplier row of one `tables` page, or per criterion given |
| `SupplierRankingResult.partIds` | the parts that the `part` or `category` argument names |
| `SupplierAhpConsistency.weights` | one weight per criterion given |
| `SupplierKpiConnection.columns`, `SupplierKpiRow.values`, `SupplierKpiRow.kpis` | one value per KPI |
| `ExcludedSupplier.reasons` | at most one reason per constraint and criterion given |
| `AppliedDesignConstraint.via` | the path from the target to one item |
| `EvidenceChunk.mentions` | the mentions inside one chunk |
| `AskResult.suggestions` | a few example questions |
"""


def _text(description: str | None) -> str:
    return " ".join((description or "").split())


def _cell(text: str) -> str:
    return text.replace("|", "\\|")


def _default(argument: GraphQLArgument | GraphQLInputField) -> str:
    # graphql-core 3.3 keeps an SDL default as its AST node and leaves default_value Undefined.
    node = argument.ast_node.default_value if argument.ast_node is not None else None
    if node is None and argument.default_value is not Undefined:
        node = ast_from_value(argument.default_value, argument.type)
    return f" = {print_ast(node)}" if node is not None else ""


def _signature(name: str, field: GraphQLField) -> str:
    if not field.args:
        return f"{name}: {field.type}"
    arguments = ", ".join(f"{arg_name}: {arg.type}{_default(arg)}" for arg_name, arg in field.args.items())
    return f"{name}({arguments}): {field.type}"


def _root_section(title: str, root: GraphQLObjectType | None) -> list[str]:
    if root is None:
        return []
    lines = [f"## {title}", ""]
    for name in sorted(root.fields):
        field = root.fields[name]
        lines += [f"### `{name}`", "", "```graphql", _signature(name, field), "```", ""]
        if field.description:
            lines += [_text(field.description), ""]
        described = [(arg_name, arg) for arg_name, arg in field.args.items() if arg.description]
        for arg_name, arg in described:
            lines.append(f"- `{arg_name}`: {_text(arg.description)}")
        if described:
            lines.append("")
    return lines


def _type_section(schema: GraphQLSchema) -> list[str]:
    roots = {schema.query_type, schema.mutation_type}
    named = sorted((item for name, item in schema.type_map.items() if not name.startswith("__") and item not in roots),
                   key=lambda item: item.name)
    objects = [item for item in named if isinstance(item, GraphQLObjectType)]
    inputs = [item for item in named if isinstance(item, GraphQLInputObjectType)]
    enums = [item for item in named if isinstance(item, GraphQLEnumType)]
    scalars = [item for item in named if isinstance(item, GraphQLScalarType)
               and item.name not in ("String", "Int", "Float", "Boolean", "ID")]

    lines = ["## Types", ""]
    for item in objects + inputs:
        kind = "input" if isinstance(item, GraphQLInputObjectType) else "type"
        lines += [f"### `{item.name}` ({kind})", ""]
        if item.description:
            lines += [_text(item.description), ""]
        lines += ["| field | type | description |", "|---|---|---|"]
        for field_name, field in item.fields.items():
            name = field_name
            if isinstance(field, GraphQLField) and field.args:
                name = _signature(field_name, field).rsplit(": ", 1)[0]
            default = ""
            if isinstance(field, GraphQLInputField) and _default(field):
                default = f" (default {_default(field).removeprefix(' = ')})"
            lines.append(f"| `{_cell(name)}` | `{_cell(str(field.type))}` | {_cell(_text(field.description))}{default} |")
        lines.append("")
    for item in enums:
        lines += [f"### `{item.name}` (enum)", "", _text(item.description), ""]
        lines += [f"- `{value_name}`" for value_name in item.values] + [""]
    if scalars:
        lines += ["## Scalars", ""]
        for item in scalars:
            lines.append(f"- `{item.name}`: {_text(item.description)}")
        lines.append("")
    return lines


def render(sdl: str) -> str:
    """Return the Markdown reference of a schema given in SDL."""
    schema = build_schema(sdl)
    lines = [HEADER]
    lines += _root_section("Queries", schema.query_type)
    lines += _root_section("Mutations", schema.mutation_type)
    lines += _type_section(schema)
    return "\n".join(lines).rstrip() + "\n"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="exit 1 when docs/api-reference.md is stale")
    options = parser.parse_args()
    reference = render(SDL_FILE.read_text(encoding="utf-8"))
    if options.check:
        current = REFERENCE_FILE.read_text(encoding="utf-8") if REFERENCE_FILE.exists() else ""
        if current != reference:
            print(f"{REFERENCE_FILE} is stale: run .venv/bin/python scripts/api_reference.py", file=sys.stderr)
            return 1
        return 0
    REFERENCE_FILE.write_text(reference, encoding="utf-8")
    print(f"wrote {REFERENCE_FILE}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
