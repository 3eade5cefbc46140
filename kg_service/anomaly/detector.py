"""Window detectors: the `Detector` protocol, the rolling median/MAD baseline and checkpoint loading.

A detector scores one window of raw samples, an array of shape `[window, len(signals)]` whose
columns follow `signals` and whose last row is the newest sample. It returns a `WindowScore`:
the window's anomaly score, each signal's contribution to it and whether the score exceeds the
detector's threshold. Both detectors use the same score scale: the maximum over signals of a
per-signal deviation, so a contribution is directly comparable with the threshold.

Checkpoints live in `settings.models_dir / "anomaly" / <asset class> / <version>/` with a
`manifest.json` (`DetectorManifest`) and, for the neural model, its weights. The version is a
hash of the manifest content, so training again on the same data with the same parameters
yields the same version.

Usage::

    detector = load_detector("Equipment/mad-3f2a9c01b7d4", settings)
    result = detector.score(samples[-detector.window:])
    if result.is_anomaly:
        print(max(result.contributions, key=result.contributions.get))
"""

from __future__ import annotations

import hashlib
import json
import logging
from pathlib import Path
from typing import Any, Literal, NamedTuple, Protocol, runtime_checkable

import numpy as np
from pydantic import BaseModel, Field

from kg_service.errors import ConfigurationError, InputDataError

logger = logging.getLogger(__name__)

MANIFEST_FILE = "manifest.json"
# A robust z-score divides by 1.4826 * MAD, which equals the standard deviation for normal data.
MAD_TO_STD = 1.4826
# The local scale of a signal never drops below this share of its standard deviation in the
# training data, so a signal that is constant within a window does not turn every small change
# into an unbounded score.
SCALE_FLOOR_SHARE = 0.25
# Smallest scale of a signal that was constant in the training data.
MIN_SCALE = 1e-6
# The threshold is this quantile of the window scores on the training data.
DEFAULT_THRESHOLD_QUANTILE = 0.995
# Each signal's raw deviation is divided by this quantile of its deviations on the training
# windows, so 1.0 means "as large as the 99th percentile of normal" for every signal. Without it,
# a quantised signal (one that moves in steps much larger than its spread) would dominate every score.
SIGNAL_SCALE_QUANTILE = 0.99


class WindowScore(NamedTuple):
    """Anomaly score of one window, the per-signal contributions and the threshold decision."""

    score: float
    contributions: dict[str, float]
    is_anomaly: bool


