"""Throughput and latency of live MQTT ingestion: readings per second, reading-to-event-in-Neo4j latency.

The script replays a recorded causRCA fault run into a running Mosquitto broker and scores it
with `LiveSubscriber` in the same process, writing events to the Neo4j of `KG_STATE_DIR`:

- **throughput**: the run repeated `--repeat` times and published as fast as the broker takes it.
  Each copy is shifted after the previous one, so reading times keep increasing. The figure is
  readings processed per second, from the first publish to the last reading processed. The detector is the
  rolling median/MAD baseline fitted on the probe signals of the normal recordings (`real_op`).
- **subscriber only**: the same copies queued in the broker for a subscribed but offline client,
  then taken by the subscriber alone; the figure is readings processed per second from connecting
  to the last reading processed (with the broker's config from scripts/mosquitto.sh, which queues
  up to 100,000 messages per client).
- **latency**: the same run published at `--rate` readings per second. The detector flags a
  window when an alarm flag is set, so every alarm interval opens an event. Latency is the time
  from publishing the reading that opened an event to the commit of the write that stored it.

It merges the causRCA expert graph into the database (idempotent) and deletes only the events
that it wrote (`source: 'mqtt'`, its own model versions). Start a broker first:

    export KG_STATE_DIR=/work/main/.kg/bench KG_BOLT_PORT=7704
    .venv/bin/kg-service neo4j start && bash scripts/mosquitto.sh start 18830
    .venv/bin/python benchmarks/mqtt_latency.py --broker 127.0.0.1:18830 --output mqtt.json
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from datetime import datetime
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from kg_service.anomaly.detector import WindowScore, fit_rolling_mad  # noqa: E402
from kg_service.anomaly.live_payload import TopicPattern  # noqa: E402
from kg_service.anomaly.live_replay import (RecordedReading, grid_samples, publish_readings,  # noqa: E402
                                            recorded_readings, recording_file)
from kg_service.anomaly.mqtt import LiveSubscriber, SubscriberConfig  # noqa: E402
from kg_service.config import get_settings  # noqa: E402
from kg_service.graph.store import GraphStore  # noqa: E402
from kg_service.ingest import CORE_ONTOLOGY_FILE, current_schema, load_ontologies  # noqa: E402
from kg_service.ontology.schema import GraphSchema  # noqa: E402
from loaders.causrca import load_causrca, read_changes  # noqa: E402

DATA = ROOT.parent / "shared" / "data" / "causrca"
RUN = DATA / "dig_twin" / "exp_probe" / "exp_1" / "run_1"
START = datetime(2025, 6, 1)
LATHE = "asset:causrca:lathe"
PROBE_SIGNALS = ["MP_Inactive", "MPA_InitPos", "MPA_toInitPos", "MPA_toWorkPos", "MPA_WorkPos", "MPC_close",
                 "MPC_Closed", "MPC_isOpen", "MPC_open"]


class AlarmFlagRule:
    """Flags a window whose newest sample has an alarm flag set; the contributions are the flags."""

    version = "bench-alarm-flags"
    threshold = 0.5

    def __init__(self, signals: list[str], window: int = 8) -> None:
        self.signals = signals
        self.window = window

    def score(self, window: np.ndarray) -> WindowScore:
        newest = window[-1]
        score = float(newest.max())
        return WindowScore(score, dict(zip(self.signals, map(float, newest))), score > self.threshold)

    def score_windows(self, windows: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        return windows[:, -1, :].max(axis=1), windows[:, -1, :]


def repeated(readings: list[RecordedReading], times: int) -> list[RecordedReading]:
    """Return `times` copies of a recording, each shifted 10 s after the end of the previous one."""
    span = readings[-1].seconds + 10.0
    return [RecordedReading(reading.seconds + copy * span, reading.signal, reading.value)
            for copy in range(times) for reading in readings]


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(share * len(ordered)))]


def clear_session(host: str, port: int, client_id: str) -> None:
    """Make the broker forget the stored session of `client_id` and the readings queued for it."""
    import paho.mqtt.client as mqtt

    client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=client_id, clean_session=True)
    client.connect(host, port)
    client.loop_start()
    time.sleep(0.2)
    client.disconnect()
    client.loop_stop()


def run_once(store: GraphStore, schema: GraphSchema, detector, readings: list[RecordedReading], host: str,
             port: int, rate: float, client_id: str) -> dict:
    """Publish `readings` at `rate` per second (0: at once) into a fresh subscriber; return its figures."""
    store.write("MATCH (e:AnomalyEvent {source: 'mqtt', modelVersion: $version}) DETACH DELETE e",
                {"version": detector.version})
    clear_session(host, port, client_id)
    subscriber = LiveSubscriber(store, schema, detector, SubscriberConfig(
        host=host, port=port, client_id=client_id, asset_map={"lathe": LATHE}))
    subscriber.start()
    if not subscriber.connected.wait(10):
        raise SystemExit(f"could not connect to the broker {host}:{port}")

    # publish_readings paces by reading time, so a rate is a speed-up over the recording's own rate.
    span = readings[-1].seconds - readings[0].seconds
    speedup = 0.0 if rate <= 0 else rate * span / len(readings)
    published_at = time.time()
    wall = publish_readings(readings, host, port, "lathe", START, TopicPattern(), speedup,
                            client_id=f"{client_id}-publisher", timeout_s=600)
    idle = subscriber.wait_idle(300)
    finished = time.time()
    stats = subscriber.stop()
    clear_session(host, port, client_id)

    # Each event opens at the reading that set its first flag; its publish time follows from the pacing.
    origin = readings[0].seconds
    latencies = []
    for event in subscriber.sink.written_events:
        reading_seconds = (datetime.fromisoformat(event.start) - START).total_seconds()
        sent = published_at + ((reading_seconds - origin) / speedup if speedup else 0.0)
        latencies.append(event.committed_at - max(sent, published_at))
    return {"readings": len(readings), "publish_wall_s": round(wall, 3), "idle": idle,
            "processing_wall_s": round(finished - published_at, 3),
            "readings_per_s": round(stats.processed / (finished - published_at), 1),
            "scores": subscriber.scorer.scores, "events": len(subscriber.sink.written_events),
            "latency_p50_s": round(statistics.median(latencies), 3) if latencies else None,
            "latency_p99_s": round(percentile(latencies, 0.99), 3) if latencies else None,
            "latency_max_s": round(max(latencies), 3) if latencies else None,
            "counters": stats.as_dict()}


def drain_once(store: GraphStore, schema: GraphSchema, detector, readings: list[RecordedReading], host: str,
               port: int, client_id: str) -> dict:
    """Queue `readings` in the broker for a subscribed but offline client, then time the subscriber alone.

    The broker keeps the session of a client that connected with clean_session=False, so the
    readings wait there, and the subscriber's rate is measured without a publisher competing for
    the same interpreter.
    """
    clear_session(host, port, client_id)
    config = SubscriberConfig(host=host, port=port, client_id=client_id, asset_map={"lathe": LATHE})
    first = LiveSubscriber(store, schema, detector, config)
    first.start()
    if not first.connected.wait(10):
        raise SystemExit(f"could not connect to the broker {host}:{port}")
    time.sleep(0.5)
    first.stop()
    publish_readings(readings, host, port, "lathe", START, TopicPattern(), 0.0, client_id=f"{client_id}-publisher",
                     timeout_s=600)

    subscriber = LiveSubscriber(store, schema, detector, config)
    began = time.time()
    subscriber.start()
    deadline = began + 600
    while subscriber.stats.processed + sum(subscriber.stats.rejected.values()) < len(readings):
        if time.time() > deadline:
            break
        time.sleep(0.01)
    subscriber.wait_idle(60)
    elapsed = time.time() - began
    stats = subscriber.stop()
    clear_session(host, port, client_id)
    return {"readings": len(readings), "wall_s": round(elapsed, 3),
            "readings_per_s": round(stats.processed / elapsed, 1), "scores": subscriber.scorer.scores,
            "counters": stats.as_dict()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--broker", default="127.0.0.1:18830", help="MQTT broker as HOST:PORT")
    parser.add_argument("--repeat", type=int, default=20, help="Copies of the run in the throughput test")
    parser.add_argument("--rate", type=float, default=200.0, help="Readings per second in the latency test")
    parser.add_argument("--latency-repeat", type=int, default=3, help="Copies of the run in the latency test")
    parser.add_argument("--output", type=Path, help="Write the figures as JSON to this file")
    args = parser.parse_args()
    host, _, port = args.broker.rpartition(":")

    settings = get_settings()
    store = GraphStore.from_settings(settings)
    if GraphSchema.from_store(store).is_empty:
        load_ontologies(store, [CORE_ONTOLOGY_FILE])
    load_causrca(store, current_schema(store), DATA, [], START)
    schema = current_schema(store)

    readings, _ = recorded_readings(RUN)
    series = [grid_samples(recorded_readings(path)[0], PROBE_SIGNALS) for path in sorted((DATA / "real_op").glob("*.csv"))]
    baseline = fit_rolling_mad(series, PROBE_SIGNALS, "Equipment", window=8)
    alarms = sorted({change.signal for change in read_changes(recording_file(RUN)) if change.kind == "Alarm"})

    results = {
        "throughput": run_once(store, schema, baseline, repeated(readings, args.repeat), host, int(port), 0.0,
                               "bench-throughput"),
        "subscriber_only": drain_once(store, schema, baseline, repeated(readings, args.repeat), host, int(port),
                                      "bench-drain"),
        "latency": run_once(store, schema, AlarmFlagRule(alarms), repeated(readings, args.latency_repeat), host,
                            int(port), args.rate, "bench-latency"),
        "detector": baseline.version,
    }
    store.close()
    text = json.dumps(results, indent=2)
    print(text)
    if args.output:
        args.output.write_text(text + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
