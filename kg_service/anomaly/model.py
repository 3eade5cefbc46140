"""Masked-reconstruction network on sliding windows: self-supervised training and window scoring.

The network is a 1-D convolutional encoder-decoder over time. Its input is a normalised window
`[signals, window]` in which random entries (single samples of single signals) and random whole
time steps are masked (set to 0), together with the mask itself. It is trained to reconstruct the
masked entries from the unmasked context, so it learns how the signals of normal operation
relate to each other and over time, without labels.

Scoring masks the window `SCORING_PASSES` times, each pass hiding every `SCORING_PASSES`-th time
step, so every sample is reconstructed once from its context. A signal's contribution is its
largest squared reconstruction error in the window, divided by the `SIGNAL_SCALE_QUANTILE`
quantile of that value on the training windows. So 1.0 is a large but normal error, and one bad
sample is not averaged away. The window score is the largest contribution. The threshold is a quantile
of the training window scores (`DetectorManifest.threshold_quantile`).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from kg_service.anomaly.detector import (DEFAULT_THRESHOLD_QUANTILE, MIN_SCALE, SIGNAL_SCALE_QUANTILE,
                                         DetectorManifest, WindowScore, check_window, sliding_windows,
                                         training_data_hash)
from kg_service.errors import ConfigurationError, InputDataError

logger = logging.getLogger(__name__)

WEIGHTS_FILE = "model.pt"
SCORING_PASSES = 4
# Normalised values are clipped to this many training standard deviations, so one broken sensor
# cannot produce an unbounded loss or score.
CLIP_STD = 50.0
SCORING_BATCH = 512
# Smallest per-signal error scale, in squared normalised units. Signals that the network
# reconstructs almost perfectly (constant ones) would otherwise turn rounding noise into scores.
MIN_ERROR_SCALE = 0.01


def _torch():
    try:
        import torch
    except ImportError:
        raise ConfigurationError("the anomaly model needs PyTorch; install it with pip install 'kg-service[anomaly]'") \
            from None
    return torch


def select_device(setting: str) -> str:
    """Return the torch device for `settings.device`: auto picks CUDA when it is available."""
    torch = _torch()
    if setting == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    if setting.startswith("cuda") and not torch.cuda.is_available():
        raise ConfigurationError(f"KG_DEVICE={setting} but CUDA is not available; set KG_DEVICE=cpu or auto")
    return setting


def build_network(signals: int, hidden: int):
    """Return the encoder-decoder: 2 * signals input channels (values and mask), signals output channels."""
    torch = _torch()
    nn = torch.nn
    return nn.Sequential(
        nn.Conv1d(2 * signals, hidden, kernel_size=5, padding=2), nn.GELU(),
        nn.Conv1d(hidden, hidden, kernel_size=5, padding=4, dilation=2), nn.GELU(),
        nn.Conv1d(hidden, hidden, kernel_size=5, padding=8, dilation=4), nn.GELU(),
        nn.Conv1d(hidden, hidden, kernel_size=5, padding=2), nn.GELU(),
        nn.Conv1d(hidden, signals, kernel_size=1))


@dataclass
class TrainingReport:
    """Loss and wall time of each epoch, and the device used."""

    device: str
    epoch_losses: list[float] = field(default_factory=list)
    epoch_seconds: list[float] = field(default_factory=list)
    windows: int = 0


class MaskedReconstructionDetector:
    """A trained masked-reconstruction network that implements the `Detector` protocol."""

    kind = "masked-reconstruction"

    def __init__(self, manifest: DetectorManifest, network, device: str) -> None:
        self.manifest = manifest
        self.version = manifest.version or manifest.content_version()
        self.signals = list(manifest.signals)
        self.window = manifest.window
        self.threshold = manifest.threshold
        self.network = network.to(device).eval()
        self.device = device
        self._center = np.asarray(manifest.center)
        self._scale = np.maximum(np.asarray(manifest.scale), MIN_SCALE)
        self._error_scale = np.asarray(manifest.parameters.get("error_scale", [1.0] * len(self.signals)))
        # Signals that were constant in training are judged by their change, not by the network output:
        # the network cannot learn them, and its output for them drifts when other signals drift.
        self._constant = np.asarray(manifest.scale) <= MIN_SCALE

    def normalise(self, windows: np.ndarray) -> np.ndarray:
        return np.clip((windows - self._center) / self._scale, -CLIP_STD, CLIP_STD).astype(np.float32)

    def score(self, window: np.ndarray) -> WindowScore:
        array = check_window(window, self.window, self.signals)
        scores, contributions = self.score_windows(array[None])
        return WindowScore(float(scores[0]), dict(zip(self.signals, map(float, contributions[0]))),
                           bool(scores[0] > self.threshold))

    def score_windows(self, windows: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        errors = self.reconstruction_errors(windows)
        contributions = errors / self._error_scale
        return contributions.max(axis=1), contributions

    def reconstruction_errors(self, windows: np.ndarray) -> np.ndarray:
        """Return each window's largest squared error per signal `[n, signals]` in normalised units."""
        torch = _torch()
        results = []
        with torch.no_grad():
            for start in range(0, len(windows), SCORING_BATCH):
                batch = torch.from_numpy(self.normalise(np.asarray(windows[start:start + SCORING_BATCH])))
                values = batch.to(self.device).transpose(1, 2)
                squared = torch.zeros_like(values)
                for phase in range(SCORING_PASSES):
                    mask = torch.zeros_like(values)
                    mask[:, :, phase::SCORING_PASSES] = 1.0
                    output = self.network(torch.cat([values * (1 - mask), mask], dim=1))
                    squared += mask * (output - values) ** 2
                errors = squared.amax(dim=2).cpu().numpy()
                if self._constant.any():
                    changed = (batch.numpy()[:, :, self._constant] ** 2).max(axis=1)
                    errors[:, self._constant] = changed
                results.append(errors)
        return np.concatenate(results) if results else np.zeros((0, len(self.signals)))

    def save_weights(self, folder: Path) -> None:
        torch = _torch()
        folder.mkdir(parents=True, exist_ok=True)
        temporary = folder / (WEIGHTS_FILE + ".tmp")
        torch.save(self.network.state_dict(), temporary)
        temporary.replace(folder / WEIGHTS_FILE)

    @classmethod
    def load(cls, folder: Path, manifest: DetectorManifest, settings) -> "MaskedReconstructionDetector":
        torch = _torch()
        device = select_device(settings.device)
        network = build_network(len(manifest.signals), int(manifest.parameters["hidden"]))
        path = folder / WEIGHTS_FILE
        if not path.is_file():
            raise ConfigurationError(f"{path} is missing; train the detector again with 'kg-service anomalies train'")
        network.load_state_dict(torch.load(path, map_location=device, weights_only=True))
        return cls(manifest, network, device)