@runtime_checkable
class Detector(Protocol):
    """Scores windows of `window` samples of `signals`; trained detectors load with `load_detector`."""

    version: str
    signals: list[str]
    window: int
    threshold: float

    def score(self, window: np.ndarray) -> WindowScore:
        """Score one window of raw samples, shape `[window, len(signals)]`, newest sample last."""
        ...

    def score_windows(self, windows: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Score many windows `[n, window, len(signals)]`; return scores `[n]` and contributions `[n, signals]`."""
        ...


class DetectorManifest(BaseModel):
    """Content of a checkpoint's manifest.json: what a detector needs to score, and where it came from."""

    kind: Literal["rolling-mad", "masked-reconstruction"]
    version: str = ""
    asset_class: str
    signals: list[str] = Field(min_length=1)
    window: int = Field(ge=2)
    threshold: float
    threshold_quantile: float = DEFAULT_THRESHOLD_QUANTILE
    center: list[float] = Field(description="Per-signal median of the training data (normalisation)")
    scale: list[float] = Field(description="Per-signal standard deviation of the training data (normalisation)")
    training_data_hash: str
    training_windows: int = 0
    parameters: dict[str, Any] = Field(default_factory=dict)
    created: str | None = None

    def content_version(self) -> str:
        """Return `<kind>-<12 hex digits>` from everything but `version` and `created`."""
        content = self.model_dump(exclude={"version", "created"})
        digest = hashlib.sha256(json.dumps(content, sort_keys=True).encode("utf-8")).hexdigest()
        return f"{self.kind}-{digest[:12]}"


def check_window(window: np.ndarray, length: int, signals: list[str]) -> np.ndarray:
    """Return `window` as float64, or raise InputDataError when its shape or values do not fit."""
    array = np.asarray(window, dtype=np.float64)
    if array.shape != (length, len(signals)):
        raise InputDataError(f"window has shape {array.shape}, expected ({length}, {len(signals)}) for the signals "
                             f"{signals}", hint="pass the last `window` samples with one column per detector signal")
    if not np.isfinite(array).all():
        bad = [signals[index] for index in np.where(~np.isfinite(array).all(axis=0))[0]]
        raise InputDataError(f"window contains NaN or infinite values in {bad}",
                             hint="skip windows with missing samples or fill them before scoring")
    return array


class RollingMADDetector:
    """Robust baseline: the newest sample's distance from the window's median, in MAD units.

    For each signal, the median and the median absolute deviation (MAD) come from the first
    `window - 1` samples. The robust z-score is `|x - median| / scale`, where scale is
    `1.4826 * MAD` but at least `SCALE_FLOOR_SHARE` times the signal's training standard
    deviation. The contribution is that z-score divided by the signal's `SIGNAL_SCALE_QUANTILE`
    quantile of z-scores on the training windows (at least 1). The window score is the largest
    contribution.
    """

    kind = "rolling-mad"

    def __init__(self, manifest: DetectorManifest) -> None:
        self.manifest = manifest
        self.version = manifest.version or manifest.content_version()
        self.signals = list(manifest.signals)
        self.window = manifest.window
        self.threshold = manifest.threshold
        self._floor = np.maximum(np.asarray(manifest.scale) * SCALE_FLOOR_SHARE, MIN_SCALE)
        self._z_scale = np.asarray(manifest.parameters.get("z_scale", [1.0] * len(self.signals)))

    def score(self, window: np.ndarray) -> WindowScore:
        array = check_window(window, self.window, self.signals)
        scores, contributions = self.score_windows(array[None])
        return WindowScore(float(scores[0]), dict(zip(self.signals, map(float, contributions[0]))),
                           bool(scores[0] > self.threshold))

    def score_windows(self, windows: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        contributions = self.robust_z(windows) / self._z_scale
        return contributions.max(axis=1), contributions

    def robust_z(self, windows: np.ndarray) -> np.ndarray:
        """Return the newest sample's robust z-score per signal, `[n, signals]`."""
        history, newest = windows[:, :-1, :], windows[:, -1, :]
        median = np.median(history, axis=1)
        mad = np.median(np.abs(history - median[:, None, :]), axis=1)
        scale = np.maximum(MAD_TO_STD * mad, self._floor)
        return np.abs(newest - median) / scale


def sliding_windows(values: np.ndarray, window: int) -> np.ndarray:
    """Return a read-only view `[n - window + 1, window, signals]` of every window of `values [n, signals]`."""
    view = np.lib.stride_tricks.sliding_window_view(values, window, axis=0)
    return np.moveaxis(view, -1, 1)


def training_data_hash(series: list[np.ndarray], signals: list[str]) -> str:
    """Return the SHA-256 of the training samples and signal names, to tell checkpoints of other data apart."""
    digest = hashlib.sha256(json.dumps(signals).encode("utf-8"))
    for values in series:
        digest.update(np.ascontiguousarray(values, dtype=np.float64).tobytes())
    return digest.hexdigest()


def fit_rolling_mad(series: list[np.ndarray], signals: list[str], asset_class: str, window: int = 16,
                    threshold_quantile: float = DEFAULT_THRESHOLD_QUANTILE) -> RollingMADDetector:
    """Fit the baseline on normal series (each `[n, signals]`, gap-free); the threshold is a score quantile."""
    usable = [values for values in series if len(values) >= window]
    if not usable:
        raise InputDataError(f"no training series has at least {window} samples",
                             hint="pass more normal data or a smaller --window")
    stacked = np.concatenate(usable)
    center = np.median(stacked, axis=0)
    scale = np.maximum(stacked.std(axis=0), MIN_SCALE)
    manifest = DetectorManifest(kind="rolling-mad", asset_class=asset_class, signals=signals, window=window,
                                threshold=0.0, threshold_quantile=threshold_quantile, center=center.tolist(),
                                scale=scale.tolist(), training_data_hash=training_data_hash(usable, signals))
    detector = RollingMADDetector(manifest)
    z_scores = np.concatenate([detector.robust_z(sliding_windows(values, window)) for values in usable])
    z_scale = np.maximum(np.quantile(z_scores, SIGNAL_SCALE_QUANTILE, axis=0), 1.0)
    manifest.parameters["z_scale"] = z_scale.tolist()
    scores = (z_scores / z_scale).max(axis=1)
    manifest.threshold = float(np.quantile(scores, threshold_quantile))
    manifest.training_windows = int(scores.size)
    manifest.version = manifest.content_version()
    return RollingMADDetector(manifest)


def checkpoint_dir(models_dir: Path, asset_class: str, version: str) -> Path:
    return Path(models_dir) / "anomaly" / asset_class / version


def save_manifest(manifest: DetectorManifest, folder: Path) -> Path:
    """Write manifest.json into `folder` (created when missing) through a temporary file; return its path."""
    folder.mkdir(parents=True, exist_ok=True)
    target = folder / MANIFEST_FILE
    temporary = target.with_suffix(".json.tmp")
    temporary.write_text(manifest.model_dump_json(indent=2), encoding="utf-8")
    temporary.replace(target)
    return target


def save_detector(detector: Detector, models_dir: Path) -> Path:
    """Store a detector's checkpoint under `models_dir/anomaly/<asset class>/<version>/`; return the folder."""
    manifest: DetectorManifest = detector.manifest  # type: ignore[attr-defined]
    folder = checkpoint_dir(models_dir, manifest.asset_class, detector.version)
    if hasattr(detector, "save_weights"):
        detector.save_weights(folder)  # type: ignore[attr-defined]
    save_manifest(manifest, folder)
    logger.info("saved %s detector %s for %s in %s", manifest.kind, detector.version, manifest.asset_class, folder)
    return folder


def resolve_checkpoint(path_or_version: str | Path, models_dir: Path) -> Path:
    """Find a checkpoint folder from a folder path, `<asset class>/<version>`, a version, or an asset class.

    An asset class alone (or `<asset class>/latest`) picks its most recently written checkpoint.
    """
    candidate = Path(path_or_version)
    if (candidate / MANIFEST_FILE).is_file():
        return candidate
    root = Path(models_dir) / "anomaly"
    text = str(path_or_version).strip("/")
    if (root / text / MANIFEST_FILE).is_file():
        return root / text
    asset_class, _, version = text.rpartition("/")
    latest_of = asset_class if version == "latest" else (text if (root / text).is_dir() else None)
    if latest_of:
        manifests = sorted((root / latest_of).glob(f"*/{MANIFEST_FILE}"), key=lambda path: path.stat().st_mtime)
        if manifests:
            return manifests[-1].parent
    matches = sorted(root.glob(f"*/{version}/{MANIFEST_FILE}"))
    if len(matches) == 1:
        return matches[0].parent
    available = sorted(str(path.parent.relative_to(root)) for path in root.glob(f"*/*/{MANIFEST_FILE}"))
    raise ConfigurationError(f"no anomaly detector checkpoint {str(path_or_version)!r} under {root}; available: "
                             f"{available or 'none'}. Train one with 'kg-service anomalies train'")


def load_manifest(folder: Path) -> DetectorManifest:
    path = folder / MANIFEST_FILE
    try:
        return DetectorManifest.model_validate_json(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as error:
        raise ConfigurationError(f"{path}: invalid detector manifest ({error}); train the detector again") from None


def load_detector(path_or_version: str | Path, settings) -> Detector:
    """Load a trained detector from a checkpoint folder, `<asset class>/<version>`, a version or an asset class."""
    folder = resolve_checkpoint(path_or_version, settings.models_dir)
    manifest = load_manifest(folder)
    if manifest.kind == "rolling-mad":
        return RollingMADDetector(manifest)

    from kg_service.anomaly.model import MaskedReconstructionDetector

    return MaskedReconstructionDetector.load(folder, manifest, settings)
