"""SupplyGraph (a real consumer-goods supply chain, published as a GNN benchmark) into graph records.

The data set is a folder with `Nodes/`, `Edges/` and `Temporal Data/`. It maps to the ontology as:

- each product code in `Nodes/Nodes.csv` is a Product;
- each plant code in `Nodes/Nodes Type (Plant & Storage).csv` is a Site and each storage location
  code a StorageLocation. A product is PRODUCED_AT its plants and STORED_AT its storage locations,
  and a storage location is PART_OF each plant that it appears with;
- `Nodes/Node Types (Product Group and Subgroup).csv` gives a ProductGroup per group and per
  sub-group code; a product is IN_PRODUCT_GROUP its sub-group, which is SUBGROUP_OF its group;
- `Temporal Data/Unit/*.csv` (one column per product, one row per day) gives each product's mean
  daily production, sales orders, deliveries and factory issues in units.

The product–product edges in `Edges/` join products that share a plant, storage location, group
or sub-group, so they follow from the relationships above. The loader counts them and checks
that each one follows, but does not store them.
"""

from __future__ import annotations

import csv
import itertools
import logging
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from kg_service.errors import InputDataError
from kg_service.graph.records import GraphBatch, slug
from loaders.values import parse_number

if TYPE_CHECKING:
    from kg_service.config import Settings
    from kg_service.graph.store import GraphStore
    from kg_service.graph.writer import WriteProgress
    from kg_service.ingest import IngestResult

logger = logging.getLogger(__name__)

SOURCE = "supplygraph"
NODES_FILE = Path("Nodes") / "Nodes.csv"
PLANT_STORAGE_FILE = Path("Nodes") / "Nodes Type (Plant & Storage).csv"
GROUP_FILE = Path("Nodes") / "Node Types (Product Group and Subgroup).csv"
# Edge file -> (code column, the kind of membership that the two joined products share).
EDGE_FILES = {
    Path("Edges") / "Edges (Plant).csv": ("Plant", "plants"),
    Path("Edges") / "Edges (Storage Location).csv": ("Storage Location", "storage"),
    Path("Edges") / "Edges (Product Group).csv": ("GroupCode", "groups"),
    Path("Edges") / "Edges (Product Sub-Group).csv": ("SubGroupCode", "subgroups"),
}
# Daily series file (in units) -> product property of its mean.
TEMPORAL_FILES = {
    Path("Temporal Data") / "Unit" / "Production .csv": "meanDailyProduction",
    Path("Temporal Data") / "Unit" / "Sales Order.csv": "meanDailySalesOrders",
    Path("Temporal Data") / "Unit" / "Delivery To distributor.csv": "meanDailyDeliveries",
    Path("Temporal Data") / "Unit" / "Factory Issue.csv": "meanDailyFactoryIssues",
}


@dataclass
class SupplyGraphLoad:
    """The records of one SupplyGraph folder and what was read from it."""

    batch: GraphBatch
    rows: int = 0
    products: int = 0
    duplicate_products: list[str] = field(default_factory=list)
    edges_read: dict[str, int] = field(default_factory=dict)
    edges_not_derived: dict[str, int] = field(default_factory=dict)
    days: int = 0


def plant_key(code: str) -> str:
    return f"{SOURCE}:plant:{slug(code)}"


def storage_key(code: str) -> str:
    return f"{SOURCE}:storage:{slug(code)}"


def product_key(code: str) -> str:
    return f"{SOURCE}:product:{slug(code)}"


def group_key(code: str) -> str:
    return f"{SOURCE}:group:{slug(code)}"


def _code(raw: str) -> str:
    """Return a plant or storage code without the '.0' that a float export appended ('130.0' -> '130')."""
    text = raw.strip()
    return text[:-2] if text.endswith(".0") and text[:-2].isdigit() else text


