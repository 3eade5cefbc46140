"""Per-file signal summaries beside the stored samples, merged into the graph's Signal summaries.

Each load stores, with its Parquet parts, the statistics of the file's real samples by asset and
signal as `<source>/_summaries/<file stem slug>.json` (see `SampleWriter.stage_summary`). A long
file stores the carried-forward state of every signal after each time, so its parts cannot tell
real samples from carried ones, but its summary counts the recorded values only.

A Signal node is keyed by asset namespace, asset and signal, so several files of one source, and
several sources that share an `asset_namespace`, can write the same node. `stored_stats` returns
what all the other files contribute, so the loader can write the figures of all of them at once.
"""

from __future__ import annotations

import json
import logging
from datetime import datetime
from pathlib import Path

from kg_service.graph.records import slug
from loaders.mapping import TelemetryMapping
from loaders.signal_stats import SignalStats
from loaders.timeseries_store import SUMMARIES_FOLDER, SampleWriter, stored_signal_stats, stored_stems

logger = logging.getLogger(__name__)

SUMMARY_VERSION = 1


def file_summary(mapping: TelemetryMapping, stem: str,
                 stats: dict[tuple[str, str], SignalStats]) -> dict:
    """Return the JSON-ready summary of one file's own samples, by asset and signal."""
    entries = []
    for (asset, name), summary in sorted(stats.items()):
        if summary.count == 0:
            continue
        entries.append({"asset": asset, "signal": name, "count": summary.count, "mean": summary.mean,
                        "m2": summary.m2, "minimum": summary.minimum, "maximum": summary.maximum,
                        "first": _iso(summary.first), "last": _iso(summary.last)})
    return {"version": SUMMARY_VERSION, "source": mapping.source, "asset_namespace": mapping.assets,
            "recording": stem, "signals": entries}


def stored_stats(writer: SampleWriter, mapping: TelemetryMapping,
                 assets: set[str]) -> dict[tuple[str, str], SignalStats]:
    """Return the statistics that every stored file except `writer`'s adds to the Signals of `assets`.

    Other files of the source count through their summaries. A file stored before summaries
    existed is read from its parts instead, which for a long file counts carried-forward states.
    Files of other sources count when their summary names the same asset namespace and the same
    asset and signal slugs, because they write the same Signal nodes.
    """
    targets = {(slug(asset), slug(name)): (asset, name) for asset in assets for name in writer.signals}
    result: dict[tuple[str, str], SignalStats] = {}
    if not targets:
        return result

    own = slug(writer.stem)
    legacy: set[str] = set()
    for stem in sorted(stored_stems(writer.root) - {own}):
        summary = _read_summary(writer.root / SUMMARIES_FOLDER / f"{stem}.json")
        if summary is None:
            legacy.add(stem)
            continue
        _merge_entries(result, summary, targets)
    if legacy:
        # NOTE: parts cannot tell a long file's recorded values from carried-forward states, so a long file
        # loaded before summaries were stored counts both until it is loaded again.
        logger.info("%s: no stored summary for %d file(s) (%s), so their samples are read instead", writer.root,
                    len(legacy), ", ".join(sorted(legacy)[:5]))
        parts = stored_signal_stats(writer.root, legacy, writer.partition_assets, writer.signals, assets)
        for key, summary in parts.items():
            result.setdefault(key, SignalStats()).merge(summary)

    for summary in _namespace_summaries(writer.root, mapping.assets):
        _merge_entries(result, summary, targets)
    return result


def namespace_assets(root: Path, namespace: str) -> set[str]:
    """Return the slugs of the assets that other sources with the asset namespace `namespace` have samples of."""
    return {slug(entry["asset"]) for summary in _namespace_summaries(root, namespace)
            for entry in summary["signals"]}


def _namespace_summaries(root: Path, namespace: str) -> list[dict]:
    """Return the stored summaries of the other sources beside `root` whose asset namespace is `namespace`.

    A summary counts only while its file still has parts. Sources loaded before summaries were
    stored have none, so they are not found here.
    """
    found = []
    parent = Path(root).parent
    if not parent.is_dir():
        return found
    for folder in sorted(parent.iterdir()):
        if folder == Path(root) or not (folder / SUMMARIES_FOLDER).is_dir():
            continue
        stems = stored_stems(folder)
        for path in sorted((folder / SUMMARIES_FOLDER).glob("*.json")):
            summary = _read_summary(path)
            if summary is not None and summary["asset_namespace"] == namespace and path.stem in stems:
                found.append(summary)
    return found


def _merge_entries(result: dict[tuple[str, str], SignalStats], summary: dict,
                   targets: dict[tuple[str, str], tuple[str, str]]) -> None:
    for entry in summary["signals"]:
        key = targets.get((slug(entry["asset"]), slug(entry["signal"])))
        if key is None:
            continue
        part = SignalStats(int(entry["count"]), float(entry["mean"]), float(entry["m2"]), float(entry["minimum"]),
                           float(entry["maximum"]), _time(entry["first"]), _time(entry["last"]))
        result.setdefault(key, SignalStats()).merge(part)


def _read_summary(path: Path) -> dict | None:
    """Return a stored summary, or None when it is missing or unreadable (then the caller reads the parts)."""
    if not path.is_file():
        return None
    try:
        summary = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as error:
        logger.warning("%s: unreadable signal summary (%s), so the file's samples are read instead", path, error)
        return None
    if not isinstance(summary, dict) or summary.get("version") != SUMMARY_VERSION:
        logger.warning("%s: signal summary of an unknown version, so the file's samples are read instead", path)
        return None
    return summary


def _iso(value: datetime | None) -> str | None:
    return None if value is None else value.isoformat()


def _time(value: str | None) -> datetime | None:
    return None if value is None else datetime.fromisoformat(value)
