"""Answer texts in English and Chinese, written from a tool result and citing the graph keys used."""

from __future__ import annotations

import re
from datetime import date
from typing import Any

from kg_service.ask.entities import EntityIndex, has_cjk
from kg_service.ask.execute import ToolResult
from kg_service.ask.kinds import EquipmentKind, resolve_kind
from kg_service.ask.parts import render_parts
from kg_service.ask.plant import render_plant_failures
from kg_service.ask.targets import choice_note
from kg_service.ask.places import places
from kg_service.ask.timespans import find_time_window, window_words
from kg_service.ask.tools import ToolCall
from kg_service.errors import NotFoundError

MAX_LISTED = 5
# Names per kind of subject in the answer to a question without one.
MAX_EXAMPLES = 3
MAX_SUGGESTIONS = 5


def _name(entity: dict[str, Any] | None, lang: str, with_tag: bool = True) -> str:
    if not entity:
        return "?"
    # A name keeps its own final period ("Wuxi Bearing Co."); `_end_sentences` drops a second one after it.
    name = entity["name"].get(lang) or entity["name"].get("en") or entity["id"]
    tag = entity.get("tag")
    # A Chinese name built from an English one and a class label ("Casing Gasket（部件）") already shows the tag.
    if not with_tag or not tag or tag == name or name.startswith(f"{tag}（"):
        return name
    return f"{name}（{tag}）" if lang == "zh" else f"{name} ({tag})"


def _row_name(row: dict[str, Any], lang: str) -> str:
    return row.get(f"name_{lang}") or row.get("name_en") or row["id"]


def _cause_names(rows: list[dict[str, Any]], lang: str) -> dict[str, str]:
    """Return each cause's name in `lang`, with its equipment's tag where causes share a name.

    Two pumps each have a "Mechanical Seal", so the list reads "Mechanical Seal (P-101)" and
    "Mechanical Seal (P-102)". In Chinese, causes that share an English name share one name as
    well: the Chinese name when the graph records a single one for them, else the English name.
    Where the graph records no Chinese name for any of them, each keeps its English name with
    its class ("Casing Gasket（部件）", "Casing Gasket（零件）").
    """
    groups: dict[str, list[dict[str, Any]]] = {}
    for row in rows:
        groups.setdefault(_row_name(row, "en").lower(), []).append(row)
    names = {}
    for group in groups.values():
        if len(group) == 1:
            names[group[0]["id"]] = _row_name(group[0], lang)
            continue
        chinese = {row["name_zh"] for row in group if _has_chinese_name(row)}
        for row in group:
            name = _row_name(row, lang)
            if lang == "zh" and chinese:
                name = next(iter(chinese)) if len(chinese) == 1 else _row_name(row, "en")
            equipment = row.get("equipment")
            if equipment:
                owner = equipment.get("tag") or _name(equipment, lang, with_tag=False)
                name = f"{name}（{owner}）" if lang == "zh" else f"{name} ({owner})"
            names[row["id"]] = name
    return names


def _has_chinese_name(row: dict[str, Any]) -> bool:
    """Return whether a row's Chinese name is one the graph records, not the English name with a class label."""
    chinese, english = row.get("name_zh"), row.get("name_en")
    return bool(chinese) and chinese != english and not (english and chinese.startswith(f"{english}（"))


def _shared_name(rows: list[dict[str, Any]], lang: str) -> str:
    """Return the name that rows sharing an English name share in `lang`, or the English name where theirs differ."""
    names = {_row_name(row, lang) for row in rows}
    return names.pop() if len(names) == 1 else _row_name(rows[0], "en")


def _join(items: list[str], lang: str) -> str:
    return ("；" if lang == "zh" else "; ").join(items)


def _in_place(asset: str | None, place: dict[str, Any] | None, lang: str) -> str | None:
    """Return the asset's name with the place it was asked about ("AC-3 in Line 1"), when both are known."""
    if asset is None or not place:
        return asset
    place_name = _name(place, lang, with_tag=False)
    return f"{place_name}的{asset}" if lang == "zh" else f"{asset} in {place_name}"


def _subject(facts: dict[str, Any], lang: str) -> str | None:
    """Return what a cause or history answer is about: an asset, an asset in a place, or a kind in a place."""
    asset = _name(facts["asset"], lang) if facts.get("asset") else None
    kind = facts.get("kind")
    if not kind:
        return _in_place(asset, facts.get("place"), lang)
    plural = kind["name"][lang]
    if not facts.get("asset"):
        return plural
    place = _name(facts["asset"], lang, with_tag=False)
    if lang == "zh":
        return f"{place}的{plural}"
    return f"{plural} {'on' if kind['on_line'] else 'in'} {place}"


