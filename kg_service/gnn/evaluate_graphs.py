"""Graphs to evaluate link prediction on, as named presets.

A preset names the node classes, the relationship types and the target relationship types of
one evaluation graph, the data that loads it and the key namespaces of that data, so that the
export leaves out nodes of other sources stored in the same Neo4j.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

from kg_service.errors import QueryError
from kg_service.gnn.evaluate import EdgeType
from kg_service.gnn.export import KeyScope

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class GraphPreset:
    """Node classes, relationship types and target edge types of one evaluation graph.

    A node with several of `classes` belongs to the most specific one (kg_service.gnn.export).
    """

    name: str
    classes: tuple[str, ...]
    relationship_types: tuple[str, ...]
    targets: tuple[EdgeType, ...]
    data_path: Path | None = None
    mapping_path: Path | None = None
    scope: KeyScope | None = None


# Classes whose work-order nodes have keys without a source namespace (loaders.workorders), because
# every source shares them: `part:<name>`, `failure-mode:<name>`, `action:<name>`, `failure-mode-code:iso14224:<code>`.
WORKORDER_SHARED_CLASSES = ("Part", "FailureMode", "FailureModeCode", "MaintenanceAction")
# Key prefixes of the work-order nodes in the asset namespace of a mapping (loaders.workorders).
WORKORDER_ASSET_KEY_PREFIXES = ("equipment", "system", "component", "site", "line")


def _data_dir() -> Path:
    from kg_service.config import find_project_root

    return find_project_root().parent / "shared" / "data"


def workorder_scope(mapping_path: Path) -> KeyScope:
    """Return the key namespaces of the work orders that `mapping_path` loads; raise MappingError or QueryError."""
    from loaders.mapping import WorkOrderMapping, load_mapping

    mapping = load_mapping(mapping_path)
    if not isinstance(mapping, WorkOrderMapping):
        raise QueryError(f"mapping {mapping_path} is not a work-order mapping ('kind: workorders'); pass the mapping "
                         "of the work-order CSV with --mapping")
    prefixes = (f"workorder:{mapping.source}:",) + tuple(f"{kind}:{mapping.assets}:"
                                                          for kind in WORKORDER_ASSET_KEY_PREFIXES)
    return KeyScope(name=mapping.source, prefixes=prefixes, shared_classes=WORKORDER_SHARED_CLASSES)


def preset(name: str) -> GraphPreset:
    """Return the preset `maintkg`, `supplygraph` or `synthetic`; raise QueryError for other names."""
    from kg_service.config import find_project_root

    if name == "maintkg":
        mapping_path = find_project_root() / "loaders" / "mappings" / "maintkg_pdl.yaml"
        return GraphPreset(
            name="maintkg",
            classes=("WorkOrder", "Equipment", "System", "Component", "Part", "FailureMode", "FailureModeCode",
                     "MaintenanceAction"),
            relationship_types=("FOR_ASSET", "INVOLVES", "HAS_ACTION", "HAS_FAILURE_MODE", "INSTANCE_OF_PART",
                                "PART_OF", "HAS_CODE"),
            targets=(("WorkOrder", "HAS_FAILURE_MODE", "FailureMode"),),
            data_path=_data_dir() / "maintkg_pdl" / "case_study_pdl.csv",
            mapping_path=mapping_path, scope=workorder_scope(mapping_path))
    if name == "supplygraph":
        from loaders.supplygraph import SOURCE

        return GraphPreset(
            name="supplygraph",
            classes=("Product", "Site", "StorageLocation", "ProductGroup"),
            relationship_types=("PRODUCED_AT", "STORED_AT", "IN_PRODUCT_GROUP", "SUBGROUP_OF", "PART_OF"),
            targets=(("Product", "PRODUCED_AT", "Site"),),
            data_path=_data_dir() / "supplygraph", scope=KeyScope(name=SOURCE, prefixes=(f"{SOURCE}:",)))
    if name == "synthetic":
        from kg_service.gnn.synthetic import (SOURCE, SYNTHETIC_CLASSES, SYNTHETIC_RELATIONSHIP_TYPES,
                                              SYNTHETIC_TARGET)

        return GraphPreset(name="synthetic", classes=SYNTHETIC_CLASSES, relationship_types=SYNTHETIC_RELATIONSHIP_TYPES,
                           targets=(SYNTHETIC_TARGET,), scope=KeyScope(name=SOURCE, prefixes=(f"{SOURCE}:",)))
    raise QueryError(f"unknown graph {name!r}; use maintkg, supplygraph, synthetic or a path to a SupplyGraph "
                     "folder or a work-order CSV")

