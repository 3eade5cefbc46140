#!/usr/bin/env bash
# Run the test suite. Sets up the environment first; the tests start their own Neo4j
# (state in .kg/test, Bolt port 7697) unless NEO4J_URI points at a server whose database
# they may wipe. Arguments go to pytest.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/bootstrap.sh

# The GraphiQL browser test needs Debian's Chromium and its driver; install them when running as root.
if ! command -v chromium >/dev/null || ! command -v chromedriver >/dev/null; then
    if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
        echo "test: installing chromium and chromium-driver with apt-get" >&2
        apt-get update -qq && apt-get install -y -qq chromium chromium-driver >/dev/null
    else
        echo "test: chromium or chromedriver missing; the GraphiQL browser test will be skipped" >&2
    fi
fi

# Live MQTT tests: Debian's Mosquitto broker, which the tests start themselves on 127.0.0.1
# (tests/mqtt_fixtures.py through scripts/mosquitto.sh). Install it when running as root.
if ! command -v mosquitto >/dev/null && [ ! -x /usr/sbin/mosquitto ]; then
    if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
        echo "test: installing mosquitto with apt-get" >&2
        apt-get update -qq && apt-get install -y -qq mosquitto >/dev/null
    else
        echo "test: mosquitto missing; the live MQTT tests will be skipped" >&2
    fi
fi
exec .venv/bin/python -m pytest "$@"