def _capitalized(text: str) -> str:
    """Return `text` with an upper-case first letter, for a kind ("pumps") that starts a sentence."""
    return text[:1].upper() + text[1:]


def _kind_note(facts: dict[str, Any], lang: str) -> str:
    """Write which assets of the kind the answer covers ("" without a kind)."""
    if not facts.get("kind"):
        return ""
    assets = [_name(asset, lang) for asset in facts["kind_assets"][:MAX_LISTED]]
    more = len(facts["kind_assets"]) - len(assets)
    plural = facts["kind"]["name"][lang]
    if lang == "zh":
        return f"涉及的{plural}：{'、'.join(assets)}" + (f" 等 {len(facts['kind_assets'])} 台" if more > 0 else "") + "。"
    return (f" {_capitalized(plural)} covered: {', '.join(assets)}"
            + (f" and {more} more" if more > 0 else "") + ".")


def _latest_note(facts: dict[str, Any], lang: str) -> str:
    """Write the date of the newest work order when the date window contains none ("" otherwise).

    A sample or an old export ends long before today, so "last month" finds nothing in it.
    """
    latest = facts.get("latest")
    if not latest:
        return ""
    if lang == "zh":
        return f"{_subject(facts, 'zh') or '这些设备'}最近的工单日期是 {latest}。"
    return f" The latest work order of {_definite_subject(facts) or 'these assets'} is dated {latest}."


def _definite_subject(facts: dict[str, Any]) -> str | None:
    """Return the English subject with "the" before a kind ("the pumps on Line 1"), for use inside a sentence."""
    subject = _subject(facts, "en")
    return f"the {subject}" if subject and facts.get("kind") else subject


def render(result: ToolResult, lang: str) -> str:
    """Write the answer to a question from the result of its tool call, in `lang` ("en" or "zh")."""
    return render_all([result], lang)


def render_all(results: list[ToolResult], lang: str) -> str:
    """Write one answer from the results of several tool calls, one paragraph each, with one list of sources.

    A question with two subjects ("Why did AC-3 and the pumps fail?") is answered by one call per subject.
    """
    renderers = {"root_causes": _root_causes, "failure_history": _history, "rank_suppliers": _suppliers,
                 "design_constraints": _design, "parts": render_parts, "plant_failures": render_plant_failures,
                 "lookup": _lookup}
    paragraphs = []
    for result in results:
        text = renderers[result.tool](result, lang)
        if result.tool in ("root_causes", "failure_history"):
            text += _latest_note(result.facts, lang) + _kind_note(result.facts, lang)
        paragraphs.append(text)
    text = _end_sentences("\n".join(paragraphs))
    citations = list(dict.fromkeys(item.id for result in results for item in result.citations))
    keys = ", ".join(citations[:12])
    more = len(citations) - 12
    if lang == "zh":
        sources = f"依据：{keys}" + (f"（+{more}）" if more > 0 else "")
    else:
        sources = f"Sources: {keys}" + (f" (+{more})" if more > 0 else "")
    return f"{text}\n{sources}" if keys else text


def _end_sentences(text: str) -> str:
    """Drop the full stop of a sentence that ends with a name ending in its own period ("INC.." -> "INC.")."""
    return re.sub(r"(?<=\w)\.\.(?=\s|$)", ".", text)


def _count(number: int, noun: str) -> str:
    """Return "1 work order" or "3 work orders"."""
    return f"{number} {noun}" if number == 1 else f"{number} {noun}s"


