"""Run a validated tool call with the reasoning functions and collect the facts an answer cites."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Any

from kg_service.ask.entities import ASSET_CLASSES, CONDITION_CLASSES, DESIGN_TARGET_CLASSES, EntityIndex
from kg_service.ask.kinds import EquipmentKind, check_asset_kind, resolve_kind, scope_equipment
from kg_service.ask.messages import BilingualQueryError, entity_name, quoted
from kg_service.ask.names import ClassLabels
from kg_service.ask.part_suppliers import part_class_suppliers
from kg_service.ask.places import PLACE_CLASSES, check_within, find_place_phrases, resolve_place
from kg_service.ask.targets import choice_facts, resolve_target
from kg_service.ask.tools import (DesignConstraintsCall, FailureHistoryCall, LookupCall, RankSuppliersCall,
                                  RootCausesCall, ToolCall)
from kg_service.errors import NotFoundError, QueryError
from kg_service.graph.store import GraphStore
from kg_service.reasoning import lookup
from kg_service.reasoning.design import design_constraints
from kg_service.reasoning.rootcause import (MOST_FREQUENT_MODE_QUERY, RootCauseQuery, RootCauseResult, rank_causes,
                                            tied_modes)
from kg_service.reasoning.suppliers import KPI_NAMES, Criterion, rank_suppliers, resolve_parts, supplier_kpis

logger = logging.getLogger(__name__)

# KPIs tried, in this order, when a supplier question names none. Those unknown for some supplier,
# or equal for all, are left out because they cannot separate the suppliers.
DEFAULT_SUPPLIER_CRITERIA = ("onTimeRate", "meanLatenessDays", "meanUnitPrice", "freightShare", "nonconformanceCount",
                             "failureCount", "certificationCount", "singleSourceParts", "partCount")
MAX_EVIDENCE_PER_CANDIDATE = 3
MAX_LOOKUP_ROWS = 10
# The history query returns the properties of a work order's failure modes (HAS_FAILURE_MODE, whose range is
# FailureMode) and components (INVOLVES ... :Component) without their labels, so these labels are used for them.
HISTORY_MODE_LABELS = ("FailureMode",)
HISTORY_PART_LABELS = ("Component",)
# The classes that design constraints apply to, named in English and Chinese for messages.
DESIGN_ROLE = ("products, designs, parts and components", "产品、设计、零件或部件")
# Supplier KPI rows carry properties without labels, and every row is a Supplier.
SUPPLIER_LABELS = ("Supplier",)


# The failure modes that the work orders of several pieces of equipment record, in the order of
# MOST_FREQUENT_MODE_QUERY: most work orders first, then the newest work order, then the smaller key.
MOST_FREQUENT_MODE_OF_EQUIPMENT_QUERY = """
UNWIND $equipment AS key
MATCH (wo:WorkOrder)-[:FOR_ASSET]->(target)-[:PART_OF*0..4]->(:Entity {id: key})
WHERE ($since IS NULL OR wo.date >= date($since)) AND ($until IS NULL OR wo.date <= date($until))
MATCH (wo)-[:HAS_FAILURE_MODE]->(mode:FailureMode)
RETURN mode.id AS id, count(DISTINCT wo) AS orders, max(wo.date) AS latest ORDER BY orders DESC, latest DESC, id
"""

FAILURE_MODES_QUERY = """
MATCH (mode:FailureMode) WHERE mode.id IN $keys
RETURN mode.id AS id, labels(mode) AS labels, properties(mode) AS props
"""

LATEST_WORK_ORDER_QUERY = """
UNWIND $assets AS key
MATCH (wo:WorkOrder)-[:FOR_ASSET]->()-[:PART_OF*0..6]->(:Entity {id: key})
RETURN max(wo.date) AS latest
"""

# The equipment that each candidate cause is, or is part of.
OWNING_EQUIPMENT_QUERY = """
UNWIND $keys AS key
MATCH (:Entity {id: key})-[:PART_OF*0..6]->(owner:Equipment)
WITH key, owner ORDER BY owner.id
WITH key, collect(owner)[0] AS owner
RETURN key, owner.id AS id, labels(owner) AS labels, properties(owner) AS props
"""

PARTS_BY_WORD_QUERY = """
MATCH (p:Part)-[:SUPPLIED_BY]->(:Supplier)
WHERE toLower(coalesce(p.name, '')) CONTAINS toLower($text) OR toLower(coalesce(p.nameEn, '')) CONTAINS toLower($text)
   OR coalesce(p.nameZh, '') CONTAINS $text
