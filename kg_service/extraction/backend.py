"""The one interface every language-model backend implements, and a scripted backend for tests.

Extraction, natural-language questions and the evaluation commands only see `LLMBackend`:

    backend = create_backend(settings)          # kg_service.extraction.backends
    [answer] = backend.generate([GenerationRequest(messages=[{"role": "user", "content": "..."}])])
    answer.text

Backends: a local transformers model (folder, GGUF file or hub id), an OpenAI-compatible HTTP
endpoint (vLLM, Ollama, llama.cpp's server, TGI, hosted APIs) and llama.cpp through
llama-cpp-python. `ScriptedBackend` replays fixed answers so that unit tests of prompts and
parsing need no model; pipeline tests also run a real one.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol, runtime_checkable

logger = logging.getLogger(__name__)

ChatMessage = dict[str, str]
"""One chat turn: {"role": "system" | "user" | "assistant", "content": "..."}."""


@dataclass(frozen=True)
class GenerationRequest:
    """One prompt to answer: chat messages, a token limit and an optional JSON schema for the answer.

    `grammar` is an optional GBNF grammar that is stricter than the schema. A backend that decodes
    under GBNF (llama.cpp) uses it instead of `json_schema`; the others ignore it.
    """

    messages: list[ChatMessage]
    max_new_tokens: int = 512
    json_schema: dict[str, Any] | None = None
    temperature: float = 0.0
    stop_after_json: bool = True
    grammar: str | None = None


@dataclass(frozen=True)
class Generation:
    """One model answer with its token counts and the time it took."""

    text: str
    prompt_tokens: int | None = None
    completion_tokens: int | None = None
    seconds: float = 0.0
    metadata: dict[str, Any] = field(default_factory=dict)


@runtime_checkable
class LLMBackend(Protocol):
    """A language model that answers a batch of chat requests, in order."""

    name: str
    """Backend kind: "transformers", "openai", "llama-cpp" or "scripted"."""

    model_id: str
    """The model's identity as recorded in provenance (path, hub id or served model name)."""

    def generate(self, requests: Sequence[GenerationRequest]) -> list[Generation]:
        """Answer each request; the result list has one Generation per request, in order."""
        ...


class ScriptedBackend:
    """Replay fixed answers, in order or computed from the request, for unit tests.

    Usage:
        backend = ScriptedBackend(['{"entities": [], "relations": []}'])
        backend = ScriptedBackend(lambda request: '{"entities": []}')
    """

    name = "scripted"

    def __init__(self, answers: Sequence[str] | Callable[[GenerationRequest], str], model_id: str = "scripted") -> None:
        self.model_id = model_id
        self._answers = answers if callable(answers) else list(answers)
        self._position = 0
        self.requests: list[GenerationRequest] = []

    def generate(self, requests: Sequence[GenerationRequest]) -> list[Generation]:
        """Return the next scripted answer for each request and remember the requests."""
        generations = []
        for request in requests:
            started = time.perf_counter()
            self.requests.append(request)
            if callable(self._answers):
                text = self._answers(request)
            else:
                if self._position >= len(self._answers):
                    raise IndexError(f"ScriptedBackend ran out of answers after {self._position} requests; "
                                     "give it more answers or a function")
                text = self._answers[self._position]
                self._position += 1
            generations.append(Generation(text=text, seconds=time.perf_counter() - started))
        return generations