def _mask(torch, shape, ratio: float, generator):
    """Return a mask `[batch, signals, window]` of random entries plus random whole time steps."""
    entries = (torch.rand(shape, generator=generator) < ratio).float()
    steps = (torch.rand((shape[0], 1, shape[2]), generator=generator) < ratio / 2).float()
    return torch.clamp(entries + steps, max=1.0)


def train_masked_model(series: list[np.ndarray], signals: list[str], asset_class: str, settings, window: int = 32,
                       epochs: int = 5, hidden: int = 32, mask_ratio: float = 0.25, batch_size: int = 64,
                       learning_rate: float = 2e-3, stride: int = 1, max_seconds: float | None = None,
                       threshold_quantile: float = DEFAULT_THRESHOLD_QUANTILE,
                       on_epoch: Callable[[int, float], None] | None = None, threads: int | None = None,
                       ) -> tuple[MaskedReconstructionDetector, TrainingReport]:
    """Train on normal series (each `[n, signals]`, gap-free) and return the detector and a report.

    `max_seconds` stops training after the epoch in which it is exceeded. Seeds come from
    `settings.seed` and the device from `settings.device`. `threads` sets torch's CPU threads.
    On a machine whose cores are busy with other work, 1 thread can be many times faster than
    torch's default, because its worker threads wait for each other.
    """
    torch = _torch()
    if threads is not None:
        torch.set_num_threads(threads)
    usable = [np.asarray(values, dtype=np.float64) for values in series if len(values) >= window]
    if not usable:
        raise InputDataError(f"no training series has at least {window} samples",
                             hint="pass more normal data or a smaller --window")
    device = select_device(settings.device)
    torch.manual_seed(settings.seed)
    generator = torch.Generator().manual_seed(settings.seed)

    stacked = np.concatenate(usable)
    center = np.median(stacked, axis=0)
    scale = np.maximum(stacked.std(axis=0), MIN_SCALE)
    parameters = {"hidden": hidden, "mask_ratio": mask_ratio, "epochs": epochs, "batch_size": batch_size,
                  "learning_rate": learning_rate, "stride": stride, "seed": settings.seed,
                  "scoring_passes": SCORING_PASSES}
    manifest = DetectorManifest(kind="masked-reconstruction", asset_class=asset_class, signals=signals,
                                window=window, threshold=0.0, threshold_quantile=threshold_quantile,
                                center=center.tolist(), scale=scale.tolist(),
                                training_data_hash=training_data_hash(usable, signals), parameters=parameters)
    network = build_network(len(signals), hidden).to(device)
    detector = MaskedReconstructionDetector(manifest, network, device)
    windows = np.concatenate([sliding_windows(values, window)[::stride] for values in usable])
    data = torch.from_numpy(detector.normalise(windows)).transpose(1, 2).contiguous()
    report = TrainingReport(device=device, windows=len(data))
    optimizer = torch.optim.AdamW(network.parameters(), lr=learning_rate, weight_decay=1e-4)
    started = time.perf_counter()

    for epoch in range(epochs):
        network.train()
        epoch_start = time.perf_counter()
        order = torch.randperm(len(data), generator=generator)
        total, batches = 0.0, 0
        for first in range(0, len(data), batch_size):
            batch = data[order[first:first + batch_size]].to(device)
            mask = _mask(torch, tuple(batch.shape), mask_ratio, generator).to(device)
            output = network(torch.cat([batch * (1 - mask), mask], dim=1))
            loss = ((output - batch) ** 2 * mask).sum() / mask.sum().clamp(min=1.0)
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            total += loss.item()
            batches += 1
        report.epoch_losses.append(total / max(batches, 1))
        report.epoch_seconds.append(time.perf_counter() - epoch_start)
        logger.info("epoch %d/%d: masked reconstruction loss %.4f (%.1f s, %s)", epoch + 1, epochs,
                    report.epoch_losses[-1], report.epoch_seconds[-1], device)
        if on_epoch is not None:
            on_epoch(epoch + 1, report.epoch_losses[-1])
        if max_seconds is not None and time.perf_counter() - started > max_seconds:
            logger.info("stopping after epoch %d: training time limit of %.0f s reached", epoch + 1, max_seconds)
            break

    network.eval()
    errors = detector.reconstruction_errors(windows)
    error_scale = np.maximum(np.quantile(errors, SIGNAL_SCALE_QUANTILE, axis=0), MIN_ERROR_SCALE)
    manifest.parameters["error_scale"] = error_scale.tolist()
    manifest.parameters["epochs_run"] = len(report.epoch_losses)
    scores = (errors / error_scale).max(axis=1)
    manifest.threshold = float(np.quantile(scores, threshold_quantile))
    manifest.training_windows = int(len(windows))
    manifest.version = manifest.content_version()
    return MaskedReconstructionDetector(manifest, network, device), report