def _root_causes(result: ToolResult, lang: str) -> str:
    facts = result.facts
    window = window_words(facts, lang)
    if lang == "zh" and window:
        window += "，"
    records = "records" if facts["target_work_orders"] == 1 else "record"
    asset = _subject(facts, lang)
    condition = _name(facts["condition"], lang, with_tag=False) if facts["condition"] else None
    count = facts["target_work_orders"]
    names = _cause_names(result.rows, lang)
    if condition is None and not result.rows and asset:
        return _no_failure_recorded(facts, lang)
    if facts["condition_chosen"] and facts.get("condition_ties"):
        return _tied_modes(result, lang, names)
    # A mode picked as the most frequent among the window's events is explained by its event count.
    by_events = facts.get("condition_counted") == "window events"
    if lang == "zh":
        causes = _join([f"{row['rank']}. {names[row['id']]}（得分 {row['score']:.2f}，"
                        f"{len(row['work_orders'])} 张证据工单）" for row in result.rows[:MAX_LISTED]], "zh")
        if facts["condition_chosen"] and by_events:
            events = f"（{window}{facts['condition_events']} 次故障事件）" if "condition_events" in facts else ""
            head = f"{asset}的故障事件最常记录{condition}{events}。"
            return head + (f"可能原因：{causes}。" if result.rows else "图谱中没有足以排出原因的证据。")
        if facts["condition_chosen"]:
            head = f"{asset}最常见的故障是{condition}（{window}{count} 张工单记录）。"
            return head + (f"可能原因：{causes}。" if result.rows else "图谱中没有足以排出原因的证据。")
        subject = f"{asset or ''}{condition or '故障'}"
        if not result.rows:
            return f"{subject}：图谱中没有足以排出原因的证据（{window}{count} 张工单记录了该故障）。"
        return f"{subject}的可能原因（{window}{count} 张工单记录了该故障）：{causes}。"

    causes = _join([f"{row['rank']}. {names[row['id']]} (score {row['score']:.2f}, "
                    f"{_count(len(row['work_orders']), 'evidence work order')})" for row in result.rows[:MAX_LISTED]],
                   "en")
    if facts["condition_chosen"] and by_events:
        events = f" ({_count(facts['condition_events'], 'failure event')})" if "condition_events" in facts else ""
        head = f"The failure events of {_definite_subject(facts)}{window} record {condition} most often{events}. "
        return head + (f"Likely causes: {causes}." if result.rows else "The graph has no evidence to rank causes.")
    if facts["condition_chosen"]:
        fails = "fail" if facts.get("kind") else "fails"
        head = f"{_capitalized(asset)} most often {fails} with {condition} ({_count(count, 'work order')}{window} {records} it). "
        return head + (f"Likely causes: {causes}." if result.rows else "The graph has no evidence to rank causes.")
    subject = (condition or "failures") + (f" on {asset}" if asset else "")
    if not result.rows:
        return (f"The graph has no evidence to rank causes of {subject} ({_count(count, 'work order')}{window} "
                f"{records} it).")
    return f"Likely causes of {subject} ({_count(count, 'work order')}{window} {records} it): {causes}."


def _no_failure_recorded(facts: dict[str, Any], lang: str) -> str:
    """Write the answer when no work order of the subject (in the window) records a failure mode.

    An asset, a place and a kind of equipment read alike here, and `_latest_note` adds the newest date.
    """
    window = window_words(facts, lang)
    if lang == "zh":
        return f"{window}{'，' if window else ''}{_subject(facts, 'zh')}的工单都没有记录故障，图谱中没有足以排出原因的证据。"
    return (f"No work order of {_definite_subject(facts)}{window} records a failure, so the graph has no evidence "
            "to rank causes.")


def _listed(names: list[str], lang: str) -> str:
    """Join names as "A, B and C" in English and "A、B和C" in Chinese."""
    if len(names) == 1:
        return names[0]
    if lang == "zh":
        return f"{'、'.join(names[:-1])}和{names[-1]}"
    return f"{', '.join(names[:-1])} and {names[-1]}"