def _read_rows(path: Path, required: list[str]) -> tuple[list[str], list[list[str]]]:
    """Return the header and data rows of a CSV file; raise InputDataError when a column is missing."""
    if not path.is_file():
        raise InputDataError("file not found", path=str(path),
                             hint="pass the SupplyGraph folder that contains Nodes/, Edges/ and Temporal Data/")
    with open(path, encoding="utf-8-sig", newline="") as handle:
        reader = csv.reader(handle)
        header = next(reader, None)
        if header is None:
            raise InputDataError("the file is empty", path=str(path), hint="copy the SupplyGraph file again")
        missing = [name for name in required if name not in header]
        if missing:
            raise InputDataError(f"missing columns {missing}. The header is {header}", path=str(path),
                                 hint="check that this is the SupplyGraph release with these column names")
        rows = [row for row in reader if any(cell.strip() for cell in row)]
    return header, rows


class SupplyGraphReader:
    """Turns a SupplyGraph folder into a GraphBatch.

    Usage::

        load = SupplyGraphReader().read(Path("data/supplygraph"))
        writer.write(load.batch.nodes.values(), load.batch.relationships.values())
    """

    def read(self, folder: Path | str) -> SupplyGraphLoad:
        folder = Path(folder)
        if not folder.is_dir():
            raise InputDataError("folder not found", path=str(folder),
                                 hint="pass the SupplyGraph folder that contains Nodes/, Edges/ and Temporal Data/")
        load = SupplyGraphLoad(batch=GraphBatch())
        memberships: dict[str, dict[str, set[str]]] = defaultdict(lambda: defaultdict(set))

        self._read_products(folder, load)
        self._read_plants_and_storage(folder, load, memberships)
        self._read_groups(folder, load, memberships)
        self._read_temporal(folder, load)
        for relative, (code_column, kind) in EDGE_FILES.items():
            self._check_edges(folder / relative, code_column, memberships[kind], load)

        logger.info("%s: read %d products, %d nodes and %d relationships; product-product edges %s "
                    "(not derivable: %s)", folder, load.products, len(load.batch.nodes),
                    len(load.batch.relationships), load.edges_read, load.edges_not_derived)
        return load

    def _product(self, path: Path, line: int, code: str, load: SupplyGraphLoad) -> str:
        key = product_key(code)
        if key not in load.batch.nodes:
            raise InputDataError(f"product {code!r} is not listed in {NODES_FILE}", path=str(path), line=line,
                                 hint="add the product to Nodes.csv or remove its rows")
        return key

    def _read_products(self, folder: Path, load: SupplyGraphLoad) -> None:
        path = folder / NODES_FILE
        _, rows = _read_rows(path, ["Node"])
        for row in rows:
            code = row[0].strip()
            load.rows += 1
            if product_key(code) in load.batch.nodes:
                # NOTE: the release lists POP001L12P twice (two node indices, two series columns).
                # Both rows are one Product here, so the graph has one node fewer than Nodes.csv has rows.
                load.duplicate_products.append(code)
                continue
            load.batch.add_node("Product", product_key(code), name=code, source=SOURCE)
        load.products = len(load.batch.nodes)

    def _read_plants_and_storage(self, folder: Path, load: SupplyGraphLoad,
                                 memberships: dict[str, dict[str, set[str]]]) -> None:
        path = folder / PLANT_STORAGE_FILE
        header, rows = _read_rows(path, ["Node", "Plant", "Storage Location"])
        node_at, plant_at, storage_at = (header.index(name) for name in ("Node", "Plant", "Storage Location"))
        batch = load.batch
        for line, row in enumerate(rows, start=2):
            load.rows += 1
            product = self._product(path, line, row[node_at].strip(), load)
            plant = _code(row[plant_at])
            if not plant:
                raise InputDataError("missing plant code", path=str(path), line=line, column="Plant",
                                     hint="every product row needs the plant that makes it")
            batch.add_node("Site", plant_key(plant), name=plant, source=SOURCE)
            batch.add_relationship("PRODUCED_AT", product, plant_key(plant))
            memberships["plants"][plant].add(product)

            storage = _code(row[storage_at])
            if not storage:
                continue
            batch.add_node("StorageLocation", storage_key(storage), name=storage, source=SOURCE)
            batch.add_relationship("STORED_AT", product, storage_key(storage))
            batch.add_relationship("PART_OF", storage_key(storage), plant_key(plant))
            memberships["storage"][storage].add(product)

    def _read_groups(self, folder: Path, load: SupplyGraphLoad,
                     memberships: dict[str, dict[str, set[str]]]) -> None:
        path = folder / GROUP_FILE
        header, rows = _read_rows(path, ["Node", "Group", "Sub-Group"])
        node_at, group_at, subgroup_at = (header.index(name) for name in ("Node", "Group", "Sub-Group"))
        batch = load.batch
        for line, row in enumerate(rows, start=2):
            load.rows += 1
            product = self._product(path, line, row[node_at].strip(), load)
            group, subgroup = row[group_at].strip(), row[subgroup_at].strip()
            if not group or not subgroup:
                raise InputDataError("missing group or sub-group code", path=str(path), line=line,
                                     hint="every product row needs both its group and its sub-group")
            batch.add_node("ProductGroup", group_key(group), name=group, source=SOURCE)
            batch.add_node("ProductGroup", group_key(subgroup), name=subgroup, source=SOURCE)
            batch.add_relationship("IN_PRODUCT_GROUP", product, group_key(subgroup))
            batch.add_relationship("SUBGROUP_OF", group_key(subgroup), group_key(group))
            memberships["groups"][group].add(product)
            memberships["subgroups"][subgroup].add(product)

    def _read_temporal(self, folder: Path, load: SupplyGraphLoad) -> None:
        for relative, property_name in TEMPORAL_FILES.items():
            path = folder / relative
            header, rows = _read_rows(path, ["Date"])
            totals: dict[str, float] = defaultdict(float)
            for line, row in enumerate(rows, start=2):
                load.rows += 1
                for column, raw in zip(header[1:], row[1:]):
                    value = parse_number(raw.strip(), path, line, column, minimum=0) or 0.0
                    totals[self._series_product(column)] += value
            load.days = max(load.days, len(rows))
            for code, total in totals.items():
                key = self._product(path, 1, code, load)
                load.batch.nodes[key].properties[property_name] = round(total / max(len(rows), 1), 4)

    @staticmethod
    def _series_product(column: str) -> str:
        """Return the product code of a series column, without the '.1' that pandas appends to a repeated column.

        The release repeats the POP001L12P column as 'POP001L12P.1', so both series add to that one product.
        """
        code = column.strip()
        base, dot, suffix = code.rpartition(".")
        return base if dot and suffix.isdigit() else code

    def _check_edges(self, path: Path, code_column: str, members: dict[str, set[str]],
                     load: SupplyGraphLoad) -> None:
        header, rows = _read_rows(path, [code_column, "node1", "node2"])
        code_at, first_at, second_at = (header.index(name) for name in (code_column, "node1", "node2"))
        derived = {(code, *pair) for code, products in members.items()
                   for pair in itertools.permutations(sorted(products), 2)}
        not_derived = 0
        for line, row in enumerate(rows, start=2):
            load.rows += 1
            first = self._product(path, line, row[first_at].strip(), load)
            second = self._product(path, line, row[second_at].strip(), load)
            if first != second and (_code(row[code_at]), first, second) not in derived:
                not_derived += 1
        load.edges_read[path.name] = len(rows)
        load.edges_not_derived[path.name] = not_derived


def ingest_supplygraph(store: "GraphStore", settings: "Settings", folder: Path,
                       progress: "WriteProgress | None" = None) -> "IngestResult":
    """Read and check a whole SupplyGraph folder, then write it; bad input writes nothing."""
    from kg_service.graph.writer import BatchedWriter
    from kg_service.ingest import IngestResult, current_schema

    schema = current_schema(store)
    load = SupplyGraphReader().read(folder)
    writer = BatchedWriter(store, schema, settings.batch_size, progress)
    report = writer.write(load.batch.nodes.values(), load.batch.relationships.values())
    return IngestResult(Path(folder), load.rows, "utf-8", report,
                        {"products": load.products, "duplicate_products": load.duplicate_products,
                         "days": load.days, "edges_read": load.edges_read,
                         "edges_not_derived": load.edges_not_derived})
