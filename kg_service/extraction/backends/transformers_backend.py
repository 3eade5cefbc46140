"""Local generation with a transformers causal language model: a folder, a hub id or a GGUF file.

A GGUF file is dequantized once with transformers' GGUF loader (which needs the `gguf` and
`accelerate` packages) and saved as safetensors under `cache_dir/models/converted/`, so later
loads read the converted folder directly. Requests are answered in batches of `batch_size`
with left padding and the tokenizer's chat template, and each answer stops after its first
complete JSON object when the request asks for it.
"""

from __future__ import annotations

import copy
import hashlib
import logging
import os
import shutil
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from kg_service.errors import ConfigurationError, LLMBackendError
from kg_service.extraction.backend import Generation, GenerationRequest
from kg_service.extraction.backends.json_stop import JsonObjectTracker
from kg_service.extraction.models import file_lock

logger = logging.getLogger(__name__)

LLM_EXTRA = "pip install 'kg-service[llm]'"


def _import_torch() -> Any:
    try:
        import torch
        import transformers  # noqa: F401
    except ImportError as error:
        raise ConfigurationError(f"the transformers backend needs torch and transformers ({error}); install "
                                 f"them with `{LLM_EXTRA}`") from error
    return torch


def resolve_device(device: str) -> str:
    """Return the torch device for the `device` setting: auto picks CUDA when present, else CPU."""
    torch = _import_torch()
    if device == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    if device.startswith("cuda") and not torch.cuda.is_available():
        raise ConfigurationError(f"device {device!r} was requested but torch sees no CUDA device; set "
                                 "KG_DEVICE=cpu or auto")
    if device != "cpu" and not device.startswith("cuda"):
        raise ConfigurationError(f"device {device!r} is not supported; use auto, cpu, cuda or cuda:N")
    return device


def resolve_dtype(dtype: str, device: str) -> Any:
    """Return the torch dtype: auto is bfloat16 on CUDA (float16 without bf16 support) and float32 on the CPU."""
    torch = _import_torch()
    names = {"bfloat16": torch.bfloat16, "float16": torch.float16, "float32": torch.float32}
    if dtype != "auto":
        if dtype not in names:
            raise ConfigurationError(f"dtype {dtype!r} is not supported; use auto, bfloat16, float16 or float32")
        return names[dtype]
    if device.startswith("cuda"):
        return torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16
    # NOTE: bfloat16 on the CPU is opt-in (dtype="bfloat16"): on a 2-core AVX512-BF16 machine,
    # SmolLM2-135M generated 40 tokens in 42 s in bfloat16 and 22 s in float32 (one run each, torch 2.15,
    # busy host), so float32 is the CPU default until a benchmark on an idle machine says otherwise.
    return torch.float32


def convert_gguf(gguf_file: Path, cache_dir: Path) -> Path:
    """Dequantize a GGUF file into a safetensors model folder in the cache, once; return the folder.

    The folder name carries the file's name, size and modification time, so a changed file is
    converted again. A lock file keeps two processes from converting the same file at once.
    """
    torch = _import_torch()
    from transformers import AutoModelForCausalLM, AutoTokenizer, GgufConfig

    stat = gguf_file.stat()
    key = hashlib.sha256(f"{gguf_file.resolve()}|{stat.st_size}|{stat.st_mtime_ns}".encode()).hexdigest()[:12]
    target = cache_dir / "models" / "converted" / f"{gguf_file.stem}-{key}"
    if (target / "config.json").is_file():
        return target
    with file_lock(target.with_name(target.name + ".lock")):
        if (target / "config.json").is_file():
            return target
        started = time.perf_counter()
        logger.info("converting %s to safetensors in %s (once)", gguf_file, target)
        try:
            tokenizer = AutoTokenizer.from_pretrained(gguf_file.parent, gguf_file=gguf_file.name)
            model = AutoModelForCausalLM.from_pretrained(gguf_file.parent, gguf_file=gguf_file.name,
                                                         dtype=torch.bfloat16,
                                                         quantization_config=GgufConfig(dequantize=True))
        except ImportError as error:
            raise ConfigurationError(f"loading GGUF file {gguf_file} needs the gguf and accelerate packages "
                                     f"({error}); install them with `{LLM_EXTRA}`") from error
        except (ValueError, OSError, KeyError) as error:
            raise ConfigurationError(f"transformers could not load GGUF file {gguf_file}: {error}. Check that "
                                     "it is a complete GGUF file of a supported architecture") from error
        # The dequantized model is a plain dense model; drop the GGUF quantizer so that it saves.
        model.hf_quantizer = None
        if hasattr(model.config, "quantization_config"):
            del model.config.quantization_config
        partial = target.with_name(target.name + ".partial")
        shutil.rmtree(partial, ignore_errors=True)
        model.save_pretrained(partial)
        tokenizer.save_pretrained(partial)
        os.replace(partial, target)
        logger.info("converted %s in %.1f s", gguf_file.name, time.perf_counter() - started)
    return target