def _tied_modes(result: ToolResult, lang: str, names: dict[str, str]) -> str:
    """Write the answer when several failure modes tie for the most frequent one.

    The ranking explains the first mode in tie-break order (newest work order or event, then key),
    so the answer says which modes tie and which one the causes are for, and how to ask about the others.
    """
    facts = result.facts
    window = window_words(facts, lang)
    count = facts["target_work_orders"]
    asset = _subject(facts, lang)
    chosen = _name(facts["condition"], lang, with_tag=False)
    others = [_name(mode, lang, with_tag=False) for mode in facts["condition_ties"]]
    tied = _listed([chosen, *others], lang)
    by_events = facts.get("condition_counted") == "window events"
    if lang == "zh":
        causes = _join([f"{row['rank']}. {names[row['id']]}（得分 {row['score']:.2f}，"
                        f"{len(row['work_orders'])} 张证据工单）" for row in result.rows[:MAX_LISTED]], "zh")
        if by_events:
            head = f"{window}{'，' if window else ''}{asset}的故障事件记录{tied}的次数相同。"
        else:
            head = f"{asset}最常见的故障有{tied}，次数相同（{window}{'，' if window else ''}各 {count} 张工单记录）。"
        body = f"以下是{chosen}的可能原因：{causes}。" if result.rows else f"图谱中没有足以排出{chosen}原因的证据。"
        return f"{head}{body}要查看{_listed(others, 'zh')}的原因，请在问题中指明该故障。"

    causes = _join([f"{row['rank']}. {names[row['id']]} (score {row['score']:.2f}, "
                    f"{_count(len(row['work_orders']), 'evidence work order')})" for row in result.rows[:MAX_LISTED]],
                   "en")
    if by_events:
        head = f"The failure events of {_definite_subject(facts)}{window} record {tied} equally often."
    else:
        head = (f"{tied} are recorded equally often for {_definite_subject(facts)} "
                f"({_count(count, 'work order')} each{window}).")
    if result.rows:
        body = f" Likely causes of {chosen}: {causes}."
    else:
        body = f" The graph has no evidence to rank causes of {chosen}."
    return f"{head}{body} Ask about {_listed(others, 'en')} by name for {'its' if len(others) == 1 else 'their'} causes."


def _history(result: ToolResult, lang: str) -> str:
    facts = result.facts
    window = window_words(facts, lang)
    asset = _subject(facts, lang)
    orders = []
    for row in result.rows[:MAX_LISTED]:
        names = [mode[lang] or mode["en"] for mode in row["failure_modes"] if mode["en"] or mode[lang]]
        modes = f"（{'、'.join(names)}）" if lang == "zh" else f" ({', '.join(names)})"
        orders.append(f"{row['date']} {row['id'].rsplit(':', 1)[-1]}" + (modes if names else ""))
    if lang == "zh":
        kind = "故障工单" if facts["failures_only"] else "工单"
        if not result.rows:
            return f"{asset}{window}没有{kind}。"
        return f"{asset}{window}共有 {facts['total']} 张{kind}，最近的：{_join(orders, 'zh')}。"
    kind = "failure work order" if facts["failures_only"] else "work order"
    has = "have" if facts.get("kind") else "has"
    if not result.rows:
        return f"{_capitalized(asset)} {has} no {kind}s{window}."
    return f"{_capitalized(asset)} {has} {_count(facts['total'], kind)}{window}; the latest: {_join(orders, 'en')}."


def _suppliers(result: ToolResult, lang: str) -> str:
    if result.facts.get("part_class"):
        return _part_class_suppliers(result, lang)
    return (_supplier_ranking(result, lang) + _place_note(result.facts, lang) + _dropped_criteria_note(result.facts, lang)
            + _excluded_suppliers_note(result.facts, lang))


def _dropped_criteria_note(facts: dict[str, Any], lang: str) -> str:
    """Write which default KPIs the ranking left out and why, one group of KPIs per reason."""
    groups: dict[tuple, list[str]] = {}
    for item in facts.get("dropped_criteria", []):
        groups.setdefault((item["reason"], item["missing"], item["total"]), []).append(item["kpi"])
    notes = []
    for (reason, missing, total), kpis in groups.items():
        names = ", ".join(kpis)
        if reason == "unknown":
            notes.append(f"{names}（{total} 家供应商中有 {missing} 家未知）" if lang == "zh"
                         else f"{names} (unknown for {missing} of {total} suppliers)")
        else:
            notes.append(f"{names}（参与排序的供应商取值相同）" if lang == "zh"
                         else f"{names} (the same for every ranked supplier)")
    if not notes:
        return ""
    if lang == "zh":
        return f"未使用的准则：{'；'.join(notes)}。"
    return f" KPIs left out: {'; '.join(notes)}."


def _excluded_suppliers_note(facts: dict[str, Any], lang: str) -> str:
    """Write which suppliers the ranking excluded, one group per set of KPIs they lack, most KPIs first."""
    groups: dict[str, list[str]] = {}
    for item in facts.get("excluded", []):
        unknown = ", ".join(item.get("unknown") or []) or "; ".join(item["reasons"])
        groups.setdefault(unknown, []).append(_row_name(item, lang))
    notes = []
    for unknown, names in sorted(groups.items(), key=lambda group: -group[0].count(",")):
        listed = names[:MAX_LISTED]
        more = len(names) - len(listed)
        if lang == "zh":
            rest = f"等 {len(names)} 家" if more else ""
            notes.append(f"缺少 {unknown}：{'、'.join(listed)}{rest}")
        else:
            rest = f" and {more} more" if more else ""
            notes.append(f"no value for {unknown}: {', '.join(listed)}{rest}")
    if not notes:
        return ""
    if lang == "zh":
        return f"未参与排序的供应商（缺少所用准则的数据）：{'；'.join(notes)}。"
    return f" Excluded for lacking a KPI used ({len(facts['excluded'])} suppliers): {'; '.join(notes)}."


