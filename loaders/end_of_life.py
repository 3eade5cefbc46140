"""End of life of run-to-failure assets: one FailureEvent at each asset's last sample.

In run-to-failure data, such as the C-MAPSS training engines, every asset runs until it fails,
so its last sample marks the failure. A telemetry mapping declares this with `end_of_life`;
`only_files` limits it to the files whose assets do run to failure. The C-MAPSS test files,
for example, stop some cycles before the failure. Each event is keyed by source and asset, so
loading a file again updates the same event instead of adding one.
"""

from __future__ import annotations

import fnmatch
import logging
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from kg_service.graph.records import GraphBatch, slug
from loaders.mapping import TelemetryMapping

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class LastSample:
    """The last sample of one asset in a file: the asset's graph key, its time and sequence number."""

    asset_key: str
    time: datetime | None
    sequence: int | None


def runs_to_failure(mapping: TelemetryMapping, path: Path) -> bool:
    """Return whether the mapping declares an end of life and `path`'s name matches `only_files`."""
    end_of_life = mapping.end_of_life
    if end_of_life is None:
        return False
    return any(fnmatch.fnmatchcase(path.name, pattern) or fnmatch.fnmatchcase(path.stem, pattern)
               for pattern in end_of_life.only_files)


def end_of_life_key(mapping: TelemetryMapping, asset: str) -> str:
    """Return the stable key of an asset's end-of-life FailureEvent."""
    return f"failure-event:{mapping.source}:{slug(asset)}:end-of-life"


def add_end_of_life(batch: GraphBatch, mapping: TelemetryMapping, path: Path,
                    last_samples: dict[str, LastSample]) -> int:
    """Add one FailureEvent per asset at its last sample when the file runs to failure; return the count.

    The event gets `startTime` and `sequence` from the last sample, `FOR_ASSET` to the asset and,
    when the mapping names one, `HAS_FAILURE_MODE` to the failure mode.
    """
    if not runs_to_failure(mapping, path):
        return 0
    end_of_life = mapping.end_of_life
    mode_key = None
    if end_of_life.failure_mode:
        mode_key = batch.add_node("FailureMode", f"failure-mode:{slug(end_of_life.failure_mode)}",
                                  name=end_of_life.failure_mode, nameEn=end_of_life.failure_mode,
                                  nameZh=end_of_life.failure_mode_zh)
    for asset, last in sorted(last_samples.items()):
        position = f"cycle {last.sequence}" if last.sequence is not None else (
            last.time.isoformat() if last.time is not None else "its last sample")
        mode_name = end_of_life.failure_mode or "failure"
        event = batch.add_node("FailureEvent", end_of_life_key(mapping, asset),
                               name=f"end of life ({mode_name}) of {asset} at {position}", startTime=last.time,
                               sequence=last.sequence, severity=end_of_life.severity, source=mapping.source)
        batch.add_relationship("FOR_ASSET", event, last.asset_key)
        if mode_key is not None:
            batch.add_relationship("HAS_FAILURE_MODE", event, mode_key)
    logger.info("%s: %d end-of-life failure events", path, len(last_samples))
    return len(last_samples)
