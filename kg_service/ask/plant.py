"""The `plant_failures` query of questions: the most frequent failures of the whole plant in a date window.

A question about failures that names no asset, place or kind ("What failed most last month?",
"上个月什么故障最多？") covers every asset whose work orders or failure events in the window record
a failure mode. Each failure mode is counted once per work order and once per failure event, and
each counts towards the equipment that its asset is, or is part of.
"""

from __future__ import annotations

import logging
from datetime import datetime, time
from typing import Any

from kg_service.ask.entities import EntityIndex
from kg_service.ask.execute import ToolResult, latest_work_order_date
from kg_service.ask.names import ClassLabels
from kg_service.ask.timespans import window_words
from kg_service.ask.tools import PlantFailuresCall
from kg_service.graph.store import GraphStore
from kg_service.reasoning import lookup

logger = logging.getLogger(__name__)

MAX_EVIDENCE_PER_MODE = 3
MAX_ASSETS_PER_MODE = 5

# Failure work orders in the window by failure mode and by the equipment (else the asset) they are for.
PLANT_WORK_ORDER_MODES_QUERY = """
MATCH (wo:WorkOrder)-[:HAS_FAILURE_MODE]->(mode:FailureMode)
WHERE ($since IS NULL OR wo.date >= date($since)) AND ($until IS NULL OR wo.date <= date($until))
OPTIONAL MATCH (wo)-[:FOR_ASSET]->(target:Entity)
OPTIONAL MATCH (target)-[:PART_OF*0..6]->(equipment:Equipment)
WITH mode, wo, coalesce(equipment, target) AS asset
RETURN mode.id AS mode, asset.id AS asset, collect(DISTINCT wo.id) AS items, max(toString(wo.date)) AS latest
"""

# Failure events in the window, counted the same way.
PLANT_EVENT_MODES_QUERY = """
MATCH (event:FailureEvent)-[:HAS_FAILURE_MODE]->(mode:FailureMode)
WHERE ($since IS NULL OR event.startTime >= $since) AND ($until IS NULL OR event.startTime <= $until)
OPTIONAL MATCH (event)-[:FOR_ASSET]->(target:Entity)
OPTIONAL MATCH (target)-[:PART_OF*0..6]->(equipment:Equipment)
WITH mode, event, coalesce(equipment, target) AS asset
RETURN mode.id AS mode, asset.id AS asset, collect(DISTINCT event.id) AS items,
       max(toString(date(event.startTime))) AS latest
"""

NODES_QUERY = """
MATCH (n:Entity) WHERE n.id IN $keys
RETURN n.id AS id, labels(n) AS labels, properties(n) AS props
"""

LATEST_FAILURE_QUERY = """
MATCH (wo:WorkOrder)-[:HAS_FAILURE_MODE]->(:FailureMode)
RETURN max(wo.date) AS latest
"""


