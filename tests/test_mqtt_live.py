"""Live anomaly detection over a real Mosquitto broker, with a recorded causRCA run replayed into it."""

from __future__ import annotations

import json
import math
import os
import signal
import subprocess
import time
from datetime import datetime, timedelta

import paho.mqtt.client as mqtt
import pyarrow.dataset
import pytest

from kg_service.anomaly.live_payload import Reading, RejectedReading, TopicPattern, encode_payload, parse_payload
from kg_service.anomaly.live_replay import replay_run
from kg_service.anomaly.live_window import AssetBinding, LiveScorer
from kg_service.anomaly.mqtt import LiveSubscriber, SubscriberConfig
from kg_service.errors import InputDataError
from kg_service.ingest import current_schema, load_ontologies
from kg_service.reasoning.rootcause import RootCauseQuery, rank_causes
from loaders.causrca import load_causrca, read_fault_run
from tests.conftest import CORE_ONTOLOGY, data_file, wipe
from tests.mqtt_fixtures import AlarmFlagDetector, broker  # noqa: F401  (broker is a fixture)

pytestmark = pytest.mark.neo4j

START = datetime(2025, 1, 1)
LATHE = "asset:causrca:lathe"
RUN = ("causrca", "dig_twin", "exp_probe", "exp_1", "run_1")
PERIOD_S = 1.0
FLUSH_S = 0.5
LIVE_EVENTS = ("MATCH (e:AnomalyEvent {source: 'mqtt'}) OPTIONAL MATCH (e)-[i:INVOLVES_SIGNAL]->(s:Signal) "
               "OPTIONAL MATCH (e)-[:FOR_ASSET]->(a:Asset) "
               "RETURN e.id AS id, e.startTime AS start, e.endTime AS end, e.peakScore AS peak, "
               "e.modelVersion AS version, collect(DISTINCT s.name) AS signals, collect(DISTINCT a.id) AS assets "
               "ORDER BY start")


@pytest.fixture(scope="module")
def lathe_graph(store):
    """The causRCA expert graph with the lathe hierarchy, without run events."""
    wipe(store)
    load_ontologies(store, [CORE_ONTOLOGY])
    load_causrca(store, current_schema(store), data_file("causrca"), [], START)
    return store


@pytest.fixture(scope="module")
def fault_run():
    return read_fault_run(data_file(*RUN))


def alarm_detector(run, **options) -> AlarmFlagDetector:
    return AlarmFlagDetector(sorted({change.signal for change in run.changes if change.kind == "Alarm"}), **options)


def subscriber_for(graph, detector, port: int, client_id: str, clear: bool = True, **options) -> LiveSubscriber:
    if clear:
        graph.write("MATCH (e:AnomalyEvent {source: 'mqtt'}) DETACH DELETE e")
    config = SubscriberConfig(port=port, client_id=client_id, asset_map={"lathe": LATHE}, period_s=PERIOD_S,
                              flush_interval_s=FLUSH_S, **options)
    subscriber = LiveSubscriber(graph, current_schema(graph), detector, config)
    subscriber.start()
    assert subscriber.connected.wait(10), "the subscriber did not connect to the broker within 10 s"
    return subscriber


def seconds(value) -> float:
    """Return a Neo4j date-time as seconds after the run start."""
    return (value.to_native() - START).total_seconds()


def wait_for(condition, timeout_s: float) -> bool:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.1)
    return False


def expected_event_starts(run, window: int, close_after: int) -> list[float]:
    """Return the grid times at which events must start: alarm flags set at sampled rows, grouped."""
    intervals = run.alarm_intervals()
    last = max(change.time for change in run.changes)
    active = [row for row in range(window - 1, math.floor(last) + 1)
              if any(item.start <= row < (item.end if item.end is not None else math.inf) for item in intervals)]
    starts = []
    for index, row in enumerate(active):
        if index == 0 or row - active[index - 1] > close_after:
            starts.append(float(row))
    return starts