RETURN DISTINCT p.id AS id, labels(p) AS labels, properties(p) AS props ORDER BY id LIMIT 20
"""

CURRENT_SUPPLIERS_QUERY = """
MATCH (p:Part)-[:SUPPLIED_BY]->(s:Supplier) WHERE p.id IN $parts
RETURN DISTINCT s.id AS id ORDER BY id
"""

# A part counts as installed in a place when a component of that part number is PART_OF the place.
PARTS_IN_PLACE_QUERY = """
UNWIND $parts AS key
MATCH (part:Part {id: key})
RETURN part.id AS id,
       EXISTS { MATCH (part)<-[:INSTANCE_OF_PART]-(:Component)-[:PART_OF*1..6]->(:Entity {id: $place}) } AS inPlace,
       EXISTS { MATCH (part)<-[:INSTANCE_OF_PART]-(:Component)-[:PART_OF*1..6]->(located)
                WHERE located:ProductionLine OR located:Site } AS located
"""

SUPPLIED_PARTS_IN_PLACE_QUERY = """
MATCH (:Entity {id: $place})<-[:PART_OF*1..6]-(:Component)-[:INSTANCE_OF_PART]->(part:Part)-[:SUPPLIED_BY]->(:Supplier)
RETURN DISTINCT part.id AS id, labels(part) AS labels, properties(part) AS props ORDER BY id
"""

LOOKUP_QUERY = """
MATCH (n:Entity)
WHERE ($class IS NULL OR $class IN labels(n))
  AND (n.id = $text OR toLower(coalesce(n.name, '')) CONTAINS toLower($text)
       OR toLower(coalesce(n.nameEn, '')) CONTAINS toLower($text) OR coalesce(n.nameZh, '') CONTAINS $text)
OPTIONAL MATCH (n)-[:PART_OF]->(parent:Entity)
RETURN n.id AS id, labels(n) AS labels, properties(n) AS props, collect(DISTINCT parent.id) AS partOf
ORDER BY CASE WHEN n.id = $text THEN 0 ELSE 1 END, id LIMIT $limit
"""

# The other entities that share the English or Chinese name of the entity with key $key.
SAME_NAME_QUERY = """
MATCH (found:Entity {id: $key})
WITH [name IN [found.name, found.nameEn, found.nameZh] WHERE name IS NOT NULL | toLower(name)] AS names
MATCH (n:Entity)
WHERE n.id <> $key AND ($class IS NULL OR $class IN labels(n))
  AND any(name IN [n.name, n.nameEn, n.nameZh] WHERE name IS NOT NULL AND toLower(name) IN names)
