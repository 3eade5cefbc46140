"""Command groups of the `kg-service` CLI that features contribute (evaluation and others)."""
