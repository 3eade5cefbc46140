"""The reasoning queries a question can map to, as pydantic models of JSON tool calls.

A mapper (a language model or the keyword rules) outputs one tool call such as
`{"tool": "root_causes", "asset": "AC-3", "failure_mode": "Overheating"}`. Validation checks
the tool name, every argument's type, enums and ranges; entity references stay text until
`kg_service.ask.entities` resolves them to graph keys. No argument is ever Cypher: each one
reaches the reasoning functions, which pass it to Neo4j as a query parameter.
"""

from __future__ import annotations

import json
from datetime import date
from typing import Annotated, Any, Literal, Union

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, TypeAdapter, ValidationError, model_validator

from kg_service.errors import ToolCallError
from kg_service.reasoning.suppliers import KPI_NAMES

MAX_REFERENCE_LENGTH = 200

# Entity references are names or keys: one line of printable text, at most 200 characters.
Reference = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=MAX_REFERENCE_LENGTH,
                                             pattern=r"^[^\x00-\x1f\x7f]+$")]
KpiName = Literal[KPI_NAMES]  # type: ignore[valid-type]

# Classes a `lookup` call may restrict its search to; all are node labels of kg-core.ttl.
LOOKUP_CLASSES = ("Equipment", "System", "Component", "ProductionLine", "Site", "FailureMode", "Symptom", "Part",
                  "Supplier", "Product", "Design", "Material", "Document", "WorkOrder")


class _Call(BaseModel):
    model_config = ConfigDict(extra="forbid")


class _Windowed(_Call):
    """A call that a date window can narrow: `since` and `until` are inclusive ISO dates."""

    since: date | None = None
    until: date | None = None

    @model_validator(mode="after")
    def _check_window(self) -> "_Windowed":
        if self.since is not None and self.until is not None and self.since > self.until:
            raise ValueError(f"since ({self.since}) is after until ({self.until})")
        return self


class RootCausesCall(_Windowed):
    """Rank the likely causes of a failure mode or symptom, on one asset, in one place or across the plant.

    `place` is a production line or site (a name, a key or a phrase such as "line 2" or "二号线")
    that limits the answer to the assets in it. `equipment_kind` is an Equipment subclass of the
    ontology (a class name or label such as "Pump", "pumps" or "泵") that limits it to the assets
    of that kind. `since` and `until` limit the work orders and events that the ranking reads.
    """

    tool: Literal["root_causes"]
    asset: Reference | None = None
    place: Reference | None = None
    equipment_kind: Reference | None = None
    failure_mode: Reference | None = None
    symptom: Reference | None = None
    limit: int = Field(default=5, ge=1, le=20)

    @model_validator(mode="after")
    def _check_start(self) -> "RootCausesCall":
        if (self.asset is None and self.place is None and self.equipment_kind is None and self.failure_mode is None
                and self.symptom is None):
            raise ValueError("give an asset, a place, an equipment_kind, a failure_mode or a symptom")
        if self.failure_mode is not None and self.symptom is not None:
            raise ValueError("give at most one of failure_mode or symptom")
        return self


class FailureHistoryCall(_Windowed):
    """List the work orders of an asset, a place or a kind of equipment, newest first, within `since` and `until`.

    `equipment_kind` is an Equipment subclass of the ontology ("Pump", "pumps", "泵"). Without an
    asset or a place, it covers every asset of that kind in the plant.
    """

    tool: Literal["failure_history"]
    asset: Reference | None = None
    place: Reference | None = None
    equipment_kind: Reference | None = None
    failures_only: bool = False
    limit: int = Field(default=10, ge=1, le=50)

    @model_validator(mode="after")
    def _check_subject(self) -> "FailureHistoryCall":
        if self.asset is None and self.place is None and self.equipment_kind is None:
            raise ValueError("give an asset or a place, or an equipment_kind for every asset of that kind")
        return self