OPTIONAL MATCH (n)-[:PART_OF]->(parent:Entity)
RETURN n.id AS id, labels(n) AS labels, properties(n) AS props, collect(DISTINCT parent.id) AS partOf
ORDER BY id LIMIT $limit
"""


@dataclass(frozen=True)
class Citation:
    """A graph fact or document that an answer uses: a node key with its kind and name."""

    id: str
    kind: str
    label: str | None = None


@dataclass
class ToolResult:
    """The outcome of one tool call: resolved arguments, table rows and the facts they rest on.

    `facts` contains the values that the answer templates need, and `rows` is the result as a table.
    """

    tool: str
    resolved: dict[str, str] = field(default_factory=dict)
    rows: list[dict[str, Any]] = field(default_factory=list)
    facts: dict[str, Any] = field(default_factory=dict)
    citations: list[Citation] = field(default_factory=list)

    def cite(self, key: str | None, kind: str, label: str | None = None) -> None:
        if key and all(item.id != key for item in self.citations):
            self.citations.append(Citation(key, kind, label))


def _entity_facts(row: dict[str, Any] | None, class_labels: ClassLabels) -> dict[str, Any] | None:
    if row is None:
        return None
    return {"id": row["id"], "name": class_labels.names(row["props"], row.get("labels")),
            "tag": row["props"].get("name")}


def _resolve_asset(store: GraphStore, index: EntityIndex, reference: str) -> dict[str, Any]:
    """Resolve an asset reference. A place phrase given as the asset ("line 2") names that place."""
    try:
        return index.resolve(store, reference, ASSET_CLASSES, "asset")
    except NotFoundError:
        if find_place_phrases(reference):
            return resolve_place(store, index, reference)
        raise


def _scope(store: GraphStore, index: EntityIndex, asset_reference: str | None,
           place_reference: str | None) -> tuple[dict[str, Any] | None, dict[str, Any] | None]:
    """Resolve the asset and the place of a call. Raise QueryError when the asset is outside the place."""
    asset = _resolve_asset(store, index, asset_reference) if asset_reference else None
    place = resolve_place(store, index, place_reference) if place_reference else None
    if asset is not None and place is not None:
        check_within(store, asset, place)
    return asset, place


def _kind_scope(store: GraphStore, index: EntityIndex, reference: str | None, asset: dict[str, Any] | None,
                place: dict[str, Any] | None) -> tuple[EquipmentKind | None, list[dict[str, Any]] | None]:
    """Resolve the kind of equipment of a call and the equipment it covers.

    With a named asset the kind only checks that asset, so no equipment list is returned. Raises
    QueryError when the place has no equipment of the kind or the asset is not of the kind.
    """
    if reference is None:
        return None, None
    kind = resolve_kind(index.kinds, reference)
    if asset is not None and asset["labels"] and set(asset["labels"]) & set(PLACE_CLASSES):
        # A place given as the asset ("line 2") is where the kind is looked for.
        return kind, scope_equipment(store, kind, asset)
    if asset is not None:
        check_asset_kind(store, index.kinds, kind, asset)
        return kind, None
    return kind, scope_equipment(store, kind, place)


def _kind_facts(kind: EquipmentKind | None, equipment: list[dict[str, Any]] | None,
                place: dict[str, Any] | None, class_labels: ClassLabels) -> dict[str, Any]:
    """Return the kind's names and the equipment it covers.

    `on_line` selects "pumps on Line 2" for a production line and "pumps in Suzhou Plant" for a site.
    """
    if kind is None or equipment is None:
        return {"kind": None, "kind_assets": []}
    on_line = place is not None and "ProductionLine" in place["labels"]
    return {"kind": {"label": kind.label, "name": {"en": kind.plural("en"), "zh": kind.plural("zh")},
                     "on_line": on_line},
            "kind_assets": [_entity_facts(row, class_labels) for row in equipment]}


def _cite_equipment(result: ToolResult, kind: EquipmentKind | None, equipment: list[dict[str, Any]] | None) -> None:
    if kind is None or equipment is None:
        return
    result.resolved["equipment_kind"] = kind.label
    result.resolved["equipment"] = ", ".join(row["id"] for row in equipment)
    for row in equipment:
        result.cite(row["id"], "entity", lookup.display_name(row["props"], "en"))


def run_tool(store: GraphStore, index: EntityIndex, call: ToolCall, question: str | None = None) -> ToolResult:
    """Run one validated call; raise NotFoundError or QueryError when an argument names nothing usable.

    With `question`, a design or parts answer explains a target that differs from the question's literal words.
    """
    # The parts and plant-wide queries build on ToolResult, so their modules are imported here, not at the top.
    from kg_service.ask.parts import run_parts
    from kg_service.ask.plant import run_plant_failures

    class_labels = ClassLabels.load(store)
    if call.tool == "parts":
        return run_parts(store, index, call, class_labels, question)
    if call.tool == "design_constraints":
        return _design(store, index, call, class_labels, question)
    if call.tool == "plant_failures":
        return run_plant_failures(store, index, call, class_labels)
    runners = {"root_causes": _root_causes, "failure_history": _failure_history, "rank_suppliers": _suppliers,
               "lookup": _lookup}
    return runners[call.tool](store, index, call, class_labels)


def _root_causes(store: GraphStore, index: EntityIndex, call: RootCausesCall,
                 class_labels: ClassLabels) -> ToolResult:
    result = ToolResult("root_causes")
    named_asset, place = _scope(store, index, call.asset, call.place)
    kind, equipment = _kind_scope(store, index, call.equipment_kind, named_asset, place)
    # Without an asset, the place is the asset whose hierarchy the ranking covers.
    asset = named_asset or place
    mode = index.resolve(store, call.failure_mode, ["FailureMode"], "failure mode") if call.failure_mode else None
    symptom = index.resolve(store, call.symptom, CONDITION_CLASSES, "symptom") if call.symptom else None
    equipment_keys = [row["id"] for row in equipment] if equipment is not None else None
    query = RootCauseQuery(asset=asset["id"] if asset else None, equipment=equipment_keys,
                           failure_mode=mode["id"] if mode else None, symptom=symptom["id"] if symptom else None,
                           limit=call.limit, since=call.since, until=call.until)
    # Without a condition in the question, the ranking explains the failure mode it picked itself.
    chosen_mode = mode is None and symptom is None
    if asset is None and chosen_mode and equipment_keys:
        # A kind alone ("why do the pumps fail?") gives the ranking no asset to start from, so it
        # explains the failure mode that the work orders of that kind record most often.
        # NOTE: without a date window the kind's alarms and failure events are not observed, because the
        # failure mode comes from the work orders first.
        modes = _modes_by_frequency(store, None, equipment_keys, call)
        if modes:
            query.failure_mode = modes[0]["id"]
            ranking = _chosen_by_work_orders(rank_causes(store, query), modes)
        else:
            # As for a single asset, no failure work order (in the window) is an answer without candidates.
            ranking = RootCauseResult(asset=None, condition=None, target_work_orders=[], candidates=[])
    else:
        ranking = rank_causes(store, query)
    if asset is not None and chosen_mode and not ranking.candidates:
        # A question such as "why did AC-3 stop?" names no condition and the telemetry has no event
        # to start from, so explain the failure mode that the asset's work orders record most often.
        modes = _modes_by_frequency(store, asset["id"], equipment_keys, call)
        if modes:
            query.failure_mode = modes[0]["id"]
            ranking = _chosen_by_work_orders(rank_causes(store, query), modes)

    for name, row in (("asset", ranking.asset), ("place", place), ("condition", ranking.condition)):
        if row is not None:
            result.resolved[name] = row["id"]
            result.cite(row["id"], "entity", lookup.display_name(row["props"], "en"))
    _cite_equipment(result, kind, equipment)
    result.facts = {"asset": _entity_facts(ranking.asset, class_labels),
                    "place": _entity_facts(place, class_labels) if named_asset is not None else None,
                    **_kind_facts(kind, equipment, asset, class_labels),
                    "condition": _entity_facts(ranking.condition, class_labels),
                    "condition_chosen": chosen_mode and ranking.condition is not None,
                    **_tie_facts(store, ranking, chosen_mode, class_labels),
                    "target_work_orders": len(ranking.target_work_orders),
                    "observed_events": [event.id for event in ranking.observed_events],
                    "sources": ranking.sources, **_window_facts(call)}
    if equipment_keys is not None:
        scope_keys = equipment_keys
    else:
        scope_keys = [asset["id"]] if asset is not None else []
    result.facts["latest"] = _latest_outside_window(store, scope_keys, call, len(ranking.target_work_orders))
    owners = _owning_equipment(store, [candidate.id for candidate in ranking.candidates])
    for rank, candidate in enumerate(ranking.candidates, start=1):
        result.rows.append({"rank": rank, "id": candidate.id, "name_en": candidate.name("en"),
                            "name_zh": class_labels.chinese_name(candidate.properties, candidate.classes),
                            "class": candidate.classes[0] if candidate.classes else None,
                            "equipment": _entity_facts(owners.get(candidate.id), class_labels),
                            "score": round(candidate.score, 4),
                            "breakdown": {part.source: round(part.value, 4) for part in candidate.breakdown},
                            "work_orders": candidate.work_orders, "documents": candidate.documents,
                            "chunks": candidate.chunks, "events": [event.id for event in candidate.events]})
        result.cite(candidate.id, "entity", candidate.name("en"))
    for row in result.rows[:3]:
        for key in row["work_orders"][:MAX_EVIDENCE_PER_CANDIDATE]:
            result.cite(key, "work_order")
        for key in row["documents"][:MAX_EVIDENCE_PER_CANDIDATE]:
            result.cite(key, "document")
        for key in row["chunks"][:MAX_EVIDENCE_PER_CANDIDATE]:
            result.cite(key, "chunk")
        for key in row["events"][:MAX_EVIDENCE_PER_CANDIDATE]:
            result.cite(key, "event")
    for key in result.facts["observed_events"][:MAX_EVIDENCE_PER_CANDIDATE]:
        result.cite(key, "event")
    return result


def _owning_equipment(store: GraphStore, keys: list[str]) -> dict[str, dict[str, Any]]:
    """Return the equipment row ({id, props}) that each key is or is part of, for the keys that have one."""
    if not keys:
        return {}
    rows = store.read(OWNING_EQUIPMENT_QUERY, {"keys": keys})
    return {row["key"]: row for row in rows if row["id"] is not None}


def _chosen_by_work_orders(ranking: RootCauseResult, modes: list[dict[str, Any]]) -> RootCauseResult:
    """Mark a ranking of the first of `modes` as chosen by work-order counts, with the modes that tie with it."""
    ranking.condition_source = "work orders"
    ranking.tied_conditions = tied_modes(modes)
    return ranking


def _tie_facts(store: GraphStore, ranking: RootCauseResult, chosen_mode: bool,
               class_labels: ClassLabels) -> dict[str, Any]:
    """Return the failure modes as frequent as the chosen one and what was counted ("work orders" or "window events").

    Without a chosen mode, or without a tie, the list is empty.
    """
    keys = ranking.tied_conditions if chosen_mode and ranking.condition is not None else []
    rows = {row["id"]: row for row in store.read(FAILURE_MODES_QUERY, {"keys": keys})} if keys else {}
    return {"condition_ties": [_entity_facts(rows[key], class_labels) for key in keys if key in rows],
            "condition_counted": ranking.condition_source}


def _latest_outside_window(store: GraphStore, assets: list[str], call: RootCausesCall | FailureHistoryCall,
                           count: int) -> str | None:
    """Return the date of the assets' newest work order when a date window found none of their work orders."""
    if count or not assets or (call.since is None and call.until is None):
        return None
    return latest_work_order_date(store, assets)


