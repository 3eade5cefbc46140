"""Anomaly detectors on real telemetry: masked-reconstruction model, MAD baseline, events in the graph."""

from __future__ import annotations

import json

import numpy as np
import pytest
from typer.testing import CliRunner

from kg_service.anomaly.detector import Detector, fit_rolling_mad, load_detector, save_detector, sliding_windows
from kg_service.anomaly.model import train_masked_model
from kg_service.anomaly.service import detect_anomalies, model_signals, train_detector
from kg_service.config import Settings
from kg_service.errors import InputDataError
from kg_service.graph.checksum import graph_checksum
from kg_service.ingest import current_schema, ingest_telemetry
from loaders.mapping import load_mapping
from loaders.timeseries import TimeseriesReader
from tests.conftest import MAPPINGS_DIR, data_file

CMAPSS_MAPPING = MAPPINGS_DIR / "cmapss_fd001.yaml"
WINDOW = 16
# Column of sensor T30 in the C-MAPSS text files (0-based: unit, cycle, 3 settings, then sensors 1-21).
T30_COLUMN = 7


@pytest.fixture(scope="module")
def engines(tmp_path_factory):
    """Early-life (normal) cycles of the first 30 training engines, and the signal names."""
    settings = Settings(state_dir=tmp_path_factory.mktemp("anomaly-state"), device="cpu")
    mapping = load_mapping(CMAPSS_MAPPING)
    frame = TimeseriesReader(mapping, None).read(data_file("cmapss_fd001", "train_FD001.txt")).frame
    signals = model_signals(mapping)
    series = [group[signals].to_numpy(dtype=float) for _, group in frame.groupby("asset", sort=False)][:30]
    return settings, signals, [values[:80] for values in series], series


@pytest.fixture(scope="module")
def trained_model(engines):
    settings, signals, normal, _ = engines
    detector, report = train_masked_model(normal[:25], signals, "Equipment-cmapss", settings, window=WINDOW,
                                          epochs=3, threads=1)
    return detector, report


def test_model_scores_injected_fault_higher(engines, trained_model):
    _, signals, normal, _ = engines
    detector, _ = trained_model
    held_out = np.concatenate([sliding_windows(values, WINDOW) for values in normal[25:]])
    normal_scores, _ = detector.score_windows(held_out)
    faulty = held_out[::7].copy()
    scale = np.asarray(detector.manifest.scale)
    for name in ("T30", "P30", "Ps30"):
        index = signals.index(name)
        faulty[:, 5:11, index] += 6 * scale[index]
    fault_scores, _ = detector.score_windows(faulty)
    assert fault_scores.min() > np.median(normal_scores)
    assert np.mean(fault_scores > detector.threshold) > 0.9
    assert np.mean(normal_scores > detector.threshold) < 0.05


def test_model_learns_and_implements_protocol(trained_model):
    detector, report = trained_model
    assert report.epoch_losses[-1] < report.epoch_losses[0]
    assert isinstance(detector, Detector)
    assert detector.version.startswith("masked-reconstruction-")


def test_model_checkpoint_round_trip(engines, trained_model):
    settings, _, normal, _ = engines
    detector, _ = trained_model
    folder = save_detector(detector, settings.models_dir)
    manifest = json.loads((folder / "manifest.json").read_text(encoding="utf-8"))
    loaded = load_detector(f"Equipment-cmapss/{detector.version}", settings)
    window = normal[26][:WINDOW]
    assert folder == settings.models_dir / "anomaly" / "Equipment-cmapss" / detector.version
    assert manifest["training_data_hash"] == detector.manifest.training_data_hash
    assert loaded.score(window).score == pytest.approx(detector.score(window).score)


def test_model_scores_degraded_engine_end(engines, trained_model):
    _, _, _, series = engines
    detector, _ = trained_model
    scores, _ = detector.score_windows(sliding_windows(series[27], WINDOW))
    assert scores[-1] > detector.threshold
    assert scores[-1] > 3 * np.median(scores[:30])


def test_baseline_catches_spike(engines):
    _, signals, normal, _ = engines
    baseline = fit_rolling_mad(normal[:25], signals, "Equipment-cmapss", WINDOW)
    window = normal[26][20:20 + WINDOW].copy()
    quiet = baseline.score(window)
    index = signals.index("T30")
    window[-1, index] += 20 * baseline.manifest.scale[index]
    spiked = baseline.score(window)
    assert not quiet.is_anomaly
    assert spiked.is_anomaly
    assert max(spiked.contributions, key=spiked.contributions.get) == "T30"


