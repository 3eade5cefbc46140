"""A small OpenAI-compatible chat completions server for the endpoint backend's tests.

It serves a real local model through `TransformersBackend` on 127.0.0.1, so that the tests
exercise real HTTP, real retries and real model output. Options make it misbehave on purpose:
`--fail-first N` answers the first N chat requests with 503, `--reject-json-schema` answers a
json_schema response format with 400 (as servers without that feature do). `GET /stats`
returns the requests seen, the largest number in flight at once and the response formats.

    python tests/openai_server.py --model PATH --port 8123 [--fail-first 2] [--reject-json-schema]
"""

from __future__ import annotations

import argparse
import asyncio
import threading

import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route


def build_app(backend, model_name: str, fail_first: int, reject_json_schema: bool) -> Starlette:
    from kg_service.extraction.backend import GenerationRequest

    stats = {"requests": 0, "in_flight": 0, "max_in_flight": 0, "formats": []}
    model_lock = threading.Lock()

    async def models(request: Request) -> JSONResponse:
        return JSONResponse({"object": "list", "data": [{"id": model_name, "object": "model"}]})

    async def report(request: Request) -> JSONResponse:
        return JSONResponse(stats)

    async def chat(request: Request) -> JSONResponse:
        body = await request.json()
        stats["requests"] += 1
        response_format = (body.get("response_format") or {}).get("type", "none")
        stats["formats"].append(response_format)
        if stats["requests"] <= fail_first:
            return JSONResponse({"error": {"message": "overloaded, try again"}}, status_code=503)
        if reject_json_schema and response_format == "json_schema":
            return JSONResponse({"error": {"message": "response_format json_schema is not supported"}},
                                status_code=400)
        stats["in_flight"] += 1
        stats["max_in_flight"] = max(stats["max_in_flight"], stats["in_flight"])
        try:
            generation_request = GenerationRequest(messages=body["messages"],
                                                   max_new_tokens=int(body.get("max_tokens", 64)),
                                                   stop_after_json=response_format != "none")

            def run():
                with model_lock:
                    return backend.generate([generation_request])[0]

            generation = await asyncio.to_thread(run)
        finally:
            stats["in_flight"] -= 1
        return JSONResponse({
            "id": f"chatcmpl-{stats['requests']}", "object": "chat.completion", "model": model_name,
            "choices": [{"index": 0, "message": {"role": "assistant", "content": generation.text},
                         "finish_reason": "stop"}],
            "usage": {"prompt_tokens": generation.prompt_tokens, "completion_tokens": generation.completion_tokens,
                      "total_tokens": (generation.prompt_tokens or 0) + (generation.completion_tokens or 0)}})

    return Starlette(routes=[Route("/v1/models", models), Route("/v1/chat/completions", chat, methods=["POST"]),
                             Route("/stats", report)])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", required=True, help="Model folder or GGUF file for TransformersBackend")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--fail-first", type=int, default=0)
    parser.add_argument("--reject-json-schema", action="store_true")
    options = parser.parse_args()

    from kg_service.config import get_settings
    from kg_service.extraction.backends.transformers_backend import TransformersBackend

    settings = get_settings()
    backend = TransformersBackend(options.model, cache_dir=settings.cache_dir, device="cpu", dtype="float32",
                                  batch_size=1)
    app = build_app(backend, "smollm2-test", options.fail_first, options.reject_json_schema)
    uvicorn.run(app, host="127.0.0.1", port=options.port, log_level="warning")


if __name__ == "__main__":
    main()