def latest_work_order_date(store: GraphStore, assets: list[str]) -> str | None:
    """Return the ISO date of the newest work order for `assets` or their parts, ignoring any date window."""
    rows = store.read(LATEST_WORK_ORDER_QUERY, {"assets": assets})
    return str(rows[0]["latest"]) if rows and rows[0]["latest"] is not None else None


def _modes_by_frequency(store: GraphStore, asset: str | None, equipment: list[str] | None,
                        call: RootCausesCall) -> list[dict[str, Any]]:
    """Return the failure modes that the work orders of `equipment` (else of `asset`) record, most often first.

    Each row has `id`, `orders` (work orders) and `latest` (newest work-order date). Modes with equal
    counts are ordered by the newest work order, then by key, as the root-cause ranking orders them,
    so the first row is the mode to explain and `tied_modes` finds the ones that tie with it.
    """
    window = lookup.history_window(call.since, call.until)
    if equipment is not None:
        return store.read(MOST_FREQUENT_MODE_OF_EQUIPMENT_QUERY, {"equipment": equipment, **window})
    return store.read(MOST_FREQUENT_MODE_QUERY, {"asset": asset, "equipment": None, **window})


def _window_facts(call: RootCausesCall | FailureHistoryCall) -> dict[str, str | None]:
    return {"since": call.since.isoformat() if call.since else None,
            "until": call.until.isoformat() if call.until else None}


