#!/usr/bin/env bash
# Create or update the project's virtual environment in .venv and install kg-service into it.
# Safe to run again: pip skips what is already installed. Java 17 and Maven must be on PATH
# (the local Neo4j is built from Maven Central); they are installed with apt-get when missing.
set -euo pipefail
cd "$(dirname "$0")/.."

if ! command -v java >/dev/null || ! command -v mvn >/dev/null; then
    echo "bootstrap: installing Java 17 and Maven with apt-get" >&2
    apt-get update -qq && apt-get install -y -qq openjdk-17-jdk-headless maven >/dev/null
fi

PYTHON=${PYTHON:-python3}
if [ ! -x .venv/bin/python ]; then
    echo "bootstrap: creating .venv with $($PYTHON --version)" >&2
    "$PYTHON" -m venv .venv
fi

stamp=.venv/.kg-service-installed
if [ ! -f "$stamp" ] || [ pyproject.toml -nt "$stamp" ]; then
    echo "bootstrap: installing kg-service and its test dependencies into .venv" >&2
    .venv/bin/pip install --quiet --disable-pip-version-check -e ".[test,bench]"
    touch "$stamp"
fi
