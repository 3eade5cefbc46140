#!/usr/bin/env bash
# Start, stop or check a local Mosquitto MQTT broker for live telemetry.
#
#   scripts/mosquitto.sh start|stop|status [PORT]
#
# The broker listens on 127.0.0.1:PORT only, allows anonymous clients and keeps no persistence.
# Without PORT, the script uses the KG_MQTT_PORT setting as kg-service reads it (the environment,
# then the .env file of the working directory, default 1883). That needs the project's .venv;
# without it, only the environment variable is read. The generated config, log and pid file live
# in $KG_STATE_DIR/mosquitto-PORT (default .kg/mosquitto-PORT; this path is read from the
# environment only). Debian: apt-get install mosquitto.
set -euo pipefail

action="${1:-}"
root="$(cd "$(dirname "$0")/.." && pwd)"

# Print the KG_MQTT_PORT setting, or exit with kg-service's message when a setting is invalid.
mqtt_port_setting() {
    local python="$root/.venv/bin/python"
    if [ ! -x "$python" ]; then
        echo "${KG_MQTT_PORT:-1883}"
        return 0
    fi
    "$python" - <<'PYTHON'
import sys

from kg_service.config import get_settings
from kg_service.errors import ConfigurationError

try:
    print(get_settings().mqtt_port)
except ConfigurationError as error:
    sys.exit(f"error: {error}")
PYTHON
}

if [ -n "${2:-}" ]; then
    port="$2"
else
    port="$(mqtt_port_setting)"
fi
state_dir="${KG_STATE_DIR:-$root/.kg}"
dir="$state_dir/mosquitto-$port"
pid_file="$dir/mosquitto.pid"

usage() {
    echo "usage: $0 start|stop|status [PORT]" >&2
    exit 2
}

broker_pid() {
    if [ -f "$pid_file" ] && kill -0 "$(cat "$pid_file")" 2>/dev/null; then
        cat "$pid_file"
    fi
}

listening() {
    (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null
}

start() {
    if [ -n "$(broker_pid)" ]; then
        echo "mosquitto already runs on 127.0.0.1:$port (pid $(broker_pid))"
        return 0
    fi
    binary="$(command -v mosquitto || true)"
    [ -z "$binary" ] && [ -x /usr/sbin/mosquitto ] && binary=/usr/sbin/mosquitto
    if [ -z "$binary" ]; then
        echo "mosquitto is not installed; install it with: apt-get install -y mosquitto" >&2
        exit 1
    fi
    if listening; then
        echo "port $port on 127.0.0.1 is already in use by another program; pass another PORT" >&2
        exit 1
    fi

    mkdir -p "$dir"
    # QoS 1 messages for a slow subscriber wait in the broker's queue; 100000 bounds its memory
    # while leaving room for the subscriber's flow control (the default of 1000 drops sooner).
    cat > "$dir/mosquitto.conf" <<EOF
listener $port 127.0.0.1
allow_anonymous true
persistence false
max_queued_messages 100000
log_dest file $dir/mosquitto.log
log_type error
log_type warning
log_type notice
pid_file $pid_file
user $(id -un)
EOF
    rm -f "$pid_file"
    "$binary" -c "$dir/mosquitto.conf" -d

    for _ in $(seq 1 100); do
        if listening; then
            echo "mosquitto runs on 127.0.0.1:$port (pid $(broker_pid), config $dir/mosquitto.conf)"
            return 0
        fi
        sleep 0.1
    done
    echo "mosquitto did not start listening on 127.0.0.1:$port within 10 s; see $dir/mosquitto.log" >&2
    exit 1
}

stop() {
    pid="$(broker_pid)"
    if [ -z "$pid" ]; then
        echo "mosquitto was not running on port $port"
        return 0
    fi
    kill "$pid"
    for _ in $(seq 1 100); do
        if ! kill -0 "$pid" 2>/dev/null; then
            rm -f "$pid_file"
            echo "mosquitto stopped (port $port)"
            return 0
        fi
        sleep 0.1
    done
    echo "mosquitto (pid $pid) did not stop within 10 s" >&2
    exit 1
}

case "$action" in
    start) start ;;
    stop) stop ;;
    status)
        if [ -n "$(broker_pid)" ]; then
            echo "mosquitto runs on 127.0.0.1:$port (pid $(broker_pid))"
        else
            echo "mosquitto is not running on port $port"
            exit 3
        fi
        ;;
    *) usage ;;
esac