def _failure_history(store: GraphStore, index: EntityIndex, call: FailureHistoryCall,
                     class_labels: ClassLabels) -> ToolResult:
    result = ToolResult("failure_history")
    named_asset, place = _scope(store, index, call.asset, call.place)
    kind, equipment = _kind_scope(store, index, call.equipment_kind, named_asset, place)
    # Without an asset, the history covers every asset that is part of the place, or every asset of the kind.
    asset = named_asset or place
    if equipment is not None:
        page = lookup.equipment_history(store, [row["id"] for row in equipment], call.limit, call.failures_only,
                                        call.since, call.until)
    else:
        page = lookup.failure_history(store, asset["id"], call.limit, None, call.failures_only, call.since,
                                      call.until)
    if asset is not None:
        result.resolved["asset"] = asset["id"]
        result.cite(asset["id"], "entity", lookup.display_name(asset["props"], "en"))
    if place is not None:
        result.resolved["place"] = place["id"]
        result.cite(place["id"], "entity", lookup.display_name(place["props"], "en"))
    _cite_equipment(result, kind, equipment)
    scope_keys = [row["id"] for row in equipment] if equipment is not None else [asset["id"]]
    result.facts = {"asset": _entity_facts(asset, class_labels),
                    "place": _entity_facts(place, class_labels) if named_asset is not None else None,
                    **_kind_facts(kind, equipment, asset, class_labels), "total": page.total,
                    "failures_only": call.failures_only,
                    **_window_facts(call), "latest": _latest_outside_window(store, scope_keys, call, page.total)}
    for row in page.rows:
        props = row["props"]
        result.rows.append({"id": row["id"], "date": str(props.get("date")), "order_type": props.get("orderType"),
                            "failure_modes": [class_labels.names(mode, HISTORY_MODE_LABELS)
                                              for mode in row["failureModes"]],
                            "parts": [class_labels.names(part, HISTORY_PART_LABELS) for part in row["parts"]],
                            "text": props.get("text")})
        result.cite(row["id"], "work_order", props.get("name"))
    return result