def _json_stopping_criteria(tokenizer: Any, prompt_length: int, row_limits: list[int]) -> Any:
    """Build a StoppingCriteria that ends each row after its first JSON object or at its own token limit."""
    import torch
    from transformers import StoppingCriteria

    class FirstJsonObject(StoppingCriteria):
        def __init__(self) -> None:
            self.trackers = [JsonObjectTracker() for _ in row_limits]

        def __call__(self, input_ids: Any, scores: Any, **kwargs: Any) -> Any:
            done = []
            for row, tracker in enumerate(self.trackers):
                generated = input_ids[row, prompt_length:]
                if tracker.complete or generated.shape[0] >= row_limits[row]:
                    done.append(True)
                    continue
                text = tokenizer.decode(generated, skip_special_tokens=True)
                done.append(tracker.feed(text))
            return torch.tensor(done, dtype=torch.bool, device=input_ids.device)

    return FirstJsonObject()


def _cache_argument() -> str:
    """Return the keyword that passes a key-value cache: `cache` from transformers 5.x, `past_key_values` before."""
    from transformers.generation import utils

    return "cache" if "cache" in getattr(utils, "ALL_CACHE_NAMES", ()) else "past_key_values"


def _common_prefix_length(sequences: list[list[int]]) -> int:
    """Return the length of the longest common prefix of token sequences (the whole one for a single sequence)."""
    first = sequences[0]
    length = len(first)
    for other in sequences[1:]:
        length = min(length, len(other))
        for position in range(length):
            if first[position] != other[position]:
                length = position
                break
    return length


