"""Graphs to evaluate link prediction on, as named presets.

A preset names the node classes, the relationship types and the target relationship types of
one evaluation graph, and the data that loads it.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

from kg_service.errors import QueryError
from kg_service.gnn.evaluate import EdgeType

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


def _data_dir() -> Path:
    from kg_service.config import find_project_root

    return find_project_root().parent / "shared" / "data"


def preset(name: str) -> GraphPreset:
    """Return the preset `maintkg`, `supplygraph` or `synthetic`; raise QueryError for other names."""
    from kg_service.config import find_project_root

    if name == "maintkg":
        return GraphPreset(
            name="maintkg",
            classes=("WorkOrder", "Equipment", "System", "Component", "Part", "FailureMode", "FailureModeCode",
                     "MaintenanceAction"),
            relationship_types=("FOR_ASSET", "INVOLVES", "HAS_ACTION", "HAS_FAILURE_MODE", "INSTANCE_OF_PART",
                                "PART_OF", "HAS_CODE"),
            targets=(("WorkOrder", "HAS_FAILURE_MODE", "FailureMode"),),
            data_path=_data_dir() / "maintkg_pdl" / "case_study_pdl.csv",
            mapping_path=find_project_root() / "loaders" / "mappings" / "maintkg_pdl.yaml")
    if name == "supplygraph":
        return GraphPreset(
            name="supplygraph",
            classes=("Product", "Site", "StorageLocation", "ProductGroup"),
            relationship_types=("PRODUCED_AT", "STORED_AT", "IN_PRODUCT_GROUP", "SUBGROUP_OF", "PART_OF"),
            targets=(("Product", "PRODUCED_AT", "Site"),),
            data_path=_data_dir() / "supplygraph")
    if name == "synthetic":
        from kg_service.gnn.synthetic import SYNTHETIC_CLASSES, SYNTHETIC_RELATIONSHIP_TYPES, SYNTHETIC_TARGET

        return GraphPreset(name="synthetic", classes=SYNTHETIC_CLASSES, relationship_types=SYNTHETIC_RELATIONSHIP_TYPES,
                           targets=(SYNTHETIC_TARGET,))
    raise QueryError(f"unknown graph {name!r}; use maintkg, supplygraph, synthetic or a path to a SupplyGraph "
                     "folder or a work-order CSV")