def supplier_parts(store: GraphStore, index: EntityIndex, reference: str) -> list[dict[str, Any]]:
    """Return the part that `reference` names exactly, else the supplied parts whose names contain it.

    A generic word such as "bearing" or "轴承" so stands for every bearing that has a supplier.
    """
    try:
        return [lookup.resolve_entity(store, reference, ["Part"])]
    except QueryError:
        pass
    rows = store.read(PARTS_BY_WORD_QUERY, {"text": reference.strip()})
    return rows or [index.resolve(store, reference, ["Part"], "part")]


@dataclass(frozen=True)
class CriteriaChoice:
    """The default KPIs a supplier question ranks on, and the KPIs left out with the reason for each."""

    names: list[str]
    dropped: list[dict[str, Any]]


def _default_criteria(table_rows: list, wanted: tuple[str, ...]) -> CriteriaChoice:
    """Choose the KPIs of `wanted` that can rank the suppliers of `table_rows`, in the order of `wanted`.

    A KPI unknown for some suppliers is kept, and ranking then excludes those suppliers, unless the suppliers
    excluded by the KPIs kept so far and this one would be more than half of all. A KPI whose known values
    are equal for the suppliers still ranked is left out, because it cannot separate them.
    """
    total = len(table_rows)
    chosen: list[str] = []
    dropped: list[dict[str, Any]] = []
    excluded: set[str] = set()
    for name in wanted:
        missing = {row.supplier_id for row in table_rows if row.values[name] is None}
        if missing and 2 * len(excluded | missing) > total:
            dropped.append({"kpi": name, "reason": "unknown", "missing": len(missing), "total": total})
            continue
        chosen.append(name)
        excluded |= missing
    kept_rows = [row for row in table_rows if row.supplier_id not in excluded]
    names = []
    for name in chosen:
        if len({row.values[name] for row in kept_rows}) > 1:
            names.append(name)
        else:
            dropped.append({"kpi": name, "reason": "equal", "missing": 0, "total": len(kept_rows)})
    return CriteriaChoice(names, dropped)


def _category(index: EntityIndex, reference: str) -> str:
    """Return the category of the graph that `reference` names in any case, else raise with the known ones."""
    for category in index.categories:
        if category.lower() == reference.strip().lower():
            return category
    known = ", ".join(index.categories) or "(none loaded)"
    raise BilingualQueryError(
        f"category {quoted(reference, 'en')} is not a product group of any part in the graph; use one of {known}, "
        "or ask without a category",
        f"图谱中没有零件属于类别 {quoted(reference, 'zh')}；请使用以下类别之一：{known}，或不指定类别再问")