def _part_class_suppliers(result: ToolResult, lang: str) -> str:
    """Write the suppliers of a class of parts ("bearings"), of those used by a kind of equipment when named."""
    facts = result.facts
    part_class = facts["part_class"]
    plural = part_class["name"][lang]
    kind = facts.get("kind")
    assets = _listed([_name(asset, lang) for asset in facts["kind_assets"][:MAX_LISTED]], lang) if kind else ""
    suppliers = [f"{_row_name(row, lang)}（{'、'.join(_name(part, lang) for part in facts['supplied_parts'][row['id']])}）"
                 if lang == "zh" else
                 f"{_row_name(row, lang)} ({', '.join(_name(part, lang) for part in facts['supplied_parts'][row['id']])})"
                 for row in result.rows]
    if lang == "zh":
        scope = f"{kind['name']['zh']}（{assets}）使用的" if kind else ""
        understood = f"问题问的是{scope}{plural}（零件类别 {part_class['label']}）的供应商。"
        if suppliers:
            return f"{scope}{plural}的供应商：{_join(suppliers, 'zh')}。"
        if kind and facts["class_parts"] and not facts["parts"]:
            return f"{understood}图谱中没有记录{kind['name']['zh']}使用的{plural}，因此也没有记录其供应商。"
        parts = "、".join(_name(part, "zh") for part in facts["parts"][:MAX_LISTED])
        return f"{understood}图谱中没有记录这些{plural}的供应商" + (f"（{parts}）。" if parts else "。")
    scope = f" used by the {kind['name']['en']} ({assets})" if kind else ""
    understood = f"The question asks for the suppliers of {plural} (part class {part_class['label']}){scope}."
    if suppliers:
        return f"Suppliers of {plural}{scope}: {_join(suppliers, 'en')}."
    if kind and facts["class_parts"] and not facts["parts"]:
        return (f"{understood} The graph records no {plural} used by the {kind['name']['en']}, so it records no "
                "supplier for them either.")
    parts = ", ".join(_name(part, "en") for part in facts["parts"][:MAX_LISTED])
    return f"{understood} The graph records no supplier of these {plural}" + (f" ({parts})." if parts else ".")


def _place_note(facts: dict[str, Any], lang: str) -> str:
    """Write how the place of a supplier question narrowed the parts."""
    if not facts.get("place"):
        return ""
    place = _name(facts["place"], lang, with_tag=False)
    parts = ", ".join(_name(part, lang) for part in facts["parts"])
    if facts.get("place_unrecorded"):
        if lang == "zh":
            return f"图谱没有记录{parts}安装在哪里，所以{place}无法缩小零件范围。"
        return f" The graph does not record where {parts} is installed, so {place} does not narrow the parts."
    if lang == "zh":
        return f"只计入安装在{place}的零件：{parts}。"
    return f" Only parts installed in {place} count: {parts}."


