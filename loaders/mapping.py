"""Source mapping files (YAML): which column of a source contains which ontology concept.

A mapping is declared once per source system and checked before any row is read, so a typo in
a column name fails at once with the file and field named, not halfway through a load.
"""

from __future__ import annotations

import difflib
from datetime import datetime
from pathlib import Path
from typing import Literal, get_args

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
    """One measured signal: its column (or node name in a long file), display names, unit and value kind.

    `sensor` names the Sensor that measures the signal on its asset. `categories` maps each
    text value of a categorical signal to the number stored for it. A `counter` is numeric but
    only grows (run times, part counts), so anomaly models leave it out by default.
    """

    column: str
    name: str
    name_zh: str | None = None
    unit: str | None = None
    kind: Literal["numeric", "binary", "categorical", "counter"] = "numeric"
    sensor: str | None = None
    categories: dict[str, float] | None = None


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


class EndOfLife(_Strict):
    """Run-to-failure files: the last sample of each asset is its failure, written as one FailureEvent."""

    failure_mode: str | None = Field(default=None, description="Failure mode of every end of life (English name)")
    failure_mode_zh: str | None = Field(default=None, description="Chinese name of the failure mode")
    only_files: list[str] = Field(default_factory=lambda: ["*"], min_length=1,
                                  description="File-name patterns (shell style, such as train_*) of the files "
                                              "whose assets run to failure; other files get no event")
    severity: str = "end of life"

    @model_validator(mode="after")
    def _check_names(self) -> "EndOfLife":
        if self.failure_mode_zh and not self.failure_mode:
            raise ValueError("'failure_mode_zh' needs 'failure_mode'")
        return self


class TelemetryColumns(_Strict):
    """Source columns of a telemetry file; `signal`, `value`, `value_type` and `unit` apply to long files."""

    asset: str | None = None
    timestamp: str | None = None
    elapsed: str | None = Field(default=None, description="Seconds since the mapping's 'time_origin'")
    sequence: str | None = None
    product_type: str | None = None
    signal: str | None = None
    value: str | None = None
    value_type: str | None = None
    unit: str | None = None

    @model_validator(mode="after")
    def _check_order(self) -> "TelemetryColumns":
        if not (self.timestamp or self.sequence or self.elapsed):
            raise ValueError("'columns' needs 'timestamp', 'elapsed' or 'sequence' to order the samples")
        return self


TelemetryFormat = Literal["csv", "text", "parquet"]


class TelemetryMapping(_Strict):
    """Mapping of a telemetry file onto the ontology.

    `layout: wide` has one column per signal; `layout: long` has one row per value with the
    signal name in `columns.signal`. `format` is csv, text (whitespace-separated, optionally
    without a header, then `column_names` names the columns) or parquet; unset, the file suffix
    selects it.
    """

    kind: Literal["telemetry"]
    layout: Literal["wide", "long"] = "wide"
    format: TelemetryFormat | None = None
    source: str = Field(pattern=KEY_NAMESPACE_PATTERN)
    asset_namespace: str | None = Field(default=None, pattern=KEY_NAMESPACE_PATTERN)
    encoding: str | None = None
    delimiter: str = ","
    column_names: list[str] | None = Field(default=None, description="Column names of a text file without header")
    timestamp_format: str | None = None
    time_origin: datetime | None = Field(default=None, description="Time of elapsed second 0 and of sequence 0")
    sequence_step_s: float | None = Field(default=None, gt=0, description="Seconds between two sequence numbers")
    asset: str | None = Field(default=None, description="Asset of every row when the file has no asset column")
    asset_format: str = Field(default="{asset}", description="Asset name from '{asset}' and the file's '{stem}'")
    asset_pattern: str | None = Field(default=None, description="Regular expression that every asset name matches")
    asset_class: Literal["Equipment", "Component", "System"] = "Equipment"
    partition_assets: bool = Field(default=True, description="Partition the Parquet samples by asset; false "
                                                             "puts all rows under asset=all")
    max_gap_s: float | None = Field(default=None, gt=0, description="Larger time steps are counted and logged "
                                                                    "as gaps")
    unknown_signals: Literal["error", "skip"] = "error"
    categorical_encoding: str | None = Field(default=None, description="JSON file {signal: {text: number}}, "
                                                                       "looked up beside the data file and above")
    chunk_rows: int = Field(default=50_000, ge=100)
    columns: TelemetryColumns
    signals: list[SignalColumn] = Field(min_length=1)
    failure: FailureColumns | None = None
    end_of_life: EndOfLife | None = None

    @model_validator(mode="after")
    def _check_layout(self) -> "TelemetryMapping":
        if not (self.columns.asset or self.asset):
            raise ValueError("set 'columns.asset' or a fixed 'asset'")
        if self.layout == "long" and not (self.columns.signal and self.columns.value):
            raise ValueError("'layout: long' needs 'columns.signal' and 'columns.value'")
        if (self.columns.elapsed or self.sequence_step_s) and self.time_origin is None:
            raise ValueError("'columns.elapsed' and 'sequence_step_s' need 'time_origin'")
        if self.asset_pattern:
            import re

            try:
                re.compile(self.asset_pattern)
            except re.error as error:
                raise ValueError(f"asset_pattern is not a valid regular expression: {error}") from None
        return self

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
        errors = error.errors()
        problems = [_describe_problem(model, item, path) for item in errors]
        text = problems[0]
        for problem in problems[1:]:
            # A problem after a question starts a new sentence.
            text += f" {problem[:1].upper()}{problem[1:]}" if text.endswith("?") else f"; {problem}"
        if all(item["type"] == "extra_forbidden" for item in errors):
            # A suggestion is the fix itself, so only keys without one get the general hint.
            hint = None if text.endswith("?") else "remove the key or rename it; docs/mappings.md lists every key"
            raise MappingError(text, path=str(path), hint=hint) from None
        raise MappingError(f"invalid mapping: {text}", path=str(path),
                           hint="see loaders/mappings/*.yaml for complete examples") from None


def _describe_problem(model: type[BaseModel], item: dict, path: Path) -> str:
    """Describe one validation error; an unknown key gets the closest field name as a suggestion."""
    where = ".".join(str(part) for part in item["loc"]) or "(top)"
    if item["type"] != "extra_forbidden":
        return f"{where}: {item['msg']}"
    key = str(item["loc"][-1])
    known = _field_names(model, item["loc"][:-1])
    close = difflib.get_close_matches(key, known, n=1)
    text = f"unknown key {where!r} in {path.name}"
    if close:
        return text + f"; did you mean {'.'.join([*map(str, item['loc'][:-1]), close[0]])!r}?"
    return text + (f" (valid keys there: {', '.join(known)})" if known else "")


def _field_names(model: type[BaseModel], parents: tuple) -> list[str]:
    """Return the field names of the model found at `parents` (a pydantic error location) inside `model`."""
    current = model
    for part in parents:
        if isinstance(part, int):
            continue
        field_info = current.model_fields.get(part)
        if field_info is None:
            return []
        candidates = [field_info.annotation, *get_args(field_info.annotation)]
        nested = next((item for item in candidates if isinstance(item, type) and issubclass(item, BaseModel)), None)
        if nested is None:
            return []
        current = nested
    return list(current.model_fields)


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