def _suppliers(store: GraphStore, index: EntityIndex, call: RankSuppliersCall,
               class_labels: ClassLabels) -> ToolResult:
    result = ToolResult("rank_suppliers")
    if call.part_class is not None:
        return part_class_suppliers(store, index, call, class_labels, result)
    category = _category(index, call.category) if call.category else None
    if category is not None:
        result.resolved["category"] = category
    parts = supplier_parts(store, index, call.part) if call.part else []
    place = resolve_place(store, index, call.place) if call.place else None
    place_unrecorded = False
    if place is not None:
        parts, place_unrecorded = _parts_in_place(store, call.part, parts, place)
        result.resolved["place"] = place["id"]
        result.cite(place["id"], "entity", lookup.display_name(place["props"], "en"))
    part_ids = [row["id"] for row in parts]
    current = [row["id"] for row in store.read(CURRENT_SUPPLIERS_QUERY, {"parts": part_ids})] if parts else []
    for row in parts:
        result.cite(row["id"], "entity", lookup.display_name(row["props"], "en"))
    if parts:
        result.resolved["part"] = ", ".join(part_ids)
    scope_facts = {"place": _entity_facts(place, class_labels), "place_unrecorded": place_unrecorded,
                   "category": category, "dropped_criteria": []}

    if parts and not current and not call.replace_current:
        # A part without a SUPPLIED_BY link ("Who supplies Mechanical Seal?") gets no ranking, because a
        # ranking of every supplier is not its suppliers. The result records that no supplier is linked.
        result.facts = {"parts": [_entity_facts(row, class_labels) for row in parts], "current": [],
                        "replace_current": False,
                        "criteria": [], "method": None, "higher_is_better": True, "excluded": [], "single": False,
                        "unsupplied": True, **scope_facts}
        return result

    # Alternatives to the current suppliers come from every supplier, so only one part filters the table.
    part_filter = part_ids[0] if len(part_ids) == 1 and not call.replace_current else None
    table_rows = supplier_kpis(store, resolve_parts(store, part_filter, category)).rows
    if (part_filter is not None and len(current) == 1) or (category is not None and len(table_rows) == 1):
        # A decision method cannot rank a single supplier, so the answer names it instead.
        rows = supplier_kpis(store, [part_filter]).rows if part_filter is not None else table_rows
        result.rows = [{"rank": 1, "id": row.supplier_id, "name_en": lookup.display_name(row.properties, "en"),
                        "name_zh": class_labels.chinese_name(row.properties, SUPPLIER_LABELS), "score": None,
                        "current": True}
                       for row in rows]
        for row in rows:
            result.cite(row.supplier_id, "entity", lookup.display_name(row.properties, "en"))
        result.facts = {"parts": [_entity_facts(row, class_labels) for row in parts], "current": current,
                        "replace_current": False,
                        "criteria": [], "method": None, "higher_is_better": True, "excluded": [], "single": True,
                        **scope_facts}
        return result
    if call.criteria:
        choice = CriteriaChoice(list(call.criteria), [])
    else:
        choice = _default_criteria(table_rows, DEFAULT_SUPPLIER_CRITERIA)
    names = choice.names
    scope_facts["dropped_criteria"] = choice.dropped
    if not names:
        raise BilingualQueryError(
            "the suppliers' KPIs are unknown or equal for every KPI, so no criterion can rank them; load delivery "
            f"history (kg-service ingest shipments) or name criteria from {', '.join(KPI_NAMES)}",
            "供应商的各项 KPI 都未知或相同，没有准则可以排序；请导入交货记录（kg-service ingest shipments），"
            f"或从 {', '.join(KPI_NAMES)} 中指定准则")
    criteria = [Criterion(name, 1.0 / len(names)) for name in names]
    ranking = rank_suppliers(store, criteria, call.method, part=part_filter, category=category)
    decision = ranking.result
    # Parts that came from the place and that no single part filter covers keep only their own suppliers.
    # Their scores stay those of the ranking over every supplier, so only the ranks are renumbered.
    only_current = place is not None and call.part is None and part_filter is None
    for row_index in decision.ranking:
        row = ranking.suppliers[row_index]
        if only_current and row.supplier_id not in current:
            continue
        result.rows.append({"rank": len(result.rows) + 1, "id": row.supplier_id,
                            "name_en": lookup.display_name(row.properties, "en"),
                            "name_zh": class_labels.chinese_name(row.properties, SUPPLIER_LABELS),
                            "score": round(float(decision.scores[row_index]), 4),
                            "current": row.supplier_id in current,
                            **{name: row.values[name] for name in names}})
        result.cite(row.supplier_id, "entity", lookup.display_name(row.properties, "en"))
    result.facts = {"parts": [_entity_facts(row, class_labels) for row in parts], "current": current,
                    "replace_current": call.replace_current, "criteria": names, "method": decision.method,
                    "higher_is_better": decision.higher_is_better,
                    "excluded": [{"id": item.supplier_id, "reasons": item.reasons,
                                  "name_en": lookup.display_name(item.properties, "en"),
                                  "name_zh": class_labels.chinese_name(item.properties, SUPPLIER_LABELS),
                                  "unknown": [name for name in names
                                              if any(reason.startswith(f"{name} is unknown") for reason in item.reasons)]}
                                 for item in ranking.excluded],
                    "single": False, **scope_facts}
    return result