def _supplier_ranking(result: ToolResult, lang: str) -> str:
    facts = result.facts
    parts = ", ".join(_name(part, lang) for part in facts["parts"])
    if facts.get("unsupplied"):
        if lang == "zh":
            return f"图谱中没有记录{parts}的供应商。要查看所有供应商的排名，请问：哪些供应商最好？"
        return (f"The graph records no supplier of {parts}. To rank every supplier, ask: "
                "Which suppliers are best?")
    if facts["single"] and not parts and facts.get("category"):
        only = _row_name(result.rows[0], lang) if result.rows else "?"
        if lang == "zh":
            return f"{facts['category']} 类零件只有一家供应商：{only}，无法排序。"
        return f"Category {facts['category']} has a single supplier, {only}, so there is nothing to rank."
    if facts["single"]:
        only = _row_name(result.rows[0], lang) if result.rows else "?"
        if lang == "zh":
            return f"{parts}只有一家供应商：{only}，无法排序。要比较替代供应商，请问：哪些供应商可以替代{parts}的供应商？"
        return (f"{parts} has a single supplier, {only}, so there is nothing to rank. For alternatives, ask: "
                f"Which suppliers can replace the supplier of {parts}?")
    current = [row for row in result.rows if row["current"]]
    others = [row for row in result.rows if not row["current"]] if facts["replace_current"] else result.rows
    listed = [f"{index}. {_row_name(row, lang)}（{row['score']:.2f}）" if lang == "zh"
              else f"{index}. {_row_name(row, lang)} ({row['score']:.2f})" for index, row in enumerate(others[:MAX_LISTED], 1)]
    criteria = ", ".join(facts["criteria"])
    if lang == "zh":
        if facts["replace_current"]:
            now = "、".join(_row_name(row, "zh") for row in current) or "（图谱中无）"
            if not others:
                return f"{parts}目前由{now}供货，图谱中没有其他可替代的供应商。"
            return (f"{parts}目前由{now}供货。按 {facts['method']}（准则：{criteria}）排序的替代供应商："
                    f"{_join(listed, 'zh')}。")
        scope = f"{parts}的" if parts else ""
        if facts.get("category"):
            scope = f"{scope}{facts['category']} 类"
        return f"按 {facts['method']}（准则：{criteria}）排序的{scope}供应商：{_join(listed, 'zh')}。"
    if facts["replace_current"]:
        now = ", ".join(_row_name(row, "en") for row in current) or "(none in the graph)"
        if not others:
            return f"{parts} is supplied by {now}; the graph has no other supplier to replace it."
        return (f"{parts} is supplied by {now}. Alternatives ranked by {facts['method']} on {criteria}: "
                f"{_join(listed, 'en')}.")
    scope = f" of {parts}" if parts else ""
    if facts.get("category"):
        scope = f"{scope} in category {facts['category']}"
    return f"Suppliers{scope} ranked by {facts['method']} on {criteria}: {_join(listed, 'en')}."


def _design(result: ToolResult, lang: str) -> str:
    target = _name(result.facts["target"], lang)
    return choice_note(result.facts.get("chosen"), target, "design constraints apply to products, designs, parts "
                       "and components", "设计约束只适用于产品、设计、零件和部件", lang) + _constraints(result, lang)


def _constraints(result: ToolResult, lang: str) -> str:
    target = _name(result.facts["target"], lang)
    labels = [row[f"label_{lang}"] or row["label_en"] for row in result.rows]
    unique = list(dict.fromkeys(labels))
    if lang == "zh":
        if not unique:
            return f"{target}及其物料清单没有设计约束。"
        return f"{target}及其物料清单（{result.facts['items']} 项）适用 {len(result.rows)} 条约束：{_join(unique[:8], 'zh')}。"
    if not unique:
        return f"No design constraint applies to {target} or its bill of materials."
    return (f"{len(result.rows)} constraints apply to {target} and its bill of materials "
            f"({result.facts['items']} items): {_join(unique[:8], 'en')}.")


def unknown_tags_text(unknown: list[str], covered: list[str], lang: str) -> str:
    """Write that joined tags name no entity and which subjects the answer covers instead."""
    if lang == "zh":
        return f"图谱中没有 {_listed(unknown, 'zh')}，以下只回答 {_listed(covered, 'zh')}。"
    verb = "is" if len(unknown) == 1 else "are"
    return f"{_listed(unknown, 'en')} {verb} not in the graph, so the answer covers {_listed(covered, 'en')} only."


def _lookup(result: ToolResult, lang: str) -> str:
    """Write the entities found. Entities that share a name carry their equipment's tag ("Mechanical Seal (P-101)")."""
    listed_rows = result.rows[:MAX_LISTED]
    names = _cause_names(listed_rows, lang)
    found = []
    for row in listed_rows:
        classes = "/".join(row["classes"][:2])
        found.append(f"{names[row['id']]} [{classes}] {row['id']}")
    count = len(result.rows)
    shared = count > 1 and len({_row_name(row, "en").lower() for row in result.rows}) == 1
    if lang == "zh":
        if not found:
            return "没有找到匹配的实体。"
        if shared:
            return f"有 {count} 个实体名为{_shared_name(result.rows, 'zh')}：{_join(found, 'zh')}。"
        return f"找到 {count} 个实体：{_join(found, 'zh')}。"
    if not found:
        return "No entity matches."
    if shared:
        return f"{count} entities are named {_row_name(result.rows[0], 'en')}: {_join(found, 'en')}."
    noun = "entity" if count == 1 else "entities"
    return f"Found {count} {noun}: {_join(found, 'en')}."


