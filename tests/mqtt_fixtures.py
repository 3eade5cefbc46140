"""Fixtures for live MQTT tests: a real Mosquitto broker on 127.0.0.1 and small detectors.

The broker runs through scripts/mosquitto.sh on `KG_MQTT_TEST_PORT`, or on a free port that the
operating system picks, with its files under the test state folder.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest

from kg_service.anomaly.detector import WindowScore

ROOT = Path(__file__).resolve().parent.parent
SCRIPT = ROOT / "scripts" / "mosquitto.sh"


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@dataclass
class Broker:
    """A Mosquitto broker started by scripts/mosquitto.sh."""

    port: int
    state_dir: Path

    def _run(self, action: str) -> None:
        env = {**os.environ, "KG_STATE_DIR": str(self.state_dir)}
        result = subprocess.run(["bash", str(SCRIPT), action, str(self.port)], env=env, capture_output=True,
                                text=True, timeout=30)
        assert result.returncode == 0, f"mosquitto.sh {action} failed: {result.stderr}"

    def start(self) -> None:
        self._run("start")

    def stop(self) -> None:
        self._run("stop")

    def restart(self, down_s: float = 0.5) -> None:
        self.stop()
        time.sleep(down_s)
        self.start()


@pytest.fixture(scope="module")
def broker(settings) -> Broker:
    """Start Mosquitto for the tests of one module and stop it afterwards."""
    if shutil.which("mosquitto") is None and not Path("/usr/sbin/mosquitto").exists():
        pytest.skip("mosquitto is not installed; scripts/test.sh installs it with apt-get when run as root")
    port = int(os.environ.get("KG_MQTT_TEST_PORT") or _free_port())
    server = Broker(port, Path(settings.state_dir))
    server.start()
    yield server
    server.stop()


class AlarmFlagDetector:
    """A detector whose anomalies are exactly the samples in which an alarm flag is set.

    Its events can be checked against the alarm intervals of the recording, independently of the
    windowing code. `delay_s` slows each score down to test backpressure.
    """

    version = "alarm-flags-test"
    threshold = 0.5

    def __init__(self, signals: list[str], window: int = 3, delay_s: float = 0.0) -> None:
        self.signals = list(signals)
        self.window = window
        self.delay_s = delay_s

    def score(self, window: np.ndarray) -> WindowScore:
        if self.delay_s:
            time.sleep(self.delay_s)
        newest = window[-1]
        contributions = {name: float(value) for name, value in zip(self.signals, newest)}
        score = float(newest.max())
        return WindowScore(score, contributions, score > self.threshold)

    def score_windows(self, windows: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        newest = windows[:, -1, :]
        return newest.max(axis=1), newest


PROBE_SIGNALS = ["MP_Inactive", "MPA_InitPos", "MPA_toInitPos", "MPA_toWorkPos", "MPA_WorkPos", "MPC_close",
                 "MPC_Closed", "MPC_isOpen", "MPC_open"]


def fit_probe_detector(causrca_root: Path, window: int = 8):
    """Fit the rolling median/MAD baseline on the probe signals of the normal causRCA recordings."""
    from kg_service.anomaly.detector import fit_rolling_mad
    from kg_service.anomaly.live_replay import grid_samples, recorded_readings

    series = [grid_samples(recorded_readings(path)[0], PROBE_SIGNALS)
              for path in sorted((causrca_root / "real_op").glob("*.csv"))]
    return fit_rolling_mad(series, PROBE_SIGNALS, "Equipment", window=window)
