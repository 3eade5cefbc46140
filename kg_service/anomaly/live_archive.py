"""Raw live readings appended to Parquet, partitioned by asset and day, outside Neo4j.

Layout under the archive folder (one row per accepted reading, long format)::

    asset=<asset tag>/day=<YYYY-MM-DD>/part-<client id>-<start>-<n>-<i>.parquet

with the columns `time` (timestamp, naive UTC), `signal`, `value` (float64) and `unit`. Each
flush writes new part files, so several subscribers with their own client ids can archive into
one folder, and a reader sees only whole files.
"""

from __future__ import annotations

import logging
import time as clock
from pathlib import Path

import pyarrow as pa
import pyarrow.dataset as ds

from kg_service.anomaly.live_payload import Reading
from kg_service.graph.records import slug

logger = logging.getLogger(__name__)

SCHEMA = pa.schema([("asset", pa.string()), ("day", pa.string()), ("time", pa.timestamp("us")),
                    ("signal", pa.string()), ("value", pa.float64()), ("unit", pa.string())])
# Buffered readings that trigger a write without waiting for the next timed flush; bounds memory.
MAX_BUFFERED = 50_000


class SampleArchive:
    """Buffer accepted readings and append them to the archive folder at each flush."""

    def __init__(self, folder: Path, client_id: str) -> None:
        self.folder = Path(folder)
        self.prefix = f"part-{slug(client_id)}-{int(clock.time())}"
        self.columns: dict[str, list] = {name: [] for name in SCHEMA.names}
        self.flushes = 0
        self.rows_written = 0
        self.rows_failed = 0

    def add(self, reading: Reading) -> None:
        self.columns["asset"].append(reading.asset)
        self.columns["day"].append(reading.time.date().isoformat())
        self.columns["time"].append(reading.time)
        self.columns["signal"].append(reading.signal)
        self.columns["value"].append(reading.value)
        self.columns["unit"].append(reading.unit)

    @property
    def buffered(self) -> int:
        return len(self.columns["time"])

    def flush(self) -> int:
        """Write the buffered readings as new part files; return the rows written.

        A failed write (disk full, permissions) is logged and counted, and its rows are discarded,
        so a failing archive does not stop scoring.
        """
        rows = self.buffered
        if not rows:
            return 0
        table = pa.table(self.columns, schema=SCHEMA)
        self.columns = {name: [] for name in SCHEMA.names}
        try:
            ds.write_dataset(table, self.folder, format="parquet", partitioning=["asset", "day"],
                             partitioning_flavor="hive",
                             basename_template=f"{self.prefix}-{self.flushes:06d}-{{i}}.parquet",
                             existing_data_behavior="overwrite_or_ignore")
        except (OSError, pa.ArrowException) as error:
            self.rows_failed += rows
            logger.error("archiving %d readings to %s failed, they are not archived (%d lost so far): %s", rows,
                         self.folder, self.rows_failed, error)
            return 0
        self.flushes += 1
        self.rows_written += rows
        return rows
