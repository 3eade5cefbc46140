"""Anomaly detection on telemetry: detectors, training, scoring and anomaly events."""