@pytest.fixture(scope="module")
def replayed(lathe_graph, broker, fault_run, tmp_path_factory):  # noqa: F811
    """Replay the run once at full speed into a running subscriber; return it stopped, with the events."""
    subscriber = subscriber_for(lathe_graph, alarm_detector(fault_run), broker.port, "test-replay",
                                archive_dir=tmp_path_factory.mktemp("archive"))
    report = replay_run(data_file(*RUN), "127.0.0.1", broker.port, "lathe", START, TopicPattern())
    idle = subscriber.wait_idle(30)
    subscriber.stop()
    return subscriber, report, idle, lathe_graph.read(LIVE_EVENTS)


def test_replay_processes_every_reading(replayed):
    subscriber, report, idle, _ = replayed
    assert idle
    assert subscriber.stats.received == report.published
    assert subscriber.stats.processed == report.published
    assert sum(subscriber.stats.rejected.values()) == 0
    assert subscriber.stats.dropped == 0


def test_replay_archives_raw_readings(replayed):
    subscriber, report, _, _ = replayed
    samples = pyarrow.dataset.dataset(subscriber.config.archive_dir, format="parquet", partitioning="hive").to_table()
    assert samples.num_rows == report.published
    assert set(samples.column("asset").to_pylist()) == {"lathe"}
    assert set(samples.column("day").to_pylist()) == {"2025-01-01"}
    assert subscriber.archive.rows_failed == 0


def test_replay_events_match_alarms(replayed, fault_run):
    _, _, _, events = replayed
    starts = [seconds(event["start"]) for event in events]
    for expected in expected_event_starts(fault_run, window=3, close_after=2):
        # A provisional window at the reading that set the flag may open the event up to one period early.
        assert any(expected - PERIOD_S < start <= expected for start in starts), (expected, starts)


def test_replay_events_lie_in_alarms(replayed, fault_run):
    _, _, _, events = replayed
    intervals = fault_run.alarm_intervals()
    for event in events:
        start = seconds(event["start"])
        active = {item.signal for item in intervals if item.start <= start and (item.end is None or start < item.end)}
        assert active, f"event {event['id']} starts at {start} s, outside every alarm"
        assert set(event["signals"]) & active, (event["signals"], active)


def test_replay_events_link_lathe(replayed):
    _, _, _, events = replayed
    assert events
    assert all(event["assets"] == [LATHE] for event in events)
    assert all(event["version"] == "alarm-flags-test" for event in events)
    assert all(event["end"] is not None for event in events)


def test_replay_latency_is_bounded(replayed):
    subscriber, _, _, events = replayed
    latencies = [event.latency_s for event in subscriber.sink.written_events]
    assert len(latencies) == len(events)
    # One flush interval plus scoring and the write, with slack for a busy machine.
    assert max(latencies) < FLUSH_S + 3.0


def test_live_event_root_causes(replayed, lathe_graph):
    _, _, _, events = replayed
    probe_event = next(event for event in events if "MPA_A_701124" in event["signals"])
    # Later tests clear the live events, so this one runs while the replayed events are in the graph.
    result = rank_causes(lathe_graph, RootCauseQuery(event=probe_event["id"]))
    names = [candidate.properties.get("name") for candidate in result.candidates]
    assert "MPA_WorkPos" in names
    assert result.observed_events[0].id == probe_event["id"]


def test_broker_restart_resumes(lathe_graph, broker, fault_run):  # noqa: F811
    subscriber = subscriber_for(lathe_graph, alarm_detector(fault_run), broker.port, "test-restart")
    try:
        first = replay_run(data_file(*RUN), "127.0.0.1", broker.port, "lathe", START, TopicPattern(), to_s=110.0)
        assert subscriber.wait_idle(30)
        broker.restart()
        assert wait_for(lambda: subscriber.stats.connects >= 2, 20)
        assert subscriber.connected.wait(5)
        second = replay_run(data_file(*RUN), "127.0.0.1", broker.port, "lathe", START, TopicPattern(), from_s=110.0)
        assert subscriber.wait_idle(30)
    finally:
        stats = subscriber.stop()
    starts = [seconds(event["start"]) for event in lathe_graph.read(LIVE_EVENTS)]
    assert stats.disconnects >= 1
    assert stats.processed == first.published + second.published
    # The probe alarm (125.4 s to 177.7 s) comes after the restart.
    assert any(125.0 <= start <= 126.0 for start in starts), starts


