"""Source mapping files (YAML): which column of a source contains which ontology concept.

A mapping is declared once per source system and checked before any row is read, so a typo in
a column name fails at once with the file and field named, not halfway through a load.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from kg_service.errors import MappingError

KEY_NAMESPACE_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9._-]*$"


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class WorkOrderColumns(_Strict):
    """Source column names for each work-order field; only `id`, `date` and `asset` are required."""

    id: str
    date: str
    asset: str
    asset_name: str | None = None
    site: str | None = None
    line: str | None = None
    system: str | None = None
    part: str | None = None
    failure_mode: str | None = None
    symptom: str | None = None
    action: str | None = None
    order_type: str | None = None
    cost: str | None = None
    running_hours: str | None = None
    location: str | None = None
    text: str | None = None


SplittableField = Literal["system", "action", "failure_mode", "symptom", "part"]


class WorkOrderMapping(_Strict):
    """Mapping of a work-order CSV export onto the ontology."""

    kind: Literal["workorders"]
    source: str = Field(pattern=KEY_NAMESPACE_PATTERN, description="Key namespace of this source's work orders")
    asset_namespace: str | None = Field(default=None, pattern=KEY_NAMESPACE_PATTERN,
                                        description="Key namespace of assets; share it across files of one plant")
    encoding: str | None = None
    delimiter: str = ","
    language: str = "en"
    date_formats: list[str] = Field(default_factory=lambda: ["%Y-%m-%d"], min_length=1)
    multi_value_separator: str | None = None
    split: list[SplittableField] = Field(default_factory=list)
    columns: WorkOrderColumns
    value_maps: dict[str, dict[str, str]] = Field(default_factory=dict)
    failure_mode_codes: dict[str, str] = Field(default_factory=dict)

    @model_validator(mode="after")
    def _check_split(self) -> "WorkOrderMapping":
        if self.split and not self.multi_value_separator:
            raise ValueError("'split' needs 'multi_value_separator'")
        for field_name in self.split:
            if getattr(self.columns, field_name) is None:
                raise ValueError(f"'split' names {field_name!r}, which has no column in 'columns'")
        for field_name in self.value_maps:
            if field_name not in WorkOrderColumns.model_fields:
                raise ValueError(f"'value_maps' names {field_name!r}, which is not a work-order field")
        return self

    @property
    def assets(self) -> str:
        return self.asset_namespace or self.source


class SignalColumn(_Strict):
    """One measured signal: its column, display names and unit."""

    column: str
    name: str
    name_zh: str | None = None
    unit: str | None = None


class FailureColumns(_Strict):
    """Failure columns of a telemetry file: a flag column, flag columns per mode, or a mode-name column."""

    flag: str | None = None
    modes: dict[str, str] = Field(default_factory=dict, description="flag column -> failure mode name")
    mode_column: str | None = None

    @model_validator(mode="after")
    def _check_any(self) -> "FailureColumns":
        if not (self.flag or self.modes or self.mode_column):
            raise ValueError("'failure' needs 'flag', 'modes' or 'mode_column'")
        return self


class TelemetryColumns(_Strict):
    asset: str
    timestamp: str | None = None
    sequence: str | None = None
    product_type: str | None = None

    @model_validator(mode="after")
    def _check_order(self) -> "TelemetryColumns":
        if not (self.timestamp or self.sequence):
            raise ValueError("'columns' needs 'timestamp' or 'sequence' to order the samples")
        return self


class TelemetryMapping(_Strict):
    """Mapping of a wide telemetry CSV (one column per signal) onto the ontology."""

    kind: Literal["telemetry"]
    layout: Literal["wide"] = "wide"
    source: str = Field(pattern=KEY_NAMESPACE_PATTERN)
    asset_namespace: str | None = Field(default=None, pattern=KEY_NAMESPACE_PATTERN)
    encoding: str | None = None
    delimiter: str = ","
    timestamp_format: str | None = None
    asset_class: Literal["Equipment", "Component", "System"] = "Equipment"
    columns: TelemetryColumns
    signals: list[SignalColumn] = Field(min_length=1)
    failure: FailureColumns | None = None

    @field_validator("signals")
    @classmethod
    def _unique_signals(cls, signals: list[SignalColumn]) -> list[SignalColumn]:
        names = [signal.name for signal in signals]
        duplicates = sorted({name for name in names if names.count(name) > 1})
        if duplicates:
            raise ValueError(f"signal names must be unique; repeated: {duplicates}")
        return signals

    @property
    def assets(self) -> str:
        return self.asset_namespace or self.source


Mapping = WorkOrderMapping | TelemetryMapping


def load_mapping(path: Path | str) -> Mapping:
    """Read and validate a mapping file; raise MappingError naming the file and the bad field."""
    path = Path(path)
    if not path.is_file():
        raise MappingError("mapping file not found", path=str(path))
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as error:
        mark = getattr(error, "problem_mark", None)
        raise MappingError(f"invalid YAML: {getattr(error, 'problem', error)}", path=str(path),
                           line=mark.line + 1 if mark else None) from None
    if not isinstance(data, dict):
        raise MappingError("a mapping file must be a YAML mapping with a 'kind' key", path=str(path))
    kinds = {"workorders": WorkOrderMapping, "telemetry": TelemetryMapping, "shipments": ShipmentMapping}
    model = kinds.get(data.get("kind"))
    if model is None:
        raise MappingError(f"'kind' must be one of {', '.join(map(repr, kinds))}, got {data.get('kind')!r}",
                           path=str(path))
    try:
        return model.model_validate(data)
    except ValidationError as error:
        problems = "; ".join(f"{'.'.join(str(part) for part in item['loc']) or '(top)'}: {item['msg']}"
                             for item in error.errors())
        raise MappingError(f"invalid mapping: {problems}", path=str(path),
                           hint="see loaders/mappings/*.yaml for complete examples") from None


class ShipmentColumns(_Strict):
    """Source column names for each shipment field; the money and mode columns are optional."""

    id: str
    supplier: str
    part: str
    scheduled_date: str
    delivered_date: str
    quantity: str
    order_number: str | None = None
    shipment_number: str | None = None
    supplier_country: str | None = None
    part_group: str | None = None
    destination_country: str | None = None
    shipment_mode: str | None = None
    line_value: str | None = None
    unit_price: str | None = None
    freight_cost: str | None = None
    insurance_cost: str | None = None


class ShipmentMapping(_Strict):
    """Mapping of a delivery-history CSV (one row per shipped order line) onto the ontology."""

    kind: Literal["shipments"]
    source: str = Field(pattern=KEY_NAMESPACE_PATTERN, description="Key namespace of this source's orders and deliveries")
    encoding: str | None = None
    delimiter: str = ","
    date_formats: list[str] = Field(default_factory=lambda: ["%Y-%m-%d"], min_length=1)
    columns: ShipmentColumns
    unknown_values: list[str] = Field(
        default_factory=list,
        description="Regular expressions for text in number columns that means 'not known' (counted, loaded as absent)")

    @field_validator("unknown_values")
    @classmethod
    def _check_patterns(cls, patterns: list[str]) -> list[str]:
        import re

        for pattern in patterns:
            try:
                re.compile(pattern)
            except re.error as error:
                raise ValueError(f"unknown_values pattern {pattern!r} is not a valid regular expression: {error}") from None
        return patterns
