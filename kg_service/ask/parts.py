"""The `parts` query of questions: the systems, components and parts of an asset or product, as a tree.

An asset's parts are the entities linked to it by PART_OF (a component is PART_OF its system, the
system PART_OF the equipment). A product's parts follow the bill of materials of kg-core.ttl
downwards: HAS_DESIGN to its designs, USES_PART to their parts and HAS_BOM_ITEM to the child
parts of an assembly. Both are walked together, level by level, as `design.bill_of_materials`
walks them, but without INSTANCE_OF_PART, which links an installed component to its part
number and not to a part of it.
"""

from __future__ import annotations

import logging
from typing import Any

from kg_service.ask.entities import EntityIndex
from kg_service.ask.execute import ToolResult
from kg_service.ask.names import ClassLabels
from kg_service.ask.targets import choice_facts, choice_note, resolve_target
from kg_service.ask.tools import PartsCall
from kg_service.graph.store import GraphStore
from kg_service.reasoning import lookup

logger = logging.getLogger(__name__)

PARTS_TARGET_CLASSES = ["Equipment", "Product", "System", "Design", "Part", "Component"]
PARTS_ROLE = ("assets, products, designs and parts", "设备、产品、设计或零件")
# Relationship types followed from a whole to its parts. PART_OF is followed the other way, from the part to the whole.
PARTS_DOWN_TYPES = ["HAS_DESIGN", "USES_PART", "HAS_BOM_ITEM"]
MAX_PARTS_DEPTH = 8
MAX_PARTS = 200
# Items written in the text of an answer. `rows` contains every item.
MAX_PARTS_IN_TEXT = 40

PARTS_LEVEL_QUERY = """
UNWIND $frontier AS key
MATCH (n:Entity {id: key})
CALL (n) {
  MATCH (n)-[r]->(m:Entity) WHERE type(r) IN $down RETURN m, type(r) AS relationship
  UNION
  MATCH (n)<-[:PART_OF]-(m:Entity) RETURN m, 'PART_OF' AS relationship
}
RETURN key AS parent, m.id AS id, labels(m) AS labels, properties(m) AS props, relationship
ORDER BY parent, id
"""


def _class_names(labels: list[str], class_labels: ClassLabels) -> dict[str, str | None]:
    """Return the most specific class of an entity in English (its node label) and in Chinese."""
    known = [label for label in labels if label in class_labels.labels and label != "Entity"]
    if not known:
        return {"en": None, "zh": None}
    best = min(known, key=lambda label: (-class_labels.labels[label].depth, label))
    return {"en": best, "zh": class_labels.labels[best].zh}


def run_parts(store: GraphStore, index: EntityIndex, call: PartsCall, class_labels: ClassLabels,
              question: str | None = None) -> ToolResult:
    """List the parts of the call's target, depth first, each row with its parent, depth and class."""
    result = ToolResult("parts")
    target, choice = resolve_target(store, index, call.target, PARTS_TARGET_CLASSES, PARTS_ROLE, question)
    result.resolved["target"] = target["id"]
    result.cite(target["id"], "entity", lookup.display_name(target["props"], "en"))

    children: dict[str, list[dict[str, Any]]] = {}
    seen = {target["id"]}
    frontier = [target["id"]]
    truncated = False
    for _ in range(MAX_PARTS_DEPTH):
        if not frontier:
            break
        rows = store.read(PARTS_LEVEL_QUERY, {"frontier": frontier, "down": PARTS_DOWN_TYPES})
        frontier = []
        for row in rows:
            if row["id"] in seen:
                continue
            if len(seen) > MAX_PARTS:
                truncated = True
                break
            seen.add(row["id"])
            children.setdefault(row["parent"], []).append(row)
            frontier.append(row["id"])

    def visit(parent: str, depth: int) -> None:
        for row in children.get(parent, []):
            classes = _class_names(row["labels"], class_labels)
            result.rows.append({"id": row["id"], "parent": parent, "depth": depth,
                                "relationship": row["relationship"],
                                "name_en": lookup.display_name(row["props"], "en"),
                                "name_zh": class_labels.chinese_name(row["props"], row["labels"]),
                                "tag": row["props"].get("name"), "class_en": classes["en"],
                                "class_zh": classes["zh"]})
            result.cite(row["id"], "entity", lookup.display_name(row["props"], "en"))
            visit(row["id"], depth + 1)

    visit(target["id"], 1)
    counts: dict[str, int] = {}
    for row in result.rows:
        counts[row["class_en"] or "Entity"] = counts.get(row["class_en"] or "Entity", 0) + 1
    result.facts = {"target": {"id": target["id"], "name": class_labels.names(target["props"], target["labels"]),
                               "tag": target["props"].get("name")},
                    "target_class": _class_names(target["labels"], class_labels),
                    "count": len(result.rows), "truncated": truncated,
                    "relationships": sorted({row["relationship"] for row in result.rows}),
                    "chosen": choice_facts(choice, target, PARTS_TARGET_CLASSES)}
    logger.debug("parts of %s: %d items", target["id"], len(result.rows))
    return result


def _name(facts: dict[str, Any], lang: str) -> str:
    name = facts["name"].get(lang) or facts["name"].get("en") or facts["id"]
    tag = facts.get("tag")
    if not tag or tag == name:
        return name
    return f"{name}（{tag}）" if lang == "zh" else f"{name} ({tag})"


def _item(row: dict[str, Any], lang: str) -> str:
    name = row.get(f"name_{lang}") or row.get("name_en") or row["id"]
    cls = row.get(f"class_{lang}") or row.get("class_en")
    if lang == "zh":
        return f"{name}（{cls}）" if cls and not name.endswith(f"（{cls}）") else name
    return f"{name} [{cls}]" if cls else name


def render_parts(result: ToolResult, lang: str) -> str:
    """Write the parts tree: one line per item, indented by depth, with its class."""
    facts = result.facts
    target = _name(facts["target"], lang)
    note = choice_note(facts.get("chosen"), target, "parts are listed for assets, products, designs and parts",
                       "零部件按设备、产品、设计或零件列出", lang)
    relationships = ("、" if lang == "zh" else ", ").join(facts["relationships"])
    if not result.rows:
        if lang == "zh":
            return (f"{note}图谱中没有记录{target}的零部件（没有 PART_OF、HAS_DESIGN、USES_PART 或 HAS_BOM_ITEM "
                    "关系指向它的下级）。")
        return (f"{note}The graph records no parts of {target}: no PART_OF, HAS_DESIGN, USES_PART or HAS_BOM_ITEM "
                "link leads below it.")
    lines = [f"{'  ' * (row['depth'] - 1)}- {_item(row, lang)}" for row in result.rows[:MAX_PARTS_IN_TEXT]]
    more = len(result.rows) - len(lines)
    if more > 0:
        lines.append(f"  （另有 {more} 项，见 rows）" if lang == "zh" else f"  (and {more} more, see rows)")
    if facts["truncated"]:
        lines.append(f"  （只列出前 {MAX_PARTS} 项）" if lang == "zh" else f"  (only the first {MAX_PARTS} items)")
    if lang == "zh":
        head = f"{note}{target}共有 {facts['count']} 个零部件（按 {relationships} 关系）："
    else:
        noun = "part" if facts["count"] == 1 else "parts"
        head = f"{note}{target} has {facts['count']} {noun} in the graph (by {relationships}):"
    return "\n".join([head, *lines])