def _window_phrase(question: str, lang: str, today: date | None) -> str:
    """Return the question's time expression ("in 2024", "去年") when it is in `lang`, else ""."""
    window = find_time_window(question, today) if today is not None else None
    if window is None or has_cjk(window.phrase) != (lang == "zh"):
        return ""
    return window.phrase


def _call_kind(index: EntityIndex, call: ToolCall | None) -> EquipmentKind | None:
    """Return the kind of equipment of a call when it names a known kind that some equipment of the graph is of."""
    reference = getattr(call, "equipment_kind", None)
    if reference is None:
        return None
    try:
        kind = resolve_kind(index.kinds, reference)
    except NotFoundError:
        return None
    equipment = [entity for entity in index.entities if "Equipment" in entity.labels]
    return kind if any(kind.includes(entity.labels, entity.properties) for entity in equipment) else None


def _kind_suggestions(kind: EquipmentKind, window: str, lang: str) -> list[str]:
    plural = kind.plural(lang)
    if lang == "zh":
        return [f"{window}{plural}为什么故障？", f"{window}哪些{plural}出过故障？"]
    suffix = f" {window}" if window else ""
    return [f"Why did the {plural} fail{suffix}?", f"Which {plural} failed{suffix}?"]


def suggestions(question: str, index: EntityIndex, lang: str, call: ToolCall | None = None,
                today: date | None = None) -> list[str]:
    """Return questions close to `question` that the service can answer, built from the entities it names.

    After a failed call, the suggestions keep the call's kind of equipment and the question's
    time expression (counted from `today`) where there are ones.
    """
    window = _window_phrase(question, lang, today)
    kind = _call_kind(index, call)
    items = _kind_suggestions(kind, window, lang) if kind is not None else []
    named = [entity for mention in index.mentions(question) for entity in mention.entities]
    asset = next((entity for entity in named if entity.has_class(["Equipment", "ProductionLine"])), None)
    part = next((entity for entity in named if entity.has_class(["Part"])), None)
    product = next((entity for entity in named if entity.has_class(["Product", "Design"])), None)
    # An unknown asset of a failed call ("AC-99") is replaced by a known one with a similar tag ("AC-1").
    reference = getattr(call, "asset", None)
    if asset is None and reference and kind is None:
        similar = index.similar_tags(reference, ["Equipment"])
        asset = similar[0] if similar else None
    # Otherwise the suggestions name the graph's first piece of equipment (of the kind).
    if asset is None:
        asset = next((entity for entity in index.entities if "Equipment" in entity.labels
                      and (kind is None or kind.includes(entity.labels, entity.properties))), None)
    if asset is not None:
        asset_name = asset.label(lang)
    else:
        asset_name = "该设备" if lang == "zh" else "the asset"
    if lang == "zh":
        items.append(f"为什么{asset_name}{window}停机？")
        items.append(f"{asset_name}{window}的维修记录")
        if part:
            items.append(f"哪些供应商可以替代{part.label('zh')}的供应商？")
        if product:
            items.append(f"{product.label('zh')}有哪些设计约束？")
        items.append(f"{asset_name}是什么设备？")
    else:
        suffix = f" {window}" if window else ""
        items.append(f"Why did {asset_name} fail{suffix}?" if window else f"Why does {asset_name} fail?")
        items.append(f"Show the work-order history of {asset_name}{suffix}")
        if part:
            items.append(f"Which suppliers can replace the supplier of {part.label('en')}?")
        if product:
            items.append(f"What design constraints apply to {product.label('en')}?")
        items.append(f"What is {asset_name}?")
    # The question itself failed, so it is no suggestion.
    failed_question = _normalized(question)
    return [item for item in items if _normalized(item) != failed_question][:MAX_SUGGESTIONS]


def _normalized(question: str) -> str:
    return re.sub(r"[\s?？。.!！]+", " ", question.lower()).strip()


def subject_examples(index: EntityIndex, lang: str) -> dict[str, list[str]]:
    """Return names from the graph that a question may use as its subject: equipment tags, places and kinds."""
    equipment = [entity for entity in index.entities if "Equipment" in entity.labels]
    tags = [str(entity.properties.get("name") or entity.label(lang)) for entity in equipment[:MAX_EXAMPLES]]
    place_names = [entity.label(lang) for entity in places(index)[:MAX_EXAMPLES - 1]]
    # Only kinds with some equipment in the graph, so that each example gives an answer.
    kinds = [kind.plural(lang) for kind in index.kinds
             if any(kind.includes(entity.labels, entity.properties) for entity in equipment)]
    return {"tags": tags, "places": place_names, "kinds": kinds[:MAX_EXAMPLES - 1]}