def test_window_with_nan_is_rejected(engines):
    _, signals, normal, _ = engines
    baseline = fit_rolling_mad(normal[:5], signals, "Equipment-cmapss", WINDOW)
    window = normal[6][:WINDOW].copy()
    window[3, 0] = np.nan
    with pytest.raises(InputDataError, match="NaN"):
        baseline.score(window)


def _test_mapping(tmp_path, source: str):
    """Write the C-MAPSS mapping under a source of its own, so stored samples of other tests never mix in."""
    text = CMAPSS_MAPPING.read_text(encoding="utf-8")
    text = text.replace("source: cmapss", f"source: {source}").replace(
        "asset_namespace: cmapss", f"asset_namespace: {source}").replace(
        "asset_pattern: \"(train|test)_FD00[1-4]-unit-[0-9]+\"", "asset_pattern: \"(test|spike)_FD001-unit-[0-9]+\"")
    path = tmp_path / "cmapss.yaml"
    path.write_text(text, encoding="utf-8")
    return path


def _engine_lines(units: set[int], spike_unit: int | None = None, spike_cycle: int = 40) -> str:
    lines = []
    for line in data_file("cmapss_fd001", "test_FD001.txt").read_text(encoding="utf-8").splitlines():
        fields = line.split()
        if int(fields[0]) not in units:
            continue
        if int(fields[0]) == spike_unit and int(fields[1]) == spike_cycle:
            fields[T30_COLUMN] = f"{float(fields[T30_COLUMN]) + 60:.2f}"
        lines.append(" ".join(fields))
    return "\n".join(lines) + "\n"


@pytest.mark.neo4j
def test_detected_events_written_once(core_graph, settings, tmp_path):
    normal_file = tmp_path / "test_FD001.txt"
    normal_file.write_text(_engine_lines({1, 2, 3, 4, 5}), encoding="utf-8")
    spiked_file = tmp_path / "spike_FD001.txt"
    spiked_file.write_text(_engine_lines({6}, spike_unit=6), encoding="utf-8")
    mapping_path = _test_mapping(tmp_path, "cmapss-events-test")
    mapping = load_mapping(mapping_path)
    ingest_telemetry(core_graph, settings, normal_file, mapping_path)
    trained = train_detector(settings, mapping, "baseline", window=WINDOW, assets=[f"test_FD001-unit-{unit}"
                                                                                  for unit in range(1, 6)])
    ingest_telemetry(core_graph, settings, spiked_file, mapping_path)
    schema = current_schema(core_graph)

    first = detect_anomalies(core_graph, schema, settings, mapping, trained.detector, assets=["spike_FD001-unit-6"])
    rows = core_graph.read(
        "MATCH (e:AnomalyEvent)-[:FOR_ASSET]->(a:Equipment), (e)-[r:INVOLVES_SIGNAL]->(s:Signal) "
        "RETURN a.name AS asset, e.sequence AS cycle, e.modelVersion AS version, e.peakScore AS peak, "
        "s.name AS signal, r.contribution AS share ORDER BY share DESC")
    spike_rows = [row for row in rows if row["cycle"] == 40]
    assert first.report.nodes_created == len(first.events) >= 1
    assert spike_rows[0]["signal"] == "T30"
    assert spike_rows[0]["asset"] == "spike_FD001-unit-6"
    assert spike_rows[0]["version"] == trained.detector.version
    assert spike_rows[0]["peak"] > trained.detector.threshold
    assert 0 < spike_rows[0]["share"] <= 1

    before = (core_graph.counts(), graph_checksum(core_graph))
    again = detect_anomalies(core_graph, schema, settings, mapping, trained.detector, assets=["spike_FD001-unit-6"])
    assert (again.report.nodes_created, again.report.relationships_created) == (0, 0)
    assert (core_graph.counts(), graph_checksum(core_graph)) == before