class TransformersBackend:
    """A transformers causal language model answering chat requests in local batches."""

    name = "transformers"

    def __init__(self, model: str | Path, *, cache_dir: Path, device: str = "auto", dtype: str = "auto",
                 batch_size: int = 4, seed: int = 0, hub_offline: bool | None = None,
                 min_prefix_tokens: int = 256) -> None:
        torch = _import_torch()
        from transformers import AutoModelForCausalLM, AutoTokenizer

        self.model_id = str(model)
        self.batch_size = batch_size
        self.min_prefix_tokens = min_prefix_tokens
        self._cached_prefix: tuple[int, ...] | None = None
        self._cache: Any = None
        self.seed = seed
        self.device = resolve_device(device)
        self.dtype = resolve_dtype(dtype, self.device)
        source = self._resolve_source(model, cache_dir)
        offline = hub_offline if hub_offline is not None else os.environ.get("HF_HUB_OFFLINE", "0") not in ("0", "")

        started = time.perf_counter()
        try:
            self.tokenizer = AutoTokenizer.from_pretrained(source, local_files_only=offline)
            self.model = AutoModelForCausalLM.from_pretrained(source, dtype=self.dtype, local_files_only=offline)
        except OSError as error:
            raise ConfigurationError(f"model {self.model_id!r} could not be loaded: {error}. Give a model folder, "
                                     "a GGUF file or a hub id that is cached (HF_HUB_OFFLINE=1 allows only "
                                     "cached ids)") from error
        self.model.to(self.device)
        self.model.eval()
        self.tokenizer.padding_side = "left"
        if self.tokenizer.pad_token is None:
            self.tokenizer.pad_token = self.tokenizer.eos_token
        if not self.tokenizer.chat_template:
            logger.warning("model %s has no chat template; prompts join the messages as 'role: content' lines",
                           self.model_id)
        self._torch = torch
        logger.info("loaded %s on %s in %s in %.1f s", self.model_id, self.device, str(self.dtype).removeprefix(
            "torch."), time.perf_counter() - started)

    @staticmethod
    def _resolve_source(model: str | Path, cache_dir: Path) -> str:
        path = Path(model).expanduser()
        if path.is_file():
            if path.suffix.lower() != ".gguf":
                raise ConfigurationError(f"model file {path} is not a GGUF file; give a .gguf file, a model "
                                         "folder or a hub id")
            return str(convert_gguf(path, cache_dir))
        if path.is_dir():
            if (path / "config.json").is_file():
                return str(path)
            gguf_files = sorted(path.glob("*.gguf"))
            if len(gguf_files) == 1:
                return str(convert_gguf(gguf_files[0], cache_dir))
            raise ConfigurationError(f"model folder {path} has no config.json and {len(gguf_files)} GGUF files; "
                                     "give a transformers model folder or one GGUF file")
        if str(model).startswith(("/", ".", "~")):
            raise ConfigurationError(f"model path {model} does not exist")
        return str(model)

    def count_tokens(self, text: str) -> int:
        """Return the number of tokens of `text` without special tokens."""
        return len(self.tokenizer(text, add_special_tokens=False)["input_ids"])

    def _prompt(self, request: GenerationRequest) -> str:
        if self.tokenizer.chat_template:
            return self.tokenizer.apply_chat_template(request.messages, add_generation_prompt=True, tokenize=False)
        lines = [f"{message['role']}: {message['content']}" for message in request.messages]
        return "\n".join(lines) + "\nassistant:"

    def generate(self, requests: Sequence[GenerationRequest]) -> list[Generation]:
        """Answer the requests; requests with other sampling settings go in other batches.

        When the prompts of a group share a long first part (the schema-guided system prompt
        and worked example of extraction), that part is computed once and its key-value cache is
        reused, and the requests run one at a time. Otherwise they run in padded batches of
        `batch_size`.
        """
        results: list[Generation | None] = [None] * len(requests)
        groups: dict[tuple[float, bool], list[int]] = {}
        for index, request in enumerate(requests):
            groups.setdefault((request.temperature, request.stop_after_json), []).append(index)
        for indices in groups.values():
            group = [requests[index] for index in indices]
            prompt_ids = [self.tokenizer(self._prompt(request), add_special_tokens=False)["input_ids"]
                          for request in group]
            prefix_length = _common_prefix_length(prompt_ids)
            if prefix_length >= self.min_prefix_tokens:
                generations = [self._generate_with_prefix(request, ids, prefix_length)
                               for request, ids in zip(group, prompt_ids)]
            else:
                generations = []
                for start in range(0, len(group), self.batch_size):
                    generations.extend(self._generate_batch(group[start:start + self.batch_size]))
            for index, generation in zip(indices, generations):
                results[index] = generation
        return [generation for generation in results if generation is not None]

    def _prefix_cache(self, prefix: tuple[int, ...]) -> Any:
        """Return the key-value cache of `prefix`, computing it when it differs from the last one."""
        if self._cached_prefix != prefix:
            from transformers import DynamicCache

            torch = self._torch
            cache = DynamicCache()
            with torch.inference_mode():
                ids = torch.tensor([prefix], device=self.device)
                output = self.model(input_ids=ids, use_cache=True, **{_cache_argument(): cache})
                cache = getattr(output, "cache", None) or output.past_key_values
            self._cached_prefix = prefix
            self._cache = cache
            logger.debug("cached a prompt prefix of %d tokens", len(prefix))
        return self._cache

    def _generate_with_prefix(self, request: GenerationRequest, prompt_ids: list[int],
                              prefix_length: int) -> Generation:
        torch = self._torch
        started = time.perf_counter()
        cached = self._cached_prefix
        if cached is not None and len(cached) < len(prompt_ids) and tuple(prompt_ids[:len(cached)]) == cached:
            # The last batch's shared part still fits, so later batches of one extraction reuse it.
            prefix_length = len(cached)
        # Keep at least one prompt token outside the cache, because generate needs an input to start from.
        prefix_length = min(prefix_length, len(prompt_ids) - 1)
        cache = copy.deepcopy(self._prefix_cache(tuple(prompt_ids[:prefix_length])))
        input_ids = torch.tensor([prompt_ids], device=self.device)
        options = self._options([request], prompt_length=len(prompt_ids))
        with torch.inference_mode():
            try:
                output = self.model.generate(input_ids=input_ids, attention_mask=torch.ones_like(input_ids),
                                             **{_cache_argument(): cache}, **options)
            except RuntimeError as error:
                raise LLMBackendError(f"generation with {self.model_id} failed: {error}") from error
        tokens = output[0, len(prompt_ids):][:request.max_new_tokens]
        return Generation(text=self.tokenizer.decode(tokens, skip_special_tokens=True), prompt_tokens=len(prompt_ids),
                          completion_tokens=int((tokens != self.tokenizer.pad_token_id).sum()),
                          seconds=time.perf_counter() - started,
                          metadata={"batch_size": 1, "cached_prompt_tokens": prefix_length,
                                    "dtype": str(self.dtype).removeprefix("torch.")})

    def _options(self, batch: list[GenerationRequest], prompt_length: int) -> dict[str, Any]:
        """Return the generate() keyword arguments for a batch of requests with one sampling setting."""
        limits = [request.max_new_tokens for request in batch]
        options: dict[str, Any] = {"max_new_tokens": max(limits), "pad_token_id": self.tokenizer.pad_token_id}
        if batch[0].temperature > 0:
            self._torch.manual_seed(self.seed)
            options.update(do_sample=True, temperature=batch[0].temperature)
        else:
            options.update(do_sample=False, temperature=None, top_p=None, top_k=None)
        if batch[0].stop_after_json:
            options["stopping_criteria"] = [_json_stopping_criteria(self.tokenizer, prompt_length, limits)]
        return options

    def _generate_batch(self, batch: list[GenerationRequest]) -> list[Generation]:
        torch = self._torch
        started = time.perf_counter()
        prompts = [self._prompt(request) for request in batch]
        inputs = self.tokenizer(prompts, return_tensors="pt", padding=True, add_special_tokens=False).to(self.device)
        prompt_length = inputs["input_ids"].shape[1]
        options = self._options(batch, prompt_length)

        try:
            with torch.inference_mode():
                output = self.model.generate(**inputs, **options)
        except RuntimeError as error:
            raise LLMBackendError(f"generation with {self.model_id} failed on a batch of {len(batch)} requests: "
                                  f"{error}") from error
        seconds = time.perf_counter() - started

        generations = []
        for row, request in enumerate(batch):
            tokens = output[row, prompt_length:][:request.max_new_tokens]
            text = self.tokenizer.decode(tokens, skip_special_tokens=True)
            completion_tokens = int((tokens != self.tokenizer.pad_token_id).sum())
            prompt_tokens = int(inputs["attention_mask"][row].sum())
            generations.append(Generation(text=text, prompt_tokens=prompt_tokens, completion_tokens=completion_tokens,
                                          seconds=seconds, metadata={"batch_size": len(batch),
                                                                     "dtype": str(self.dtype).removeprefix("torch.")}))
        return generations