def subject_needed_text(lang: str, examples: dict[str, list[str]]) -> str:
    """Write the answer to a question about failures or maintenance that names no asset, place or kind."""
    if lang == "zh":
        options = [f"设备位号（如{'、'.join(examples['tags'])}）" if examples["tags"] else "设备位号",
                   f"产线或车间（如{'、'.join(examples['places'])}）" if examples["places"] else "产线或车间"]
        if examples["kinds"]:
            options.append(f"设备类型（如{'、'.join(examples['kinds'])}）")
        return (f"这个问题询问故障或维修，但没有指明设备、产线或设备类型，因此无法确定要查哪些工单。"
                f"请在问题中指明{'、'.join(options[:-1])}或{options[-1]}。")
    options = [f"an asset tag (such as {', '.join(examples['tags'])})" if examples["tags"] else "an asset tag",
               f"a production line or area (such as {', '.join(examples['places'])})" if examples["places"]
               else "a production line or area"]
    if examples["kinds"]:
        options.append(f"a kind of equipment (such as {', '.join(examples['kinds'])})")
    return ("This question asks about failures or maintenance but names no asset, place or kind of equipment, so "
            f"it does not say which work orders to read. Name {', '.join(options[:-1])} or {options[-1]}.")


def subject_suggestions(examples: dict[str, list[str]], lang: str) -> list[str]:
    """Return questions that name a subject, built from `subject_examples`."""
    items = []
    if lang == "zh":
        items += [f"{examples['places'][0]}有哪些故障？"] if examples["places"] else []
        items += [f"{examples['tags'][0]}的维修记录"] if examples["tags"] else []
        items += [f"哪些{examples['kinds'][0]}出过故障？"] if examples["kinds"] else []
        return items
    items += [f"What failed on {examples['places'][0]}?"] if examples["places"] else []
    items += [f"Show the work-order history of {examples['tags'][0]}"] if examples["tags"] else []
    items += [f"Which {examples['kinds'][0]} failed?"] if examples["kinds"] else []
    return items


def unmappable_text(lang: str, reason: str | None, closest: list[str], note: str = "") -> str:
    """Write the answer for a question that maps onto no query, with `note` and the closest questions that do.

    `reason` is the mapper's own reason. It is not shown, because a model writes it for itself
    ("not about the failure mode") in words that a user cannot act on; `AskAnswer.arguments` keeps it.
    """
    del reason
    listed = _join(closest, lang)
    if lang == "zh":
        return (f"无法把这个问题对应到可执行的查询。我能回答根本原因、维修历史、全厂故障、供应商排序、设计约束、零部件和实体查找。"
                f"{note}相近的问题：{listed}")
    return (f"I cannot map this question onto a query I can run. I answer root causes, failure history, "
            f"plant-wide failures, supplier ranking, design constraints, parts and entity lookups.{note} Closest questions: {listed}")


def error_text(lang: str, message: str | None, english: str) -> str:
    """Write the answer when the mapped query cannot run, for example because an entity is unknown.

    `message` is the reason in `lang`, or None when only the English reason `english` exists.
    """
    if lang == "zh":
        if message is None:
            # NOTE: errors raised below the ask package (the reasoning queries) have English messages only.
            return f"问题已对应到查询，但无法执行。查询给出的原因（英文）：{english}"
        return f"问题已对应到查询，但无法执行：{message}"
    return f"The question maps onto a query, but it cannot run: {message or english}"


def unknown_kind_text(word: str, kinds: list[EquipmentKind], lang: str) -> str:
    """Write the sentence that lists the known kinds after a question named an equipment word that is no kind."""
    if lang == "zh":
        if not kinds:
            return f"“{word}”不是设备类型：本体中没有 Equipment 的子类。"
        return f"“{word}”不是本体中的设备类型；已知的设备类型：{'、'.join(kind.plural('zh') for kind in kinds)}。"
    if not kinds:
        return f" '{word}' is not a kind of equipment: the ontology defines no subclass of Equipment."
    return (f" '{word}' is not a kind of equipment in the ontology; the known kinds are "
            f"{', '.join(kind.plural('en') for kind in kinds)}.")
