"""Work orders from CSV exports into graph records.

The graph gets the asset hierarchy (site → production line → equipment → system → component),
each work order linked to its equipment, systems, component, actions, failure modes and
symptoms, and dates, costs and running hours as properties. Keys derive from the source's own
identifiers, so loading the same file again merges onto the same nodes.
"""

from __future__ import annotations

import logging
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

from kg_service.errors import InputDataError
from kg_service.graph.records import GraphBatch, slug
from loaders.csv_source import CsvRow, read_csv
from loaders.mapping import WorkOrderMapping
from loaders.values import has_cjk, parse_date, parse_number

logger = logging.getLogger(__name__)


@dataclass
class WorkOrderLoad:
    """The records of one work-order file and what was read."""

    batch: GraphBatch
    rows: int
    encoding: str
    failure_modes: Counter = field(default_factory=Counter)


def _names(raw: str, field_name: str, mapping: WorkOrderMapping) -> list[tuple[str, str]]:
    """Split a cell into (canonical name, raw value) pairs following the mapping."""
    if not raw:
        return []
    parts = [raw]
    if field_name in mapping.split and mapping.multi_value_separator:
        parts = [part.strip() for part in raw.split(mapping.multi_value_separator)]
    value_map = mapping.value_maps.get(field_name, {})
    return [(value_map.get(part, part), part) for part in parts if part]


def _name_properties(canonical: str, raw: str, language: str) -> dict[str, str]:
    properties = {"name": canonical}
    if has_cjk(raw):
        properties["nameZh"] = raw
    if not has_cjk(canonical):
        properties["nameEn"] = canonical
    elif "nameZh" not in properties:
        properties["nameZh"] = canonical
    return properties


