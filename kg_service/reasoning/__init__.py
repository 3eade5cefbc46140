"""Reasoning queries over the graph: entity lookup, failure history and root-cause ranking."""
