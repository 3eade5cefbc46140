"""Generation through an OpenAI-compatible chat completions endpoint (vLLM, Ollama, llama.cpp, TGI, hosted APIs).

Each request is one POST to `{base_url}/chat/completions`. Requests run in a thread pool of
`concurrency` workers. A 408, 409, 429 or 5xx response, a connection error or a timeout is retried up to
`max_retries` times with exponential backoff (0.5 s, 1 s, 2 s, ... capped at 30 s, or the
server's `Retry-After` when it sends one). The answer format is the request's JSON schema
(`response_format` json_schema), or a JSON object, or free text; a server that rejects
json_schema with a 400 is asked again with json_object for the rest of the backend's life.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import httpx

from kg_service.errors import ConfigurationError, LLMBackendError
from kg_service.extraction.backend import Generation, GenerationRequest

logger = logging.getLogger(__name__)

RESPONSE_FORMATS = ("json_schema", "json_object", "none")
BACKOFF_BASE_S = 0.5
BACKOFF_MAX_S = 30.0
_RETRY_STATUS = frozenset({408, 409, 429}) | frozenset(range(500, 600))


class OpenAIBackend:
    """A chat model behind an OpenAI-compatible HTTP endpoint."""

    name = "openai"

    def __init__(self, base_url: str, *, model: str | None = None, api_key: str | None = None,
                 timeout_s: float = 120.0, max_retries: int = 3, concurrency: int = 4,
                 response_format: str = "json_schema", backoff_base_s: float = BACKOFF_BASE_S,
                 transport: httpx.BaseTransport | None = None) -> None:
        if not base_url.startswith(("http://", "https://")):
            raise ConfigurationError(f"endpoint base URL {base_url!r} is invalid; give an http:// or https:// URL "
                                     "such as http://127.0.0.1:8080/v1")
        if response_format not in RESPONSE_FORMATS:
            raise ConfigurationError(f"response format {response_format!r} is not supported; use one of "
                                     f"{', '.join(RESPONSE_FORMATS)}")
        self.base_url = base_url.rstrip("/")
        self.max_retries = max_retries
        self.concurrency = concurrency
        self.response_format = response_format
        self.backoff_base_s = backoff_base_s
        headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
        self._client = httpx.Client(base_url=self.base_url, headers=headers, timeout=timeout_s, transport=transport,
                                    limits=httpx.Limits(max_connections=concurrency))
        self._format_lock = threading.Lock()
        self.model_id = model or self._served_model()

    def close(self) -> None:
        """Close the HTTP connections."""
        self._client.close()

    def _served_model(self) -> str:
        """Return the first model that the endpoint lists, for servers that serve one model."""
        response = self._send("GET", "/models", None)
        models = response.get("data") or []
        if not models or "id" not in models[0]:
            raise LLMBackendError(f"endpoint {self.base_url} lists no models at /models; set KG_LLM_MODEL to "
                                  "the served model name")
        return str(models[0]["id"])

    def generate(self, requests: Sequence[GenerationRequest]) -> list[Generation]:
        """Send each request, at most `concurrency` at once, and return the answers in request order."""
        if len(requests) <= 1 or self.concurrency == 1:
            return [self._complete(request) for request in requests]
        with ThreadPoolExecutor(max_workers=min(self.concurrency, len(requests)),
                                thread_name_prefix="llm-request") as pool:
            return list(pool.map(self._complete, requests))

    def _body(self, request: GenerationRequest) -> dict[str, Any]:
        body: dict[str, Any] = {"model": self.model_id, "messages": request.messages,
                                "max_tokens": request.max_new_tokens, "temperature": request.temperature}
        if self.response_format == "json_schema" and request.json_schema is not None:
            body["response_format"] = {"type": "json_schema",
                                       "json_schema": {"name": "answer", "schema": request.json_schema}}
        elif self.response_format in ("json_schema", "json_object") and request.stop_after_json:
            body["response_format"] = {"type": "json_object"}
        return body

    def _complete(self, request: GenerationRequest) -> Generation:
        started = time.perf_counter()
        body = self._body(request)
        try:
            data = self._send("POST", "/chat/completions", body)
        except _RejectedFormat as rejected:
            with self._format_lock:
                if self.response_format == "json_schema":
                    logger.warning("endpoint %s rejected response_format json_schema (%s); using json_object",
                                   self.base_url, rejected)
                    self.response_format = "json_object"
            data = self._send("POST", "/chat/completions", self._body(request))
        try:
            text = data["choices"][0]["message"]["content"] or ""
        except (KeyError, IndexError, TypeError) as error:
            raise LLMBackendError(f"endpoint {self.base_url} returned a response without choices[0].message.content: "
                                  f"{str(data)[:200]}") from error
        usage = data.get("usage") or {}
        return Generation(text=text, prompt_tokens=usage.get("prompt_tokens"),
                          completion_tokens=usage.get("completion_tokens"), seconds=time.perf_counter() - started,
                          metadata={"finish_reason": data["choices"][0].get("finish_reason")})

    def _send(self, method: str, path: str, body: dict[str, Any] | None) -> dict[str, Any]:
        """Send one request with retries; return the JSON body of the first successful answer."""
        for attempt in range(self.max_retries + 1):
            retry_after: float | None = None
            try:
                response = self._client.request(method, path, json=body)
            except (httpx.ConnectError, httpx.TimeoutException, httpx.RemoteProtocolError) as error:
                failure = f"{type(error).__name__}: {error}"
            else:
                if response.status_code < 400:
                    try:
                        return response.json()
                    except ValueError as error:
                        raise LLMBackendError(f"endpoint {self.base_url}{path} returned invalid JSON: "
                                              f"{response.text[:200]!r}") from error
                failure = f"HTTP {response.status_code}: {response.text[:200]}"
                if response.status_code == 400 and body and "json_schema" in str(body.get("response_format")):
                    raise _RejectedFormat(failure)
                if response.status_code not in _RETRY_STATUS:
                    raise LLMBackendError(f"endpoint {self.base_url}{path} rejected the request with {failure}; "
                                          "check KG_LLM_MODEL, KG_LLM_API_KEY and the server's log")
                retry_after = _retry_after(response)
            if attempt == self.max_retries:
                raise LLMBackendError(f"endpoint {self.base_url}{path} failed after {attempt + 1} attempts, last "
                                      f"with {failure}; check that the server runs, or raise KG_LLM_MAX_RETRIES "
                                      "or KG_LLM_TIMEOUT_S")
            delay = retry_after if retry_after is not None else min(self.backoff_base_s * 2 ** attempt, BACKOFF_MAX_S)
            logger.warning("endpoint %s%s attempt %d of %d failed (%s); retrying in %.1f s", self.base_url, path,
                           attempt + 1, self.max_retries + 1, failure, delay)
            time.sleep(delay)
        raise AssertionError("unreachable")


class _RejectedFormat(Exception):
    """The server answered 400 to a json_schema response format."""


def _retry_after(response: httpx.Response) -> float | None:
    value = response.headers.get("Retry-After")
    try:
        return min(float(value), BACKOFF_MAX_S) if value is not None else None
    except ValueError:
        return None
