"""Loaders: one module per kind of source, each turning a source file into graph records.

- `loaders.workorders`: work-order CSV exports (CMMS/ERP) with a declared column mapping;
- `loaders.telemetry`: sensor time series in wide CSV; samples go to Parquet, summaries and
  failure events to the graph;
- `loaders.csv_source`: encoding detection and row reading shared by both;
- `loaders.mapping`: the YAML mapping files that tie source columns to ontology terms.
"""
