#!/usr/bin/env bash
# Run the test suite. Sets up the environment first; the tests start their own Neo4j
# (state in .kg/test, Bolt port 7697) unless NEO4J_URI points at a server whose database
# they may wipe. Arguments go to pytest.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/bootstrap.sh
exec .venv/bin/python -m pytest "$@"
