"""Local generation with llama.cpp through llama-cpp-python, with grammar-constrained JSON.

A request with a JSON schema is decoded under a GBNF grammar built from that schema
(`LlamaGrammar.from_json_schema`), so the answer always parses and uses only the enum values
the schema allows. A request without one, but with `stop_after_json`, is constrained to some
JSON object. The model runs one request at a time: llama-cpp-python's chat API has no batching,
and its context is not safe to share between threads.
"""

from __future__ import annotations

import json
import logging
import os
import threading
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from kg_service.errors import ConfigurationError, LLMBackendError
from kg_service.extraction.backend import Generation, GenerationRequest

logger = logging.getLogger(__name__)

LLAMA_EXTRA = "pip install 'kg-service[llama]'"


class LlamaCppBackend:
    """A GGUF model run by llama.cpp in this process."""

    name = "llama-cpp"

    def __init__(self, model: str | Path, *, n_ctx: int = 4096, n_threads: int | None = None, seed: int = 0,
                 batch_size: int = 4, device: str = "auto") -> None:
        try:
            from llama_cpp import Llama
        except ImportError as error:
            raise ConfigurationError(f"the llama-cpp backend needs llama-cpp-python ({error}); install it with "
                                     f"`{LLAMA_EXTRA}` (pip compiles llama.cpp from source)") from error
        path = Path(model).expanduser()
        if not path.is_file() or path.suffix.lower() != ".gguf":
            raise ConfigurationError(f"the llama-cpp backend needs a GGUF file, got {model!r}; give the path of a "
                                     ".gguf file or a short name such as smollm2-135m")
        self.model_id = str(path)
        self.batch_size = batch_size
        self._grammars: dict[str, Any] = {}
        self._lock = threading.Lock()
        started = time.perf_counter()
        gpu_layers = 0 if device == "cpu" else -1
        try:
            self._llama = Llama(model_path=str(path), n_ctx=n_ctx, n_threads=n_threads or os.cpu_count(),
                                n_gpu_layers=gpu_layers, seed=seed, verbose=False)
        except (ValueError, RuntimeError) as error:
            raise ConfigurationError(f"llama.cpp could not load {path}: {error}") from error
        logger.info("loaded %s with llama.cpp in %.1f s", path.name, time.perf_counter() - started)

    def use_prompt_cache(self, capacity_bytes: int) -> None:
        """Keep recent model states in RAM, one per prompt family, so that alternating prompts reuse their prefixes.

        llama.cpp reuses the key-value cache only for the common prefix with the previous prompt.
        Two callers with different system prompts that take turns would each evaluate their whole
        prompt again on every call. The cache restores the stored state with the longest common
        prefix instead. A new state replaces the states that share at least half of its tokens as a
        prefix (earlier prompts of the same family), so one family cannot evict the other's state.
        `capacity_bytes` bounds the cached states, logits included.
        """
        if capacity_bytes < 1:
            raise ValueError(f"capacity_bytes must be at least 1, got {capacity_bytes}")
        from llama_cpp import Llama, LlamaRAMCache

        class StateCache(LlamaRAMCache):
            """A RAM cache of one state per prompt family, whose size also counts each state's copy of the logits."""

            @property
            def cache_size(self) -> int:
                return sum(state.llama_state_size + state.scores.nbytes + state.input_ids.nbytes
                           for state in self.cache_state.values())

            def __setitem__(self, key: Any, value: Any) -> None:
                key = tuple(key)
                for old in [old for old in self.cache_state
                            if Llama.longest_token_prefix(old, key) * 2 >= min(len(old), len(key))]:
                    del self.cache_state[old]
                super().__setitem__(key, value)

        with self._lock:
            self._llama.set_cache(StateCache(capacity_bytes=capacity_bytes))

    def count_tokens(self, text: str) -> int:
        """Return the number of tokens of `text` without special tokens."""
        return len(self._llama.tokenize(text.encode("utf-8"), add_bos=False, special=False))

    def _grammar(self, schema: dict[str, Any]) -> Any:
        from llama_cpp import LlamaGrammar

        key = json.dumps(schema, sort_keys=True)
        if key not in self._grammars:
            self._grammars[key] = LlamaGrammar.from_json_schema(key, verbose=False)
        return self._grammars[key]

    def generate(self, requests: Sequence[GenerationRequest]) -> list[Generation]:
        """Answer the requests one after another, each under its JSON grammar."""
        return [self._complete(request) for request in requests]

    def _complete(self, request: GenerationRequest) -> Generation:
        options: dict[str, Any] = {"messages": request.messages, "max_tokens": request.max_new_tokens,
                                   "temperature": request.temperature}
        if request.json_schema is not None:
            options["grammar"] = self._grammar(request.json_schema)
        elif request.stop_after_json:
            options["response_format"] = {"type": "json_object"}
        started = time.perf_counter()
        with self._lock:
            try:
                data = self._llama.create_chat_completion(**options)
            except (ValueError, RuntimeError) as error:
                raise LLMBackendError(f"llama.cpp generation with {self.model_id} failed: {error}") from error
        usage = data.get("usage") or {}
        choice = data["choices"][0]
        return Generation(text=choice["message"]["content"] or "", prompt_tokens=usage.get("prompt_tokens"),
                          completion_tokens=usage.get("completion_tokens"), seconds=time.perf_counter() - started,
                          metadata={"finish_reason": choice.get("finish_reason")})