def test_invalid_payloads_counted_and_skipped(lathe_graph, broker, fault_run):  # noqa: F811
    # A unit on one signal lets a reading in another unit be rejected; the replay itself sends no units.
    lathe_graph.write("MATCH (s:Signal {name: 'MPA_WorkPos'}) SET s.unit = 'bool'")
    subscriber = subscriber_for(lathe_graph, alarm_detector(fault_run), broker.port, "test-invalid")
    stamp = START.isoformat()
    bad = [("kg/iwu/lathe/MPA_WorkPos", b"not json"),
           ("kg/iwu/lathe/MPA_WorkPos", b"[1, 2]"),
           ("kg/iwu/lathe/MPA_WorkPos", json.dumps({"t": stamp, "v": "high"}).encode()),
           ("kg/iwu/lathe/MPA_WorkPos", json.dumps({"t": "yesterday", "v": 1}).encode()),
           ("kg/iwu/lathe/MPA_WorkPos", b'{"t": 1735689600, "v": NaN}'),
           ("kg/iwu/lathe/MPA_WorkPos", encode_payload(START, 1.0, unit="bar")),
           ("kg/iwu/lathe/NO_SUCH_SIGNAL", encode_payload(START, 1.0)),
           ("kg/iwu/press-9/MPA_WorkPos", encode_payload(START, 1.0))]
    client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id="test-invalid-publisher")
    client.connect("127.0.0.1", broker.port)
    client.loop_start()
    for topic, payload in bad:
        client.publish(topic, payload, qos=1).wait_for_publish(5)
    client.disconnect()
    client.loop_stop()
    try:
        report = replay_run(data_file(*RUN), "127.0.0.1", broker.port, "lathe", START, TopicPattern())
        assert subscriber.wait_idle(30)
    finally:
        stats = subscriber.stop()
        lathe_graph.write("MATCH (s:Signal {name: 'MPA_WorkPos'}) REMOVE s.unit")
    assert stats.rejected["json"] == 2
    assert stats.rejected["value"] == 3
    assert stats.rejected["unit"] == 1
    assert stats.rejected["unknown_signal"] == 1
    assert stats.rejected["unmapped_asset"] == 1
    assert stats.processed == report.published
    assert lathe_graph.read(LIVE_EVENTS)


def test_full_queue_blocks_not_drops(lathe_graph, broker, fault_run):  # noqa: F811
    detector = alarm_detector(fault_run, delay_s=0.002)
    subscriber = subscriber_for(lathe_graph, detector, broker.port, "test-backpressure", queue_size=5)
    try:
        report = replay_run(data_file(*RUN), "127.0.0.1", broker.port, "lathe", START, TopicPattern())
        assert subscriber.wait_idle(60)
    finally:
        stats = subscriber.stop()
    assert stats.blocked > 0
    assert stats.dropped == 0
    assert stats.processed == report.published
    assert stats.queue_high_water <= 5


def test_stalled_consumer_counts_drops(lathe_graph, broker, fault_run):  # noqa: F811
    detector = alarm_detector(fault_run, delay_s=0.03)
    subscriber = subscriber_for(lathe_graph, detector, broker.port, "test-drops", queue_size=1, put_timeout_s=0.01)
    try:
        report = replay_run(data_file(*RUN), "127.0.0.1", broker.port, "lathe", START, TopicPattern(), to_s=60.0)
        assert subscriber.wait_idle(60)
    finally:
        stats = subscriber.stop()
    assert stats.dropped > 0
    assert stats.received == report.published
    assert stats.processed + sum(stats.rejected.values()) + stats.dropped == stats.received


def test_replay_twice_same_keys(lathe_graph, broker, fault_run):  # noqa: F811
    keys = []
    for attempt in range(2):
        # The second subscriber keeps the first one's events, so equal keys must merge.
        subscriber = subscriber_for(lathe_graph, alarm_detector(fault_run), broker.port, f"test-twice-{attempt}",
                                    clear=attempt == 0)
        try:
            replay_run(data_file(*RUN), "127.0.0.1", broker.port, "lathe", START, TopicPattern())
            assert subscriber.wait_idle(30)
        finally:
            subscriber.stop()
        keys.append([event["id"] for event in lathe_graph.read(LIVE_EVENTS)])
    assert keys[0]
    assert keys[1] == keys[0]


