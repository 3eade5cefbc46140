"""Synthetic plants shaped like the ontology, with planted structure, for link-prediction benchmarks.

A plant has sites, production lines (PART_OF a site), equipment (PART_OF a line), components
(PART_OF an equipment, INSTANCE_OF_PART a part), parts (SUPPLIED_BY suppliers), failure modes and
work orders (FOR_ASSET an equipment, INVOLVES one of its components, HAS_FAILURE_MODE a failure mode).

Planted structure, so that link prediction has something to learn:

- every equipment has one of `equipment_kinds` kinds, and each kind has its own short list of
  typical failure modes. A work order names one of them with probability `signal`, otherwise
  a failure mode drawn uniformly;
- parts come in `part_families`; components of one equipment kind use parts of that kind's
  families, and each family is served by its own group of suppliers.

The same generator returns plain arrays (`generate_plant`), a HeteroData for scaling runs
(`plant_to_hetero`) or Neo4j records written through BatchedWriter (`write_synthetic_plant`).
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, NamedTuple

import numpy as np
from pydantic import BaseModel, Field

from kg_service.gnn.evaluate import REVERSE_PREFIX, EdgeType, LinkGraph

if TYPE_CHECKING:
    from torch_geometric.data import HeteroData

    from kg_service.config import Settings
    from kg_service.graph.store import GraphStore
    from kg_service.graph.writer import WriteReport

logger = logging.getLogger(__name__)

SOURCE = "synthetic"
SYNTHETIC_CLASSES = ("Site", "ProductionLine", "Equipment", "Component", "Part", "Supplier", "FailureMode",
                     "WorkOrder")
SYNTHETIC_RELATIONSHIP_TYPES = ("PART_OF", "FOR_ASSET", "INVOLVES", "HAS_FAILURE_MODE", "INSTANCE_OF_PART",
                                "SUPPLIED_BY")
SYNTHETIC_TARGET: EdgeType = ("WorkOrder", "HAS_FAILURE_MODE", "FailureMode")
# Edges of each work order: FOR_ASSET, INVOLVES and HAS_FAILURE_MODE.
EDGES_PER_WORK_ORDER = 3


class SyntheticPlantConfig(BaseModel):
    """Sizes and planted-structure parameters of a synthetic plant."""

    sites: int = Field(default=2, ge=1)
    lines_per_site: int = Field(default=3, ge=1)
    equipment: int = Field(default=40, ge=1)
    components_per_equipment: int = Field(default=4, ge=1)
    parts: int = Field(default=60, ge=1)
    suppliers: int = Field(default=12, ge=1)
    suppliers_per_part: int = Field(default=2, ge=1)
    failure_modes: int = Field(default=20, ge=2)
    work_orders: int = Field(default=500, ge=1)
    equipment_kinds: int = Field(default=8, ge=1)
    failure_modes_per_kind: int = Field(default=3, ge=1)
    part_families: int = Field(default=6, ge=1)
    signal: float = Field(default=0.85, ge=0.0, le=1.0,
                          description="Probability that a work order names a typical failure mode of its "
                                      "equipment kind")
    seed: int = 20261204

    @classmethod
    def for_edges(cls, edges: int, seed: int = 20261204) -> "SyntheticPlantConfig":
        """Return a plant with about `edges` edges, most of them from work orders."""
        if edges < 200:
            raise ValueError(f"a synthetic plant needs at least 200 edges, got {edges}")
        equipment = max(10, edges // 100)
        parts = max(20, equipment * 2)
        suppliers = max(5, parts // 10)
        structure = 6 + 6 * 1 + equipment * (1 + 4 * 2) + parts * 2
        work_orders = max(50, (edges - structure) // EDGES_PER_WORK_ORDER)
        return cls(equipment=equipment, parts=parts, suppliers=suppliers, work_orders=work_orders,
                   failure_modes=max(20, min(200, equipment // 5)), seed=seed)


class SyntheticPlant(NamedTuple):
    """A generated plant as a typed graph, with each equipment's planted kind."""

    graph: LinkGraph
    equipment_kind: np.ndarray