def _parts_in_place(store: GraphStore, reference: str | None, parts: list[dict[str, Any]],
                    place: dict[str, Any]) -> tuple[list[dict[str, Any]], bool]:
    """Return the parts of a supplier question that are installed in `place`, and whether no location is recorded.

    Without a part in the question, these are the supplied parts installed there. A part whose
    installation the graph does not record is kept, with the flag set, when no named part is
    installed in the place, because the graph cannot tell where it is used.
    """
    place_en, place_zh = entity_name(place["props"], place["id"], "en"), entity_name(place["props"], place["id"], "zh")
    if reference is None:
        rows = store.read(SUPPLIED_PARTS_IN_PLACE_QUERY, {"place": place["id"]})
        if not rows:
            raise BilingualQueryError(
                f"no part with a supplier is installed in {place_en}, so the place cannot narrow the suppliers; ask "
                "without the place to rank every supplier",
                f"{place_zh}没有安装任何有供应商的零件，所以地点无法缩小供应商范围；请去掉地点以排序所有供应商")
        return rows, False
    rows = store.read(PARTS_IN_PLACE_QUERY, {"parts": [row["id"] for row in parts], "place": place["id"]})
    inside = {row["id"] for row in rows if row["inPlace"]}
    unlocated = {row["id"] for row in rows if not row["located"]}
    if inside:
        return [row for row in parts if row["id"] in inside], False
    if unlocated:
        return [row for row in parts if row["id"] in unlocated], True
    raise BilingualQueryError(
        f"no {quoted(reference, 'en')} part is installed in {place_en}; ask without the place, or name a part used "
        "there",
        f"{place_zh}没有安装{quoted(reference, 'zh')}零件；请去掉地点再问，或指明那里使用的零件")


def _design(store: GraphStore, index: EntityIndex, call: DesignConstraintsCall,
            class_labels: ClassLabels, question: str | None = None) -> ToolResult:
    result = ToolResult("design_constraints")
    # An exact name or tag wins, then the design-constraint target whose name the words cover best. Tied
    # entities ("the compressor") are listed in the error, so that the user picks one.
    target, choice = resolve_target(store, index, call.target, DESIGN_TARGET_CLASSES, DESIGN_ROLE, question,
                                    "product, design or part")
    constraints = design_constraints(store, target["id"], "en")
    constraints_zh = design_constraints(store, target["id"], "zh")
    result.resolved["target"] = target["id"]
    result.cite(target["id"], "entity", lookup.display_name(target["props"], "en"))
    result.facts = {"target": _entity_facts(target, class_labels), "items": len(constraints.items),
                    "chosen": choice_facts(choice, target, DESIGN_TARGET_CLASSES)}
    for item, item_zh in zip(constraints.constraints, constraints_zh.constraints):
        result.rows.append({"constraint": item.constraint, "kind": item.kind, "label_en": item.label,
                            "label_zh": item_zh.label, "applies_to": item.applies_to, "severity": item.severity,
                            "document": item.document})
        if item.kind != "shape":
            result.cite(item.constraint, "entity", item.label)
        result.cite(item.document, "document", item.document_name)
    return result


def _lookup(store: GraphStore, index: EntityIndex, call: LookupCall,
            class_labels: ClassLabels) -> ToolResult:
    result = ToolResult("lookup")
    rows = store.read(LOOKUP_QUERY, {"text": call.text, "class": call.of_class, "limit": MAX_LOOKUP_ROWS})
    key = call.text
    if not rows:
        classes = [call.of_class] if call.of_class else sorted({label for entity in index.entities
                                                                 for label in entity.labels})
        key = index.resolve(store, call.text, classes, "entity")["id"]
        rows = store.read(LOOKUP_QUERY, {"text": key, "class": None, "limit": 1})

    # A key names one entity, but entities of other equipment can share its name ("Mechanical Seal" of
    # P-101 and of P-102), so the lookup lists them too rather than pick one silently.
    if rows and rows[0]["id"] == key:
        rows += store.read(SAME_NAME_QUERY, {"key": rows[0]["id"], "class": call.of_class,
                                             "limit": MAX_LOOKUP_ROWS - 1})
        rows = list({row["id"]: row for row in rows}.values())

    owners = _owning_equipment(store, [row["id"] for row in rows])
    for row in rows:
        labels = [label for label in row["labels"] if label not in ("Entity",)]
        owner = owners.get(row["id"])
        equipment = _entity_facts(owner, class_labels) if owner is not None and owner["id"] != row["id"] else None
        result.rows.append({"id": row["id"], "classes": sorted(labels), "name_en": lookup.display_name(row["props"], "en"),
                            "name_zh": class_labels.chinese_name(row["props"], row["labels"]),
                            "tag": row["props"].get("name"),
                            "part_of": row["partOf"], "equipment": equipment})
        result.cite(row["id"], "entity", lookup.display_name(row["props"], "en"))
    result.facts = {"text": call.text, "count": len(rows)}
    return result