def test_cli_listen_and_replay(lathe_graph, broker, settings):  # noqa: F811
    from kg_service.anomaly.detector import save_detector
    from tests.mqtt_fixtures import fit_probe_detector
    from tests.conftest import ROOT
    from tests.test_cli import KG_SERVICE, run_cli

    detector = fit_probe_detector(data_file("causrca"))
    save_detector(detector, settings.models_dir)
    # A wide console keeps rich from wrapping the log line that the test waits for.
    env = {**os.environ, "COLUMNS": "400"}
    listener = subprocess.Popen([KG_SERVICE, "telemetry", "listen", "--broker", f"127.0.0.1:{broker.port}",
                                 "--detector", f"Equipment/{detector.version}", "--asset", f"lathe={LATHE}",
                                 "--client-id", "test-cli", "--max-seconds", "120"],
                                cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        connected = False
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and not connected:
            line = listener.stderr.readline()
            connected = "connected to MQTT broker" in line
            if not line and listener.poll() is not None:
                break
        assert connected, "kg-service telemetry listen did not connect within 30 s"
        replay = run_cli("telemetry", "replay", str(data_file(*RUN)), "--broker", f"127.0.0.1:{broker.port}",
                         "--speedup", "0")
        # Give the broker time to deliver the last readings, then stop the listener as a service manager would.
        time.sleep(2)
        listener.send_signal(signal.SIGTERM)
        stdout, _ = listener.communicate(timeout=60)
    finally:
        if listener.poll() is None:
            listener.kill()
    published = json.loads(replay.stdout)["published"]
    counters = json.loads(stdout)
    assert listener.returncode == 0
    assert counters["received"] == published
    assert counters["processed"] == published
    assert counters["detector"] == detector.version


def test_listen_port_from_env(lathe_graph, broker, settings):  # noqa: F811
    from kg_service.anomaly.detector import save_detector
    from tests.conftest import ROOT
    from tests.mqtt_fixtures import fit_probe_detector
    from tests.test_cli import KG_SERVICE

    detector = fit_probe_detector(data_file("causrca"))
    save_detector(detector, settings.models_dir)
    env = {**os.environ, "COLUMNS": "400", "KG_MQTT_PORT": str(broker.port)}
    listener = subprocess.Popen([KG_SERVICE, "telemetry", "listen", "--detector", f"Equipment/{detector.version}",
                                 "--asset", f"lathe={LATHE}", "--client-id", "test-env-port", "--max-seconds", "60"],
                                cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        connected = False
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and not connected:
            line = listener.stderr.readline()
            connected = f"connected to MQTT broker 127.0.0.1:{broker.port}" in line
            if not line and listener.poll() is not None:
                break
        assert connected, f"kg-service telemetry listen did not connect to KG_MQTT_PORT={broker.port} within 30 s"
        replay = subprocess.run([KG_SERVICE, "telemetry", "replay", str(data_file(*RUN)), "--speedup", "0",
                                 "--to-s", "30"], cwd=ROOT, env=env, capture_output=True, text=True, timeout=120)
        assert replay.returncode == 0, replay.stderr
        time.sleep(2)
        listener.send_signal(signal.SIGTERM)
        stdout, _ = listener.communicate(timeout=60)
    finally:
        if listener.poll() is None:
            listener.kill()
    published = json.loads(replay.stdout)["published"]
    assert published > 0
    assert json.loads(stdout)["received"] == published


def test_listen_invalid_env_port_rejected(monkeypatch):
    from kg_service.commands.telemetry_live import _broker
    from kg_service.config import get_settings
    from kg_service.errors import ConfigurationError

    monkeypatch.setenv("KG_MQTT_PORT", "18x3")
    get_settings.cache_clear()
    try:
        with pytest.raises(ConfigurationError, match="KG_MQTT_PORT='18x3'"):
            _broker(None)
        monkeypatch.delenv("KG_MQTT_PORT")
        get_settings.cache_clear()
        assert _broker(None) == ("127.0.0.1", 1883)
    finally:
        get_settings.cache_clear()


def test_unreachable_broker_logs_no_paho_errors(lathe_graph, caplog):
    from tests.mqtt_fixtures import _free_port

    port = _free_port()
    config = SubscriberConfig(port=port, client_id="test-unreachable", reconnect_min_s=1, reconnect_max_s=1)
    subscriber = LiveSubscriber(lathe_graph, current_schema(lathe_graph), AlarmFlagDetector(["A"]), config)
    with caplog.at_level("INFO"):
        subscriber.start()
        assert wait_for(lambda: subscriber.stats.failed_connects >= 2, 15)
        subscriber.stop()
    errors = [record.getMessage() for record in caplog.records if record.levelno >= 40]
    failures = [record.getMessage() for record in caplog.records if "failed (attempt" in record.getMessage()]
    assert not [message for message in errors if "Client is not connected" in message]
    assert f"connecting to MQTT broker 127.0.0.1:{port} failed (attempt 1)" in failures[0]


def test_epoch_millis_hint():
    with pytest.raises(RejectedReading) as rejected:
        parse_payload("lathe", "x", b'{"t": 1735689600000, "v": 1.0}')
    message = str(rejected.value)
    assert rejected.value.reason == "value"
    assert "milliseconds since the Unix epoch" in message
    assert "expects seconds" in message
    assert "out of range" not in message
    assert parse_payload("lathe", "x", b'{"t": 1735689600.5, "v": 1.0}').time == datetime(2025, 1, 1, 0, 0, 0, 500000)


def test_topic_pattern_parses_levels():
    pattern = TopicPattern("plant/{site}/{asset}/{signal}")
    assert pattern.subscription == "plant/+/+/+"
    assert pattern.parse("plant/iwu/lathe/MPA_WorkPos") == ("lathe", "MPA_WorkPos")
    assert pattern.topic("lathe", "MPA_WorkPos", site="iwu") == "plant/iwu/lathe/MPA_WorkPos"
    with pytest.raises(RejectedReading):
        pattern.parse("other/iwu/lathe/MPA_WorkPos")
    with pytest.raises(InputDataError):
        TopicPattern("kg/{asset}/#")


def test_payload_times_become_utc():
    iso = parse_payload("lathe", "x", b'{"t": "2025-01-01T01:00:00+01:00", "v": true}')
    epoch = parse_payload("lathe", "x", b'{"t": 1735689600, "v": 2.5, "unit": "bar"}')
    assert iso.time == datetime(2025, 1, 1)
    assert iso.value == 1.0
    assert epoch.time == datetime(2025, 1, 1)
    assert epoch.unit == "bar"


def test_window_rejects_late_reading():
    binding = AssetBinding("lathe", LATHE, {"A": "signal:a"})
    scorer = LiveScorer(AlarmFlagDetector(["A"], window=2), period_s=1.0)
    scorer.add(binding, Reading("lathe", "A", START, 0.0, None), 0.0)
    scorer.add(binding, Reading("lathe", "A", START + timedelta(seconds=5), 1.0, None), 0.0)
    with pytest.raises(RejectedReading) as rejected:
        scorer.add(binding, Reading("lathe", "A", START + timedelta(seconds=2), 0.0, None), 0.0)
    assert rejected.value.reason == "late"


def test_window_gap_holds_state():
    binding = AssetBinding("lathe", LATHE, {"A": "signal:a"})
    scorer = LiveScorer(AlarmFlagDetector(["A"], window=3), period_s=1.0)
    hour = START + timedelta(hours=1)
    scorer.add(binding, Reading("lathe", "A", START, 1.0, None), 0.0)
    # One hour later the held value has filled the window, and the rest of the gap is skipped.
    scorer.add(binding, Reading("lathe", "A", hour, 0.0, None), 0.0)
    scorer.add(binding, Reading("lathe", "A", hour + timedelta(seconds=1), 0.0, None), 0.0)
    updates = scorer.score_pending()
    assert scorer.scores <= 6
    assert [update.start for update in updates if update.opened] == [START + timedelta(seconds=2)]
    assert updates[-1].closed
    assert updates[-1].end == hour - timedelta(seconds=1)
