#!/usr/bin/env bash
# Run the test suite. Sets up the environment first; the tests start their own Neo4j
# (state in .kg/test, Bolt port 7697) unless NEO4J_URI points at a server whose database
# they may wipe. Arguments go to pytest.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/bootstrap.sh

# Debian packages that some tests use, installed with apt-get when running as root:
# - chromium and chromium-driver: the GraphiQL browser test;
# - mosquitto: the live MQTT tests, which start their own broker on 127.0.0.1
#   (tests/mqtt_fixtures.py through scripts/mosquitto.sh);
# - wrk: the latency benchmark's HTTP client, which tests/test_api_overhead.py runs briefly.
missing=()
{ command -v chromium >/dev/null && command -v chromedriver >/dev/null; } || missing+=(chromium chromium-driver)
{ command -v mosquitto >/dev/null || [ -x /usr/sbin/mosquitto ]; } || missing+=(mosquitto)
command -v wrk >/dev/null || missing+=(wrk)
if [ "${#missing[@]}" -gt 0 ]; then
    if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
        echo "test: installing ${missing[*]} with apt-get" >&2
        apt-get update -qq && apt-get install -y -qq "${missing[@]}" >/dev/null
    else
        echo "test: ${missing[*]} missing; the tests that need them will be skipped" >&2
    fi
fi
exec .venv/bin/python -m pytest "$@"
