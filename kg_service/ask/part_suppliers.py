"""Suppliers of a class of parts ("Who supplies bearings?"), or of those parts used by a kind of equipment.

A class of parts is a Part subclass of the ontology, such as Bearing. A part is of the class
when it carries the class's node label or has one of the class's labels in its name (see
`EquipmentKind.includes`), because work-order loaders label parts only `Part`. A part is used
by equipment when a component of that part number is PART_OF the equipment.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from kg_service.ask.entities import EntityIndex
from kg_service.ask.kinds import EquipmentKind, resolve_kind, scope_equipment
from kg_service.ask.messages import BilingualNotFoundError, quoted
from kg_service.ask.names import ClassLabels
from kg_service.ask.places import resolve_place
from kg_service.ask.tools import RankSuppliersCall
from kg_service.graph.store import GraphStore
from kg_service.reasoning import lookup

if TYPE_CHECKING:
    from kg_service.ask.execute import ToolResult

logger = logging.getLogger(__name__)

PARTS_QUERY = """
MATCH (part:Part)
RETURN part.id AS id, labels(part) AS labels, properties(part) AS props ORDER BY id
"""

USED_PARTS_QUERY = """
UNWIND $equipment AS key
MATCH (part:Part)<-[:INSTANCE_OF_PART]-(:Component)-[:PART_OF*1..6]->(:Entity {id: key})
WHERE part.id IN $parts
RETURN DISTINCT part.id AS id
"""

SUPPLIERS_OF_PARTS_QUERY = """
MATCH (part:Part)-[:SUPPLIED_BY]->(supplier:Supplier)
WHERE part.id IN $parts
RETURN supplier.id AS id, properties(supplier) AS props, collect(DISTINCT part.id) AS parts ORDER BY id
"""


def resolve_part_class(index: EntityIndex, reference: str) -> EquipmentKind:
    """Return the Part subclass that `reference` names, or raise NotFoundError listing the known ones."""
    for part_class in index.part_classes:
        text = reference.strip()
        if (text.lower() == part_class.label.lower() or text.lower() in part_class.question_words()
                or text in part_class.words_zh):
            return part_class
    known_en = ", ".join(part_class.plural("en") for part_class in index.part_classes) or "none"
    known_zh = "、".join(part_class.plural("zh") for part_class in index.part_classes) or "无"
    raise BilingualNotFoundError(
        f"no class of parts named {quoted(reference, 'en')} in the ontology; known classes: {known_en}. Ask with "
        "one of them, or name a part",
        f"本体中没有名为{quoted(reference, 'zh')}的零件类别；已知的类别：{known_zh}。请用其中一个类别提问，或指明具体零件")


def part_class_suppliers(store: GraphStore, index: EntityIndex, call: RankSuppliersCall,
                         class_labels: ClassLabels, result: "ToolResult") -> "ToolResult":
    """Fill `result` (a ToolResult of rank_suppliers) with the suppliers of the call's class of parts.

    With `equipment_kind`, only the parts of the class that the equipment of that kind uses count.
    Each row is a supplier with the parts of the class it supplies; the rows are not ranked.
    """
    part_class = resolve_part_class(index, call.part_class)
    parts = [row for row in store.read(PARTS_QUERY) if part_class.includes(row["labels"], row["props"])]
    kind = equipment = None
    if call.equipment_kind is not None:
        kind = resolve_kind(index.kinds, call.equipment_kind)
        place = resolve_place(store, index, call.place) if call.place else None
        equipment = scope_equipment(store, kind, place)
        used = {row["id"] for row in store.read(USED_PARTS_QUERY, {"equipment": [row["id"] for row in equipment],
                                                                   "parts": [row["id"] for row in parts]})}
        scoped = [row for row in parts if row["id"] in used]
    else:
        scoped = parts
    suppliers = store.read(SUPPLIERS_OF_PARTS_QUERY, {"parts": [row["id"] for row in scoped]}) if scoped else []
    names = {row["id"]: row for row in parts}

    result.resolved["part_class"] = part_class.label
    if kind is not None:
        result.resolved["equipment_kind"] = kind.label
        result.resolved["equipment"] = ", ".join(row["id"] for row in equipment)
    for row in scoped:
        result.cite(row["id"], "entity", lookup.display_name(row["props"], "en"))
    for rank, row in enumerate(suppliers, start=1):
        result.rows.append({"rank": rank, "id": row["id"], "name_en": lookup.display_name(row["props"], "en"),
                            "name_zh": class_labels.chinese_name(row["props"], ("Supplier",)), "score": None,
                            "current": True, "parts": row["parts"]})
        result.cite(row["id"], "entity", lookup.display_name(row["props"], "en"))
    part_facts = {row["id"]: {"id": row["id"], "name": class_labels.names(row["props"], row["labels"]),
                              "tag": row["props"].get("name")} for row in parts}
    result.facts = {
        "part_class": {"label": part_class.label,
                       "name": {"en": part_class.plural("en"), "zh": part_class.plural("zh")}},
        "kind": ({"label": kind.label, "name": {"en": kind.plural("en"), "zh": kind.plural("zh")}}
                 if kind is not None else None),
        "kind_assets": [{"id": row["id"], "name": class_labels.names(row["props"], row.get("labels")),
                         "tag": row["props"].get("name")} for row in equipment or []],
        "class_parts": len(parts), "parts": [part_facts[row["id"]] for row in scoped],
        "supplied_parts": {row["id"]: [part_facts[key] for key in row["parts"] if key in names] for row in suppliers},
        "place": None, "replace_current": False, "single": False}
    logger.debug("class %s: %d parts, %d in scope, %d suppliers", part_class.label, len(parts), len(scoped),
                 len(suppliers))
    return result