@pytest.mark.neo4j
def test_detect_without_loaded_asset_fails(core_graph, settings, tmp_path):
    data = tmp_path / "test_FD001.txt"
    data.write_text(_engine_lines({1, 2}), encoding="utf-8")
    mapping_path = _test_mapping(tmp_path, "cmapss-missing-test")
    mapping = load_mapping(mapping_path)
    ingest_telemetry(core_graph, settings, data, mapping_path)
    detector = fit_rolling_mad([np.zeros((40, len(model_signals(mapping))))], model_signals(mapping), "x", WINDOW)
    core_graph.write("MATCH (e:Equipment {name: 'test_FD001-unit-2'}) DETACH DELETE e")
    before = core_graph.counts()
    with pytest.raises(InputDataError, match="not in the graph"):
        detect_anomalies(core_graph, current_schema(core_graph), settings, mapping, detector,
                         assets=["test_FD001-unit-2"])
    assert core_graph.counts() == before


def test_evaluate_anomalies_json():
    from kg_service.cli import app

    result = CliRunner().invoke(app, ["evaluate", "anomalies", "--data",
                                      str(data_file("ai4i2020", "ai4i2020.csv")), "--detector", "baseline", "--json"])
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout.strip().splitlines()[-1])
    baseline = report["results"][0]
    assert report["labels"] == 339
    assert baseline["detector"] == "baseline"
    assert baseline["events"] > 0
    assert baseline["matched_events"] <= baseline["events"]
    assert 0 <= baseline["precision"] <= 1
    assert baseline["detected_labels"] <= 339


@pytest.mark.neo4j
def test_anomalies_cli_train_detect(core_graph, settings, tmp_path):
    from kg_service.cli import app

    data = tmp_path / "test_FD001.txt"
    data.write_text(_engine_lines({1, 2, 3}), encoding="utf-8")
    mapping_path = _test_mapping(tmp_path, "cmapss-cli-test")
    ingest_telemetry(core_graph, settings, data, mapping_path)
    runner = CliRunner()

    trained = runner.invoke(app, ["anomalies", "train", "-m", str(mapping_path), "--detector", "baseline",
                                  "--window", str(WINDOW), "--asset-class", "cli-test"])
    assert trained.exit_code == 0, trained.output
    version = json.loads(trained.stdout.strip().splitlines()[-1])["version"]
    detected = runner.invoke(app, ["anomalies", "detect", "-m", str(mapping_path), "--detector",
                                   f"cli-test/{version}"])
    assert detected.exit_code == 0, detected.output
    report = json.loads(detected.stdout.strip().splitlines()[-1])
    stored = core_graph.read("MATCH (e:AnomalyEvent {modelVersion: $version}) RETURN count(e) AS n",
                             {"version": version})
    assert report["detector"] == version
    assert report["windows"] == sum(cycles - WINDOW + 1 for cycles in (31, 49, 126))
    assert stored[0]["n"] == report["events"]


@pytest.mark.neo4j
def test_train_on_causrca_normal_recordings(core_graph, settings):
    from datetime import datetime

    mapping_path = MAPPINGS_DIR / "causrca_long.yaml"
    for day, path in enumerate(sorted(data_file("causrca", "real_op").glob("*.csv")), start=1):
        ingest_telemetry(core_graph, settings, path, mapping_path, time_origin=datetime(2025, 2, day))
    mapping = load_mapping(mapping_path)
    result = train_detector(settings, mapping, kind="baseline", window=WINDOW, asset_class="causrca-normal-test")
    assert 0 < len(result.detector.signals) < len(model_signals(mapping))
    assert result.folder.is_dir()


def _ai4i_slice(tmp_path, rows: int):
    """Write the first `rows` AI4I rows and the AI4I mapping under a source of its own; return both paths."""
    lines = data_file("ai4i2020", "ai4i2020.csv").read_text(encoding="utf-8-sig").splitlines()
    data = tmp_path / "ai4i2020.csv"
    data.write_text("\n".join(lines[:rows + 1]) + "\n", encoding="utf-8")
    text = (MAPPINGS_DIR / "ai4i2020.yaml").read_text(encoding="utf-8")
    mapping_path = tmp_path / "ai4i2020.yaml"
    mapping_path.write_text(text.replace("source: ai4i2020", "source: ai4i-unpartitioned-test").replace(
        "asset_namespace: ai4i2020", "asset_namespace: ai4i-unpartitioned-test"), encoding="utf-8")
    return data, mapping_path