class WorkOrderReader:
    """Turns the rows of one work-order CSV into a GraphBatch.

    Usage::

        load = WorkOrderReader(load_mapping("loaders/mappings/maintkg_pdl.yaml")).read("case_study_pdl.csv")
        writer.write(load.batch.nodes.values(), load.batch.relationships.values())
    """

    def __init__(self, mapping: WorkOrderMapping, encoding: str | None = None,
                 mapping_path: Path | str | None = None) -> None:
        self.mapping = mapping
        self.encoding = encoding or mapping.encoding
        self.mapping_path = mapping_path

    def read(self, path: Path | str) -> WorkOrderLoad:
        path = Path(path)
        columns = self.mapping.columns
        required = [name for name in columns.model_dump().values() if name]
        _, rows, encoding = read_csv(path, required, self.encoding, self.mapping.delimiter, self.mapping_path)
        batch = GraphBatch()
        seen: dict[str, int] = {}
        load = WorkOrderLoad(batch=batch, rows=0, encoding=encoding)
        for row in rows:
            self._add_row(path, row, batch, seen, load)
            load.rows += 1
        if load.rows == 0:
            raise InputDataError("the file has a header but no data rows", path=str(path),
                                 hint="export the work orders again, or check that this is the right file")
        logger.info("%s: read %d work orders (%s), %d nodes and %d relationships", path, load.rows, encoding,
                    len(batch.nodes), len(batch.relationships))
        return load

    def _cell(self, row: CsvRow, field_name: str) -> str:
        column = getattr(self.mapping.columns, field_name)
        return row.values.get(column, "") if column else ""

    def _add_row(self, path: Path, row: CsvRow, batch: GraphBatch, seen: dict[str, int], load: WorkOrderLoad) -> None:
        mapping, columns = self.mapping, self.mapping.columns
        order_id = self._cell(row, "id")
        if not order_id:
            raise InputDataError("empty work-order id", path=str(path), line=row.line, column=columns.id)
        if order_id in seen:
            raise InputDataError(f"duplicate work-order id {order_id!r} (first on line {seen[order_id]})",
                                 path=str(path), line=row.line, column=columns.id)
        seen[order_id] = row.line
        asset = self._cell(row, "asset")
        if not asset:
            raise InputDataError("empty asset", path=str(path), line=row.line, column=columns.asset,
                                 hint="every work order must name the asset it is for")
        order_date = parse_date(self._cell(row, "date"), mapping.date_formats, path, row.line, columns.date)
        # Negative costs are real (credit notes in the MaintKG data), so cost has no lower bound.
        cost = parse_number(self._cell(row, "cost"), path, row.line, columns.cost or "")
        running_hours = parse_number(self._cell(row, "running_hours"), path, row.line, columns.running_hours or "",
                                     minimum=0)

        equipment = self._add_asset_hierarchy(row, batch, asset)
        language = "zh" if mapping.language == "zh" or has_cjk(self._cell(row, "text")) else mapping.language
        order = batch.add_node(
            "WorkOrder", f"workorder:{mapping.source}:{order_id}", name=order_id, date=order_date,
            text=self._cell(row, "text") or None, orderType=self._cell(row, "order_type") or None, cost=cost,
            runningHours=running_hours, location=self._cell(row, "location") or None, language=language,
            source=mapping.source)
        batch.add_relationship("FOR_ASSET", order, equipment)

        systems = []
        for canonical, raw in _names(self._cell(row, "system"), "system", mapping):
            system = batch.add_node("System", f"system:{mapping.assets}:{slug(asset)}/{slug(canonical)}",
                                    **_name_properties(canonical, raw, language))
            batch.add_relationship("PART_OF", system, equipment)
            batch.add_relationship("INVOLVES", order, system)
            systems.append((canonical, system))

        for canonical, raw in _names(self._cell(row, "part"), "part", mapping):
            parent_name, parent = systems[0] if systems else ("", equipment)
            component = batch.add_node(
                "Component", f"component:{mapping.assets}:{slug(asset)}/{slug(parent_name)}/{slug(canonical)}",
                **_name_properties(canonical, raw, language))
            part = batch.add_node("Part", f"part:{slug(canonical)}", **_name_properties(canonical, raw, language))
            batch.add_relationship("PART_OF", component, parent)
            batch.add_relationship("INSTANCE_OF_PART", component, part)
            batch.add_relationship("INVOLVES", order, component)

        for canonical, raw in _names(self._cell(row, "failure_mode"), "failure_mode", mapping):
            mode = batch.add_node("FailureMode", f"failure-mode:{slug(canonical)}",
                                  **_name_properties(canonical, raw, language))
            batch.add_relationship("HAS_FAILURE_MODE", order, mode)
            load.failure_modes[canonical] += 1
            code = mapping.failure_mode_codes.get(canonical)
            if code:
                code_node = batch.add_node("FailureModeCode", f"failure-mode-code:iso14224:{code}", name=code,
                                           iso14224Code=code)
                batch.add_relationship("HAS_CODE", mode, code_node)

        for canonical, raw in _names(self._cell(row, "symptom"), "symptom", mapping):
            symptom = batch.add_node("Symptom", f"symptom:{slug(canonical)}", **_name_properties(canonical, raw, language))
            batch.add_relationship("HAS_SYMPTOM", order, symptom)

        for canonical, raw in _names(self._cell(row, "action"), "action", mapping):
            action = batch.add_node("MaintenanceAction", f"action:{slug(canonical)}",
                                    **_name_properties(canonical, raw, language))
            batch.add_relationship("HAS_ACTION", order, action)

    def _add_asset_hierarchy(self, row: CsvRow, batch: GraphBatch, asset: str) -> str:
        mapping = self.mapping
        namespace = mapping.assets
        asset_name = self._cell(row, "asset_name")
        properties = {"name": asset}
        if asset_name:
            properties["nameZh" if has_cjk(asset_name) else "nameEn"] = asset_name
        equipment = batch.add_node("Equipment", f"equipment:{namespace}:{slug(asset)}", **properties)

        site_name, line_name = self._cell(row, "site"), self._cell(row, "line")
        site = None
        if site_name:
            canonical, raw = _names(site_name, "site", mapping)[0]
            site = batch.add_node("Site", f"site:{namespace}:{slug(canonical)}", **_name_properties(canonical, raw, mapping.language))
        if line_name:
            canonical, raw = _names(line_name, "line", mapping)[0]
            line = batch.add_node("ProductionLine", f"line:{namespace}:{slug(canonical)}",
                                  **_name_properties(canonical, raw, mapping.language))
            batch.add_relationship("PART_OF", equipment, line)
            if site:
                batch.add_relationship("PART_OF", line, site)
        elif site:
            batch.add_relationship("PART_OF", equipment, site)
        return equipment