class RankSuppliersCall(_Call):
    """Rank suppliers on KPIs; with `replace_current`, the suppliers of `part` are the ones to replace.

    With `place`, only parts installed in that production line or site count. `part_class` is a
    Part subclass of the ontology ("Bearing", "bearings", "轴承"): the answer then lists the
    suppliers of the parts of that class, used by the equipment of `equipment_kind` when given.
    `category` is a product group of the parts ("ARV", Part.productGroup): only suppliers of parts in
    that group are ranked, on their deliveries of those parts.
    """

    tool: Literal["rank_suppliers"]
    part: Reference | None = None
    category: Reference | None = None
    part_class: Reference | None = None
    equipment_kind: Reference | None = None
    place: Reference | None = None
    replace_current: bool = False
    method: Literal["TOPSIS", "VIKOR", "WSM"] = "TOPSIS"
    criteria: list[KpiName] | None = Field(default=None, min_length=1, max_length=len(KPI_NAMES))

    @model_validator(mode="after")
    def _check_replacement(self) -> "RankSuppliersCall":
        if self.replace_current and self.part is None:
            raise ValueError("replace_current needs the part whose suppliers are to be replaced")
        if self.equipment_kind is not None and self.part_class is None:
            raise ValueError("equipment_kind needs the part_class whose parts the equipment uses")
        if self.category is not None and (self.part_class is not None or self.replace_current):
            raise ValueError("category cannot be combined with part_class or replace_current; give one of them")
        if self.criteria is not None and len(set(self.criteria)) != len(self.criteria):
            raise ValueError("criteria must name each KPI once")
        return self


class DesignConstraintsCall(_Call):
    """List the design constraints on a product, design, part or component and its bill of materials."""

    tool: Literal["design_constraints"]
    target: Reference


class PartsCall(_Call):
    """List the systems, components and parts of an asset, product, design or part, as a tree.

    The tree follows PART_OF upwards links and the bill of materials (HAS_DESIGN, USES_PART and HAS_BOM_ITEM).
    """

    tool: Literal["parts"]
    target: Reference


class PlantFailuresCall(_Windowed):
    """Summarize the failures of the whole plant within `since` and `until`: the most frequent failure modes
    and the assets they hit.

    Questions about failures that name no asset, place or kind ("What failed most last month?") map to it.
    """

    tool: Literal["plant_failures"]
    limit: int = Field(default=5, ge=1, le=20)


class LookupCall(_Call):
    """Find entities whose name in English or Chinese contains a text."""

    tool: Literal["lookup"]
    text: Reference
    of_class: Literal[LOOKUP_CLASSES] | None = None  # type: ignore[valid-type]


class UnmappableCall(_Call):
    """The question fits none of the queries."""

    tool: Literal["unmappable"]
    reason: Annotated[str, StringConstraints(max_length=300)] | None = None


ToolCall = Annotated[Union[RootCausesCall, FailureHistoryCall, RankSuppliersCall, DesignConstraintsCall, PartsCall,
                           PlantFailuresCall, LookupCall, UnmappableCall], Field(discriminator="tool")]
TOOL_CALL = TypeAdapter(ToolCall)
TOOL_NAMES = ("root_causes", "failure_history", "rank_suppliers", "design_constraints", "parts", "plant_failures",
              "lookup", "unmappable")


def tool_call_schema() -> dict[str, Any]:
    """Return the JSON schema of a tool call, for backends that constrain their output to it."""
    return TOOL_CALL.json_schema()


def validate_tool_call(value: dict[str, Any]) -> ToolCall:
    """Validate a decoded tool call; raise ToolCallError that lists every invalid argument."""
    if isinstance(value, dict) and isinstance(value.get("arguments"), dict) and "tool" in value:
        # Models often nest the arguments, as in OpenAI function calls; flatten them.
        value = {"tool": value["tool"], **value["arguments"]}
    try:
        return TOOL_CALL.validate_python(value)
    except ValidationError as error:
        problems = "; ".join(f"{'.'.join(map(str, item['loc'])) or 'call'}: {item['msg']}"
                             for item in error.errors(include_url=False))
        raise ToolCallError(f"invalid tool call {json.dumps(value, ensure_ascii=False)[:200]}: {problems}; "
                            f"use one of the tools {', '.join(TOOL_NAMES)} with their documented arguments") from None


def parse_tool_call(text: str) -> ToolCall:
    """Decode the first JSON object in a model's output and validate it as a tool call."""
    start = text.find("{")
    if start < 0:
        raise ToolCallError(f"the model output contains no JSON object: {text[:120]!r}; expected a tool call "
                            'such as {"tool": "lookup", "text": "AC-3"}')
    try:
        value, _ = json.JSONDecoder().raw_decode(text[start:])
    except json.JSONDecodeError as error:
        raise ToolCallError(f"the model output is not valid JSON at character {start + error.pos}: "
                            f"{text[start:start + 120]!r}") from None
    if not isinstance(value, dict):
        raise ToolCallError(f"the model output is JSON but not an object: {text[start:start + 120]!r}")
    return validate_tool_call(value)


def call_arguments(call: ToolCall) -> dict[str, Any]:
    """Return the arguments of a call without the tool name and without unset optional values."""
    return {name: value for name, value in call.model_dump(exclude={"tool"}).items() if value is not None}