def generate_plant(config: SyntheticPlantConfig) -> SyntheticPlant:
    """Generate a plant's nodes and edges as arrays, reproducibly from `config.seed`."""
    rng = np.random.default_rng(config.seed)
    lines = config.sites * config.lines_per_site
    components = config.equipment * config.components_per_equipment

    line_site = np.arange(lines) // config.lines_per_site
    equipment_line = rng.integers(0, lines, config.equipment)
    equipment_kind = rng.integers(0, config.equipment_kinds, config.equipment)
    component_equipment = np.repeat(np.arange(config.equipment), config.components_per_equipment)

    # Each equipment kind uses parts of a few families; each family has its own suppliers.
    part_family = rng.integers(0, config.part_families, config.parts)
    kind_families = rng.integers(0, config.part_families, (config.equipment_kinds, 2))
    component_part = np.empty(components, dtype=np.int64)
    for index, equipment in enumerate(component_equipment):
        families = kind_families[equipment_kind[equipment]]
        candidates = np.flatnonzero(np.isin(part_family, families))
        component_part[index] = rng.choice(candidates) if candidates.size else rng.integers(0, config.parts)
    supplier_family = np.arange(config.suppliers) % config.part_families
    supplied_by = []
    for part in range(config.parts):
        pool = np.flatnonzero(supplier_family == part_family[part])
        pool = pool if pool.size else np.arange(config.suppliers)
        chosen = rng.choice(pool, size=min(config.suppliers_per_part, pool.size), replace=False)
        supplied_by.extend((part, supplier) for supplier in chosen)

    # Work orders: an equipment, one of its components and a failure mode typical of its kind.
    kind_modes = np.stack([rng.choice(config.failure_modes, size=min(config.failure_modes_per_kind,
                                                                     config.failure_modes), replace=False)
                           for _ in range(config.equipment_kinds)])
    order_equipment = rng.integers(0, config.equipment, config.work_orders)
    order_component = order_equipment * config.components_per_equipment + \
        rng.integers(0, config.components_per_equipment, config.work_orders)
    typical = kind_modes[equipment_kind[order_equipment], rng.integers(0, kind_modes.shape[1], config.work_orders)]
    uniform = rng.integers(0, config.failure_modes, config.work_orders)
    order_mode = np.where(rng.random(config.work_orders) < config.signal, typical, uniform)

    def pairs(first, second) -> np.ndarray:
        return np.stack([np.asarray(first, dtype=np.int64), np.asarray(second, dtype=np.int64)])

    orders = np.arange(config.work_orders)
    supplied = np.asarray(supplied_by, dtype=np.int64).reshape(-1, 2).T
    edges = {
        ("ProductionLine", "PART_OF", "Site"): pairs(np.arange(lines), line_site),
        ("Equipment", "PART_OF", "ProductionLine"): pairs(np.arange(config.equipment), equipment_line),
        ("Component", "PART_OF", "Equipment"): pairs(np.arange(components), component_equipment),
        ("Component", "INSTANCE_OF_PART", "Part"): pairs(np.arange(components), component_part),
        ("Part", "SUPPLIED_BY", "Supplier"): supplied,
        ("WorkOrder", "FOR_ASSET", "Equipment"): pairs(orders, order_equipment),
        ("WorkOrder", "INVOLVES", "Component"): pairs(orders, order_component),
        ("WorkOrder", "HAS_FAILURE_MODE", "FailureMode"): pairs(orders, order_mode),
    }
    num_nodes = {"Site": config.sites, "ProductionLine": lines, "Equipment": config.equipment,
                 "Component": components, "Part": config.parts, "Supplier": config.suppliers,
                 "FailureMode": config.failure_modes, "WorkOrder": config.work_orders}
    keys = {node_type: [f"{SOURCE}:{node_type.lower()}:{index:07d}" for index in range(count)]
            for node_type, count in num_nodes.items()}
    return SyntheticPlant(LinkGraph(num_nodes, edges, keys), equipment_kind)


def plant_to_hetero(plant: SyntheticPlant, feature_dimension: int = 16, seed: int = 20261204) -> "HeteroData":
    """Return the plant as HeteroData with `rev_` reverse edge types and random normal node features."""
    import torch
    from torch_geometric.data import HeteroData

    generator = torch.Generator().manual_seed(seed)
    data = HeteroData()
    for node_type, count in plant.graph.num_nodes.items():
        data[node_type].x = torch.randn(count, feature_dimension, generator=generator)
        data[node_type].num_nodes = count
    for (source, relation, target), pairs in plant.graph.edges.items():
        edge_index = torch.as_tensor(pairs, dtype=torch.long)
        data[source, relation, target].edge_index = edge_index
        data[target, REVERSE_PREFIX + relation, source].edge_index = edge_index.flip(0)
    return data


def write_synthetic_plant(store: "GraphStore", settings: "Settings", config: SyntheticPlantConfig) -> "WriteReport":
    """Write a generated plant to Neo4j through BatchedWriter (MERGE on keys `synthetic:<class>:<n>`)."""
    from kg_service.graph.records import NodeRecord, RelationshipRecord
    from kg_service.graph.writer import BatchedWriter
    from kg_service.ingest import current_schema

    plant = generate_plant(config)
    keys = plant.graph.node_keys
    nodes = []
    for node_type, members in keys.items():
        for index, key in enumerate(members):
            name = f"{node_type} {index}"
            if node_type == "Equipment":
                name = f"Equipment {index} of kind {int(plant.equipment_kind[index])}"
            nodes.append(NodeRecord(node_type, key, {"name": name, "source": SOURCE}))
    relationships = [RelationshipRecord(relation, source, keys[source][start], target, keys[target][end])
                     for (source, relation, target), pairs in plant.graph.edges.items()
                     for start, end in pairs.T.tolist()]
    writer = BatchedWriter(store, current_schema(store), settings.batch_size)
    return writer.write(nodes, relationships)
