#!/usr/bin/env bash
# The main job: set up everything, start Neo4j, load the ontology and the sample plant, serve
# GraphQL and print an example root-cause answer. Arguments go to `kg-service quickstart`
# (for example --exit, or --source DATA=MAPPING to load your own files).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/bootstrap.sh
exec .venv/bin/kg-service quickstart "$@"
