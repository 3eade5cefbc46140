"""GraphQL types that reasoning features contribute, merged into one schema by `build_schema`.

A feature module defines a strawberry type of query fields as the module attribute
`query_type` (and, when it changes data, `mutation_type`), and its dotted name is listed in
`FEATURE_MODULES`, one line per module, so features never edit each other's code.
"""

from __future__ import annotations

import importlib

FEATURE_MODULES: list[str] = [
    "kg_service.api.ask",
    "kg_service.api.suppliers",
    "kg_service.api.ontology_edit",
    "kg_service.api.design",
    "kg_service.api.extraction",
    "kg_service.api.gnn",
]


def _collect(attribute: str) -> list[type]:
    types = []
    for name in FEATURE_MODULES:
        module = importlib.import_module(name)
        feature_type = getattr(module, attribute, None)
        if feature_type is not None:
            types.append(feature_type)
    return types


def query_types() -> list[type]:
    """Return the query types of every feature module, in list order."""
    return _collect("query_type")


def mutation_types() -> list[type]:
    """Return the mutation types of the feature modules that have one."""
    return _collect("mutation_type")
