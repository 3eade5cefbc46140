"""Local generation with llama.cpp through llama-cpp-python, batched and grammar-constrained.

A request with a GBNF grammar is decoded under it. A request with only a JSON schema is decoded
under the grammar that llama.cpp's converter builds from the schema, so the answer always parses
and uses only the enum values the schema allows. A request with neither, but with
`stop_after_json`, is constrained to some JSON object. Requests are formatted with the model's
own chat template and decoded by `BatchedDecoder`: up to `batch_size` prompts at once as
parallel sequences that share their common prefix, which stays cached for the next call.
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
    """A GGUF model run by llama.cpp in this process.

    `n_ctx` bounds one prompt plus its answer. `batch_size` prompts are decoded together, and
    `keep_prefixes(n)` keeps the prompt prefixes of n prompt families cached at once.
    """

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
        if batch_size < 1:
            raise ValueError(f"batch_size must be at least 1, got {batch_size}")
        self.model_id = str(path)
        self.batch_size = batch_size
        self.n_ctx = n_ctx
        self.seed = seed
        self._n_threads = n_threads or os.cpu_count()
        self._grammars: dict[str, str] = {}
        self._lock = threading.Lock()
        started = time.perf_counter()
        gpu_layers = 0 if device == "cpu" else -1
        try:
            # The model's own context only serves tokenization; BatchedDecoder makes the one that generates.
            self._llama = Llama(model_path=str(path), n_ctx=256, n_threads=self._n_threads,
                                n_gpu_layers=gpu_layers, seed=seed, verbose=False)
        except (ValueError, RuntimeError) as error:
            raise ConfigurationError(f"llama.cpp could not load {path}: {error}") from error
        self._formatter = _chat_formatter(self._llama)
        self._decoder = self._new_decoder(prefix_slots=1)
        logger.info("loaded %s with llama.cpp in %.1f s (batches of %d)", path.name, time.perf_counter() - started,
                    batch_size)

    def _new_decoder(self, prefix_slots: int) -> Any:
        from kg_service.extraction.backends.llama_batch import BatchedDecoder

        # Room for the cached prefixes and one full batch. Each sequence still takes at most n_ctx tokens.
        return BatchedDecoder(self._llama, n_ctx=self.n_ctx * (prefix_slots + 1), max_sequences=self.batch_size,
                              prefix_slots=prefix_slots, n_threads=self._n_threads, sequence_tokens=self.n_ctx)

    def keep_prefixes(self, count: int) -> None:
        """Keep the cached prompt prefixes of `count` prompt families, so that alternating families reuse theirs.

        With one slot, two callers with different system prompts that take turns would each
        evaluate their whole prompt again on every call.
        """
        if count < 1:
            raise ValueError(f"count must be at least 1, got {count}")
        with self._lock:
            self._decoder.close()
            self._decoder = self._new_decoder(prefix_slots=count)

    def count_tokens(self, text: str) -> int:
        """Return the number of tokens of `text` without special tokens."""
        return len(self._llama.tokenize(text.encode("utf-8"), add_bos=False, special=False))

    def _grammar(self, request: GenerationRequest) -> str | None:
        """Return the GBNF text for the request: its own grammar, its JSON schema's, any JSON object's, or none."""
        from llama_cpp import llama_grammar

        if request.grammar is not None:
            return request.grammar
        if request.json_schema is not None:
            key = json.dumps(request.json_schema, sort_keys=True)
            if key not in self._grammars:
                self._grammars[key] = llama_grammar.json_schema_to_gbnf(key)
            return self._grammars[key]
        return llama_grammar.JSON_GBNF if request.stop_after_json else None

    def _prompt_tokens(self, request: GenerationRequest) -> list[int]:
        formatted = self._formatter(messages=request.messages)
        add_bos = not getattr(formatted, "added_special", False)
        return self._llama.tokenize(formatted.prompt.encode("utf-8"), add_bos=add_bos, special=True)

    def generate(self, requests: Sequence[GenerationRequest]) -> list[Generation]:
        """Generate the answers to the requests in batches of `batch_size`, each under its grammar."""
        from kg_service.extraction.backends.llama_batch import DecodeRequest

        decode_requests = [DecodeRequest(tokens=self._prompt_tokens(request), max_new_tokens=request.max_new_tokens,
                                         grammar=self._grammar(request), temperature=request.temperature,
                                         seed=self.seed) for request in requests]
        started = time.perf_counter()
        with self._lock:
            try:
                results = self._decoder.generate(decode_requests)
            except (ValueError, RuntimeError) as error:
                raise LLMBackendError(f"llama.cpp generation with {self.model_id} failed: {error}") from error
        elapsed = time.perf_counter() - started
        return [Generation(text=self._llama.detokenize(result.tokens).decode("utf-8", errors="replace"),
                           prompt_tokens=len(request.tokens), completion_tokens=len(result.tokens),
                           seconds=elapsed / max(len(requests), 1),
                           metadata={"finish_reason": result.finish_reason,
                                     "cached_prompt_tokens": result.cached_prompt_tokens,
                                     "batch_seconds": elapsed})
                for request, result in zip(decode_requests, results)]


def _chat_formatter(llama: Any) -> Any:
    """Return a formatter of chat messages with the GGUF file's chat template, or ChatML when it has none."""
    from llama_cpp import llama_chat_format

    template = llama.metadata.get("tokenizer.chat_template")
    if not template:
        logger.warning("the GGUF file has no chat template; formatting prompts as ChatML")
        return llama_chat_format.format_chatml

    def token_text(token: int) -> str:
        return llama._model.token_get_text(token) if token != -1 else ""

    return llama_chat_format.Jinja2ChatFormatter(template=template, eos_token=token_text(llama.token_eos()),
                                                 bos_token=token_text(llama.token_bos()),
                                                 stop_token_ids=[llama.token_eos()])
