"""Benchmark C-MAPSS FD001 ingestion (rows/s, peak memory) and anomaly-model training time per epoch.

Usage::

    python benchmarks/telemetry_benchmark.py --data ../shared/data/cmapss_fd001 [--graph] [--threads 1]

Ingestion reads, checks and stages both files and stores their Parquet samples in a temporary
state folder. With `--graph` it also writes the records to the Neo4j of the current settings
(KG_STATE_DIR, KG_BOLT_PORT), which must be running with the core ontology loaded. That graph is
not wiped, and the C-MAPSS nodes are merged on their stable keys.
Training runs the masked-reconstruction model on the normal first 80 cycles of every training
engine (window 32) for `--epochs` epochs on the CPU. Peak memory is the process's maximum
resident set size, which includes the interpreter and the imported libraries (and torch, when
measured after training).
"""

from __future__ import annotations

import argparse
import json
import resource
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
MAPPING = ROOT / "loaders" / "mappings" / "cmapss_fd001.yaml"
FILES = ("train_FD001.txt", "test_FD001.txt")


def peak_rss_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def bench_ingest(data: Path, state_dir: Path, with_graph: bool) -> dict:
    from kg_service.config import Settings, get_settings
    from loaders.mapping import load_mapping
    from loaders.timeseries import TimeseriesReader

    mapping = load_mapping(MAPPING)
    settings = Settings(state_dir=state_dir)
    store = writer = None
    if with_graph:
        from kg_service.graph.store import GraphStore
        from kg_service.graph.writer import BatchedWriter
        from kg_service.ingest import current_schema

        graph_settings = get_settings()
        store = GraphStore.from_settings(graph_settings)
        writer = BatchedWriter(store, current_schema(store), graph_settings.batch_size)
    rows = 0
    started = time.perf_counter()
    for name in FILES:
        load = TimeseriesReader(mapping, settings.telemetry_dir).read(data / name)
        if writer is not None:
            writer.write(load.batch.nodes.values(), load.batch.relationships.values())
        load.samples.commit()
        rows += load.rows
    seconds = time.perf_counter() - started
    if store is not None:
        store.close()
    return {"rows": rows, "seconds": round(seconds, 2), "rows_per_s": round(rows / seconds),
            "chunk_rows": mapping.chunk_rows, "graph_write": with_graph, "peak_rss_mib": round(peak_rss_mib())}


def bench_training(state_dir: Path, epochs: int, threads: int | None) -> dict:
    from kg_service.anomaly.model import train_masked_model
    from kg_service.anomaly.service import model_signals
    from kg_service.config import Settings
    from loaders.mapping import load_mapping
    from loaders.timeseries_store import read_samples

    mapping = load_mapping(MAPPING)
    signals = model_signals(mapping)
    frame = read_samples(Path(state_dir) / "telemetry" / "cmapss", signals=signals)
    frame = frame[frame["recording"] == "train_FD001"]
    series = [group[signals].to_numpy(dtype=float)[:80] for _, group in frame.groupby("asset")]
    settings = Settings(state_dir=state_dir, device="cpu")
    _, report = train_masked_model(series, signals, "Equipment-cmapss", settings, window=32, epochs=epochs,
                                   threads=threads)
    per_epoch = sum(report.epoch_seconds) / len(report.epoch_seconds)
    return {"engines": len(series), "windows": report.windows, "signals": len(signals), "window": 32,
            "epochs": len(report.epoch_seconds), "seconds_per_epoch": round(per_epoch, 2),
            "windows_per_s": round(report.windows / per_epoch), "threads": threads, "device": report.device,
            "peak_rss_mib": round(peak_rss_mib())}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=ROOT.parent / "shared" / "data" / "cmapss_fd001",
                        help="Folder with train_FD001.txt and test_FD001.txt")
    parser.add_argument("--graph", action="store_true", help="Also write the records to the configured Neo4j")
    parser.add_argument("--epochs", type=int, default=3, help="Training epochs to time")
    parser.add_argument("--threads", type=int, default=None, help="Torch CPU threads; default torch's own")
    arguments = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="kg-telemetry-bench-") as folder:
        ingest = bench_ingest(arguments.data, Path(folder), arguments.graph)
        training = bench_training(Path(folder), arguments.epochs, arguments.threads)
    print(json.dumps({"ingest": ingest, "training": training}))


if __name__ == "__main__":
    main()