@pytest.mark.neo4j
def test_unpartitioned_mapping_trains_one_series(core_graph, settings, tmp_path):
    data, mapping_path = _ai4i_slice(tmp_path, 120)
    ingest_telemetry(core_graph, settings, data, mapping_path)
    mapping = load_mapping(mapping_path)

    trained = train_detector(settings, mapping, "baseline", window=WINDOW, asset_class="ai4i-unpartitioned-test")
    detected = detect_anomalies(core_graph, current_schema(core_graph), settings, mapping, trained.detector)
    linked = core_graph.read("MATCH (e:AnomalyEvent {modelVersion: $version})-[:FOR_ASSET]->(a) "
                             "RETURN count(DISTINCT a) AS assets", {"version": trained.detector.version})

    assert trained.detector.manifest.training_windows == 120 - WINDOW + 1
    assert detected.windows == 120 - WINDOW + 1
    assert detected.warning is None
    assert linked[0]["assets"] == len({event.asset for event in detected.events})
    assert all(event.asset.startswith(("L", "M", "H")) for event in detected.events)


def _sample_plant_subset(tmp_path, source: str, hours: int = 60):
    """Write the first `hours` rows of AC-1 and P-101 from the sample plant and its mapping under `source`."""
    from tests.conftest import SAMPLE_DIR

    lines = (SAMPLE_DIR / "telemetry.csv").read_text(encoding="utf-8").splitlines()
    kept = [line for line in lines[1:] if line.split(",")[1] == "AC-1"][:hours]
    kept += [line for line in lines[1:] if line.split(",")[1] == "P-101"][:hours]
    data = tmp_path / "telemetry.csv"
    data.write_text("\n".join([lines[0], *kept]) + "\n", encoding="utf-8")
    text = (SAMPLE_DIR / "telemetry.yaml").read_text(encoding="utf-8")
    mapping_path = tmp_path / "telemetry.yaml"
    mapping_path.write_text(text.replace("source: sample-plant-telemetry", f"source: {source}"), encoding="utf-8")
    return data, mapping_path


@pytest.mark.neo4j
def test_empty_signal_named_in_train_error(core_graph, settings, tmp_path):
    data, mapping_path = _sample_plant_subset(tmp_path, "sample-plant-empty-signal-test")
    ingest_telemetry(core_graph, settings, data, mapping_path)
    mapping = load_mapping(mapping_path)

    with pytest.raises(InputDataError) as raised:
        train_detector(settings, mapping, "baseline", window=4, assets=["P-101"], asset_class="empty-signal-test")
    message = str(raised.value)
    assert "P-101: discharge temperature" in message
    assert "--signal" in message
    assert "smaller --window" not in message

    others = ["discharge pressure", "vibration velocity", "motor current"]
    trained = train_detector(settings, mapping, "baseline", window=4, signals=others, assets=["P-101"],
                             asset_class="empty-signal-test")
    assert trained.detector.signals == others


@pytest.mark.neo4j
def test_detect_without_windows_warns(core_graph, settings, tmp_path, caplog):
    from kg_service.cli import app

    data, mapping_path = _sample_plant_subset(tmp_path, "sample-plant-no-windows-test")
    ingest_telemetry(core_graph, settings, data, mapping_path)
    mapping = load_mapping(mapping_path)
    trained = train_detector(settings, mapping, "baseline", window=WINDOW, assets=["AC-1"],
                             asset_class="no-windows-test")

    with caplog.at_level("WARNING", logger="kg_service.anomaly.service"):
        result = detect_anomalies(core_graph, current_schema(core_graph), settings, mapping, trained.detector,
                                  assets=["P-101"])
    assert result.windows == 0
    assert "discharge temperature" in result.warning
    assert "--signal" in result.warning
    assert any("could be scored" in record.getMessage() for record in caplog.records)

    cli = CliRunner().invoke(app, ["anomalies", "detect", "-m", str(mapping_path), "--detector",
                                   f"no-windows-test/{trained.detector.version}", "-a", "P-101"])
    assert cli.exit_code == 0, cli.output
    report = json.loads(cli.stdout.strip().splitlines()[-1])
    assert report["scored"] is False
    assert "discharge temperature" in report["warning"]

    scored = CliRunner().invoke(app, ["anomalies", "detect", "-m", str(mapping_path), "--detector",
                                      f"no-windows-test/{trained.detector.version}", "-a", "AC-1"])
    assert json.loads(scored.stdout.strip().splitlines()[-1])["warning"] is None