def run_plant_failures(store: GraphStore, index: EntityIndex, call: PlantFailuresCall,
                       class_labels: ClassLabels) -> ToolResult:
    """Rank the failure modes of the whole plant in the call's window, with the assets and the evidence of each."""
    result = ToolResult("plant_failures")
    window = lookup.history_window(call.since, call.until)
    since = datetime.combine(call.since, time.min) if call.since else None
    until = datetime.combine(call.until, time.max) if call.until else None
    orders = store.read(PLANT_WORK_ORDER_MODES_QUERY, window)
    events = store.read(PLANT_EVENT_MODES_QUERY, {"since": since, "until": until})

    modes: dict[str, dict[str, Any]] = {}
    for kind, rows in (("work_orders", orders), ("events", events)):
        for row in rows:
            mode = modes.setdefault(row["mode"], {"work_orders": set(), "events": set(), "assets": {}, "latest": ""})
            mode[kind].update(row["items"])
            mode["latest"] = max(mode["latest"], row["latest"] or "")
            if row["asset"] is not None:
                mode["assets"][row["asset"]] = mode["assets"].get(row["asset"], 0) + len(row["items"])
    ranked = sorted(modes.items(), key=lambda item: (-(len(item[1]["work_orders"]) + len(item[1]["events"])),
                                                     _descending(item[1]["latest"]), item[0]))
    keys = list(modes) + [asset for mode in modes.values() for asset in mode["assets"]]
    nodes = {row["id"]: row for row in store.read(NODES_QUERY, {"keys": keys})} if keys else {}

    for rank, (key, mode) in enumerate(ranked[:call.limit], start=1):
        node = nodes.get(key, {"id": key, "labels": [], "props": {}})
        assets = sorted(mode["assets"].items(), key=lambda item: (-item[1], item[0]))
        result.rows.append({
            "rank": rank, "id": key, "name_en": lookup.display_name(node["props"], "en"),
            "name_zh": class_labels.chinese_name(node["props"], node["labels"]),
            "work_orders": sorted(mode["work_orders"]), "events": sorted(mode["events"]), "latest": mode["latest"],
            "assets": [{"id": asset, "count": count,
                        "name_en": lookup.display_name(nodes.get(asset, {}).get("props", {}), "en") or asset,
                        "name_zh": class_labels.chinese_name(nodes.get(asset, {}).get("props", {}),
                                                             nodes.get(asset, {}).get("labels")) or asset,
                        "tag": nodes.get(asset, {}).get("props", {}).get("name")}
                       for asset, count in assets]})
        result.cite(key, "entity", lookup.display_name(node["props"], "en"))
    for row in result.rows:
        for asset in row["assets"][:MAX_ASSETS_PER_MODE]:
            result.cite(asset["id"], "entity", asset["name_en"])
        for item in row["work_orders"][:MAX_EVIDENCE_PER_MODE]:
            result.cite(item, "work_order")
        for item in row["events"][:MAX_EVIDENCE_PER_MODE]:
            result.cite(item, "event")

    all_orders = {item for mode in modes.values() for item in mode["work_orders"]}
    all_events = {item for mode in modes.values() for item in mode["events"]}
    all_assets = {asset for mode in modes.values() for asset in mode["assets"]}
    latest = None
    if not modes and (call.since is not None or call.until is not None):
        rows = store.read(LATEST_FAILURE_QUERY)
        latest = str(rows[0]["latest"]) if rows and rows[0]["latest"] is not None else None
    result.facts = {"since": call.since.isoformat() if call.since else None,
                    "until": call.until.isoformat() if call.until else None,
                    "work_orders": len(all_orders), "events": len(all_events), "assets": len(all_assets),
                    "modes": len(modes), "latest": latest}
    logger.debug("plant failures %s to %s: %d modes, %d work orders, %d events", call.since, call.until,
                 len(modes), len(all_orders), len(all_events))
    return result


def _descending(text: str) -> tuple[int, ...]:
    """Return a sort key that orders ISO dates newest first."""
    return tuple(-ord(char) for char in text)


def _asset_name(asset: dict[str, Any], lang: str) -> str:
    return asset.get("tag") or asset.get(f"name_{lang}") or asset["name_en"]


def render_plant_failures(result: ToolResult, lang: str) -> str:
    """Write the plant-wide text: the scope in the first sentence, then the top failure modes and their assets."""
    facts = result.facts
    window = window_words(facts, lang)

    if not result.rows:
        latest = facts.get("latest")
        if lang == "zh":
            text = f"全厂{window}没有记录故障的工单或故障事件。"
            return text + (f"全厂最近一张故障工单的日期是 {latest}。" if latest else "")
        text = f"Across the plant, no work order or failure event{window} records a failure."
        return text + (f" The latest failure work order is dated {latest}." if latest else "")
    listed = []
    for row in result.rows:
        name = row.get(f"name_{lang}") or row["name_en"] or row["id"]
        count = len(row["work_orders"]) + len(row["events"])
        assets = row["assets"][:MAX_ASSETS_PER_MODE]
        if lang == "zh":
            hit = "、".join(f"{_asset_name(asset, 'zh')} {asset['count']} 次" for asset in assets)
            listed.append(f"{row['rank']}. {name}（{count} 次：{hit}）")
        else:
            hit = ", ".join(f"{_asset_name(asset, 'en')} ×{asset['count']}" for asset in assets)
            listed.append(f"{row['rank']}. {name} ({count}: {hit})")

    if lang == "zh":
        head = (f"全厂{window}共有 {facts['work_orders']} 张故障工单和 {facts['events']} 次故障事件，"
                f"涉及 {facts['assets']} 台设备。最常见的故障：")
        return head + "；".join(listed) + "。"
    orders = "work order" if facts["work_orders"] == 1 else "work orders"
    events = "failure event" if facts["events"] == 1 else "failure events"
    assets = "asset" if facts["assets"] == 1 else "assets"
    head = (f"Across the plant, {facts['work_orders']} failure {orders} and {facts['events']} {events}{window} "
            f"hit {facts['assets']} {assets}. The most frequent failure modes: ")
    return head + "; ".join(listed) + "."
