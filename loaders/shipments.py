"""Delivery histories (one row per shipped order line) from CSV into graph records.

Each row gives a Supplier, a Part that is SUPPLIED_BY the supplier, a PurchaseOrder line and a
Delivery. The order line is ORDERED_FROM the supplier and ORDERS_PART the part, with quantity,
value and unit price. The delivery FULFILS the order line and carries the scheduled and
delivered dates, the delay, freight and insurance. Order lines and deliveries are keyed by the source's row id; suppliers and parts by
their names, so other sources that name the same part or supplier merge onto the same nodes.

Number cells whose text matches one of the mapping's `unknown_values` patterns (such as
"Freight Included in Commodity Cost") are loaded as absent and counted per column.
"""

from __future__ import annotations

import logging
import re
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from pathlib import Path

from kg_service.errors import InputDataError
from kg_service.graph.records import GraphBatch, slug
from loaders.csv_source import CsvRow, read_csv
from loaders.mapping import ShipmentMapping
from loaders.values import parse_date, parse_number

logger = logging.getLogger(__name__)

EMPTY = "(empty)"


@dataclass
class ShipmentLoad:
    """The records of one delivery-history file and what was read."""

    batch: GraphBatch
    rows: int
    encoding: str
    suppliers: int = 0
    parts: int = 0
    unknown_values: dict[str, Counter] = field(default_factory=lambda: defaultdict(Counter))

    def unknown_summary(self) -> dict[str, dict[str, int]]:
        """Return the unknown-value counts as plain dicts: column -> pattern (or '(empty)') -> rows."""
        return {column: dict(counts) for column, counts in sorted(self.unknown_values.items())}


class ShipmentReader:
    """Turns the rows of one delivery-history CSV into a GraphBatch.

    Usage::

        load = ShipmentReader(load_mapping("loaders/mappings/scms_shipments.yaml")).read(csv_path)
        writer.write(load.batch.nodes.values(), load.batch.relationships.values())
    """

    def __init__(self, mapping: ShipmentMapping, encoding: str | None = None,
                 mapping_path: Path | str | None = None) -> None:
        self.mapping = mapping
        self.encoding = encoding or mapping.encoding
        self.mapping_path = mapping_path
        self._unknown = [(pattern, re.compile(pattern)) for pattern in mapping.unknown_values]

    def read(self, path: Path | str) -> ShipmentLoad:
        path = Path(path)
        required = [name for name in self.mapping.columns.model_dump().values() if name]
        _, rows, encoding = read_csv(path, required, self.encoding, self.mapping.delimiter, self.mapping_path)
        load = ShipmentLoad(batch=GraphBatch(), rows=0, encoding=encoding)
        seen: dict[str, int] = {}
        for row in rows:
            self._add_row(path, row, load, seen)
            load.rows += 1
        if load.rows == 0:
            raise InputDataError("the file has a header but no data rows", path=str(path),
                                 hint="export the delivery history again, or check that this is the right file")

        nodes = load.batch.nodes.values()
        load.suppliers = sum(1 for node in nodes if node.label == "Supplier")
        load.parts = sum(1 for node in nodes if node.label == "Part")
        logger.info("%s: read %d shipments (%s) from %d suppliers for %d parts; unknown values: %s", path,
                    load.rows, encoding, load.suppliers, load.parts, load.unknown_summary())
        return load

    def _cell(self, row: CsvRow, field_name: str) -> str:
        column = getattr(self.mapping.columns, field_name)
        return row.values.get(column, "") if column else ""

    def _known(self, row: CsvRow, field_name: str, load: ShipmentLoad) -> str:
        """Return the cell text, or '' when it is empty or matches an unknown-value pattern (counted)."""
        column = getattr(self.mapping.columns, field_name)
        if not column:
            return ""
        raw = row.values.get(column, "")
        if raw == "":
            load.unknown_values[column][EMPTY] += 1
            return ""
        for pattern, regex in self._unknown:
            if regex.search(raw):
                load.unknown_values[column][pattern] += 1
                return ""
        return raw

    def _number(self, path: Path, row: CsvRow, field_name: str, load: ShipmentLoad,
                minimum: float = 0) -> float | None:
        column = getattr(self.mapping.columns, field_name) or ""
        raw = self._known(row, field_name, load)
        try:
            return parse_number(raw, path, row.line, column, minimum=minimum)
        except InputDataError:
            raise InputDataError(f"{raw!r} is not a finite number of at least {minimum:g}", path=str(path),
                                 line=row.line, column=column,
                                 hint="if this text means 'not known', add a regular expression for it to "
                                      "'unknown_values' in the mapping; otherwise fix the cell") from None

    def _add_row(self, path: Path, row: CsvRow, load: ShipmentLoad, seen: dict[str, int]) -> None:
        mapping, columns, batch = self.mapping, self.mapping.columns, load.batch
        line_id = self._cell(row, "id")
        if not line_id:
            raise InputDataError("empty shipment id", path=str(path), line=row.line, column=columns.id)
        if line_id in seen:
            raise InputDataError(f"duplicate shipment id {line_id!r} (first on line {seen[line_id]})",
                                 path=str(path), line=row.line, column=columns.id)
        seen[line_id] = row.line
        supplier_name, part_name = self._cell(row, "supplier"), self._cell(row, "part")
        if not supplier_name:
            raise InputDataError("empty supplier", path=str(path), line=row.line, column=columns.supplier,
                                 hint="every shipment must name the supplier it came from")
        if not part_name:
            raise InputDataError("empty part", path=str(path), line=row.line, column=columns.part,
                                 hint="every shipment must name the part it delivered")

        scheduled = parse_date(self._cell(row, "scheduled_date"), mapping.date_formats, path, row.line,
                               columns.scheduled_date)
        delivered = parse_date(self._cell(row, "delivered_date"), mapping.date_formats, path, row.line,
                               columns.delivered_date)
        quantity = self._number(path, row, "quantity", load)
        line_value = self._number(path, row, "line_value", load)
        unit_price = self._number(path, row, "unit_price", load)
        freight = self._number(path, row, "freight_cost", load)
        insurance = self._number(path, row, "insurance_cost", load)

        supplier = batch.add_node("Supplier", f"supplier:{slug(supplier_name)}", name=supplier_name,
                                  nameEn=supplier_name, country=self._known(row, "supplier_country", load) or None)
        part = batch.add_node("Part", f"part:{slug(part_name)}", name=part_name, nameEn=part_name,
                              productGroup=self._known(row, "part_group", load) or None)
        batch.add_relationship("SUPPLIED_BY", part, supplier)

        order = batch.add_node(
            "PurchaseOrder", f"purchase-order:{mapping.source}:{slug(line_id)}",
            name=self._cell(row, "order_number") or line_id, quantity=quantity, lineValue=line_value,
            orderUnitPrice=unit_price, source=mapping.source)
        batch.add_relationship("ORDERED_FROM", order, supplier)
        batch.add_relationship("ORDERS_PART", order, part)

        delivery = batch.add_node(
            "Delivery", f"delivery:{mapping.source}:{slug(line_id)}",
            name=self._cell(row, "shipment_number") or line_id, scheduledDate=scheduled, deliveredDate=delivered,
            deliveryDelayDays=(delivered - scheduled).days, freightCost=freight, insuranceCost=insurance,
            shipmentMode=self._known(row, "shipment_mode", load) or None,
            destinationCountry=self._known(row, "destination_country", load) or None, source=mapping.source)
        batch.add_relationship("FULFILS", delivery, order)
