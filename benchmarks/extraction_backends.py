"""Measure extraction throughput (chunks per second) and peak memory of each LLM backend.

Each configuration runs in its own Python process, so that its peak resident memory
(`ru_maxrss`) covers only that backend: the model load, the schema-guided prompts and the
extraction of the first --chunks texts of a MaintIE gold file through
`kg_service.extraction.pipeline.extract_texts`. The timed part is the extraction alone;
model loading (and the one-time GGUF conversion of the transformers backend) is reported
separately. Configurations:

- `transformers-float32`, `transformers-bfloat16`: TransformersBackend on the CPU;
- `llama-cpp`: LlamaCppBackend (needs `kg-service[llama]`), batched decoding under the answer grammar;
- `openai`: OpenAIBackend against tests/openai_server.py, started on 127.0.0.1 for the run and
  serving the transformers model in float32, so it measures the HTTP path on top of the model.

    .venv/bin/python benchmarks/extraction_backends.py --model smollm2-135m --chunks 8 \
        --configs transformers-float32,llama-cpp --output bench.json

It prints a Markdown table to stdout and logs progress to stderr.
"""

from __future__ import annotations

import argparse
import json
import logging
import resource
import socket
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_GOLD = ROOT.parent / "shared" / "data" / "maintie" / "gold_dev.json"
CONFIGS = ("transformers-float32", "transformers-bfloat16", "llama-cpp", "openai")

logger = logging.getLogger("extraction_backends")


def run_one(config: str, model: str, gold: Path, chunks: int, batch_size: int, max_new_tokens: int) -> dict:
    """Load one backend, extract from `chunks` gold texts and return timing, memory and validity counts."""
    from kg_service.config import get_settings
    from kg_service.evaluation.extraction import load_gold
    from kg_service.extraction.backends import create_backend
    from kg_service.extraction.pipeline import extract_texts
    from kg_service.extraction.scope import ExtractionScope, core_schema

    settings = get_settings()
    texts = [example.text for example in load_gold(gold, chunks).examples]
    scope = ExtractionScope.from_schema(core_schema())
    server = None
    started = time.perf_counter()
    if config.startswith("transformers"):
        backend = create_backend(settings, backend="transformers", model=model, dtype=config.split("-", 1)[1],
                                 batch_size=batch_size)
    elif config == "llama-cpp":
        backend = create_backend(settings, backend="llama-cpp", model=model)
    elif config == "openai":
        from kg_service.extraction.backends import resolve_model

        server, base_url = _start_server(str(resolve_model(model, settings)))
        backend = create_backend(settings, backend="openai", base_url=base_url, model=None)
    else:
        raise SystemExit(f"unknown configuration {config!r}; use {', '.join(CONFIGS)}")
    load_seconds = time.perf_counter() - started

    try:
        started = time.perf_counter()
        results = []
        for start in range(0, len(texts), batch_size):
            results.extend(extract_texts(texts[start:start + batch_size], backend, scope,
                                         max_new_tokens=max_new_tokens))
        seconds = time.perf_counter() - started
    finally:
        if server is not None:
            server.terminate()
            server.wait(timeout=30)
    return {"config": config, "model": model, "chunks": len(texts), "batch_size": batch_size,
            "load_seconds": round(load_seconds, 1), "seconds": round(seconds, 1),
            "chunks_per_second": round(len(texts) / seconds, 4),
            "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024),
            "quarantined": sum(1 for result in results if result.quarantined),
            "entities": sum(len(result.entities) for result in results)}


def _start_server(model: str) -> tuple[subprocess.Popen, str]:
    import httpx

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    process = subprocess.Popen([sys.executable, str(ROOT / "tests" / "openai_server.py"), "--model", model,
                                "--port", str(port)])
    base_url = f"http://127.0.0.1:{port}/v1"
    for _ in range(600):
        try:
            httpx.get(f"{base_url}/models", timeout=1.0)
            return process, base_url
        except httpx.HTTPError:
            time.sleep(0.5)
    process.kill()
    raise SystemExit("the OpenAI-compatible test server did not start")


def main() -> None:
    parser = argparse.ArgumentParser(description="Chunks per second and peak memory of each LLM backend.")
    parser.add_argument("--model", default="smollm2-135m", help="Short model name, GGUF file or model folder")
    parser.add_argument("--gold", type=Path, default=DEFAULT_GOLD, help="MaintIE-format file whose texts are the chunks")
    parser.add_argument("--chunks", type=int, default=8, help="Number of texts to extract from")
    parser.add_argument("--batch-size", type=int, default=4, help="Texts per backend call")
    parser.add_argument("--max-new-tokens", type=int, default=256, help="Token limit of one answer")
    parser.add_argument("--configs", default=",".join(CONFIGS), help="Comma-separated configurations to run")
    parser.add_argument("--output", type=Path, help="Also write the results as a JSON list to this file")
    parser.add_argument("--one", help=argparse.SUPPRESS)
    options = parser.parse_args()
    logging.basicConfig(level=logging.INFO, stream=sys.stderr, format="%(asctime)s %(name)s %(message)s")

    if options.one:
        result = run_one(options.one, options.model, options.gold, options.chunks, options.batch_size,
                         options.max_new_tokens)
        print(json.dumps(result))
        return

    results = []
    for config in options.configs.split(","):
        logger.info("running %s", config)
        command = [sys.executable, __file__, "--one", config, "--model", options.model, "--gold", str(options.gold),
                   "--chunks", str(options.chunks), "--batch-size", str(options.batch_size),
                   "--max-new-tokens", str(options.max_new_tokens)]
        completed = subprocess.run(command, capture_output=True, text=True)
        if completed.returncode != 0:
            logger.error("%s failed: %s", config, completed.stderr[-2000:])
            continue
        results.append(json.loads(completed.stdout.strip().splitlines()[-1]))

    print("| backend | model | chunks | batch | load s | extract s | chunks/s | peak RSS MB | quarantined |")
    print("|---|---|---|---|---|---|---|---|---|")
    for row in results:
        print(f"| {row['config']} | {row['model']} | {row['chunks']} | {row['batch_size']} | {row['load_seconds']} | "
              f"{row['seconds']} | {row['chunks_per_second']} | {row['peak_rss_mb']} | {row['quarantined']} |")
    if options.output:
        options.output.write_text(json.dumps(results, indent=2), encoding="utf-8")


if __name__ == "__main__":
    main()
