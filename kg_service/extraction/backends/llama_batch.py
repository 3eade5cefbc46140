"""Batched decoding of several chat prompts at once on one llama.cpp context, sharing their common prefix.

llama-cpp-python's chat API answers one prompt at a time and samples in Python over the whole
vocabulary at every step. Extraction sends many prompts that share a long first part (the
schema-guided system message and the worked example) and differ in a short text. This decoder
runs them as parallel sequences of one context instead:

- The prompts' common prefix is decoded once into a prefix slot, a sequence that contains only
  the prefix. Every answer's sequence starts as a copy of it (no copy of the data: the cache is
  unified, so the copy only adds a sequence id to the same cells). Up to `prefix_slots` prefixes
  stay resident, so two prompt families that take turns (our extraction and neo4j-graphrag in
  the comparison) do not evaluate their prompts again on every call.
- Each step decodes one new token for every unfinished sequence in one `llama_decode` call. With
  Qwen2.5-Coder-1.5B on a 2-core machine, a step with four sequences took about 2.5 times as long
  as a step with one (about 100 against 40 ms).
- A grammar-constrained sequence takes the greedy token first and checks only that token against
  the grammar. The grammar scans the whole vocabulary only when it rejects the token, which gives
  the same token as masking the vocabulary first.

Usage (LlamaCppBackend does this):

    decoder = BatchedDecoder(llama, n_ctx=12288, max_sequences=4, prefix_slots=2, sequence_tokens=4096)
    [answer] = decoder.generate([DecodeRequest(tokens, max_new_tokens=384, grammar=gbnf_text)])
"""

from __future__ import annotations

import ctypes
import logging
import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from kg_service.errors import LLMBackendError

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class DecodeRequest:
    """One prompt as tokens, its token limit, an optional GBNF grammar, its temperature and its seed."""

    tokens: list[int]
    max_new_tokens: int
    grammar: str | None = None
    temperature: float = 0.0
    seed: int = 0


@dataclass
class DecodeResult:
    """The generated tokens of one request, why it stopped and how many prompt tokens it took from a prefix slot."""

    tokens: list[int] = field(default_factory=list)
    finish_reason: str = "stop"
    cached_prompt_tokens: int = 0


@dataclass
class _PrefixSlot:
    seq_id: int
    tokens: list[int]
    last_used: int


def common_prefix_length(first: Sequence[int], second: Sequence[int]) -> int:
    """Return how many leading tokens two token lists share."""
    length = 0
    for left, right in zip(first, second):
        if left != right:
            break
        length += 1
    return length


class BatchedDecoder:
    """Decode many prompts in parallel sequences of one llama.cpp context, as the module docstring describes."""

    def __init__(self, llama: Any, *, n_ctx: int, max_sequences: int = 4, prefix_slots: int = 1,
                 n_threads: int | None = None, n_batch: int = 512, sequence_tokens: int | None = None) -> None:
        import llama_cpp

        if max_sequences < 1:
            raise ValueError(f"max_sequences must be at least 1, got {max_sequences}")
        if prefix_slots < 1:
            raise ValueError(f"prefix_slots must be at least 1, got {prefix_slots}")
        self._lib = llama_cpp
        self._llama = llama
        self.n_ctx = n_ctx
        self.sequence_tokens = min(sequence_tokens or n_ctx, n_ctx)
        self.max_sequences = max_sequences
        self.n_batch = n_batch
        self._vocab = llama_cpp.llama_model_get_vocab(llama._model.model)
        self._n_vocab = llama_cpp.llama_vocab_n_tokens(self._vocab)

        params = llama_cpp.llama_context_default_params()
        params.n_ctx = n_ctx
        params.n_batch = n_batch
        params.n_ubatch = n_batch
        params.n_seq_max = max_sequences + prefix_slots
        params.kv_unified = True
        if n_threads:
            params.n_threads = n_threads
            params.n_threads_batch = n_threads
        self._ctx = llama_cpp.llama_init_from_model(llama._model.model, params)
        if not self._ctx:
            raise LLMBackendError(f"llama.cpp could not create a context of {n_ctx} tokens for "
                                  f"{max_sequences + prefix_slots} sequences")
        self._memory = llama_cpp.llama_get_memory(self._ctx)
        self._batch = llama_cpp.llama_batch_init(n_batch, 0, params.n_seq_max)
        self._slots = [_PrefixSlot(seq_id=index, tokens=[], last_used=0) for index in range(prefix_slots)]
        self._first_work_seq = prefix_slots
        self._clock = 0

    def close(self) -> None:
        """Free the context and the batch."""
        if self._ctx:
            self._lib.llama_batch_free(self._batch)
            self._lib.llama_free(self._ctx)
            self._ctx = None

    def __del__(self) -> None:  # pragma: no cover - depends on garbage collection
        try:
            self.close()
        except Exception:  # noqa: BLE001 - the interpreter may be shutting down
            pass

    def generate(self, requests: Sequence[DecodeRequest]) -> list[DecodeResult]:
        """Generate the answers to the requests in groups of at most `max_sequences`, run as parallel sequences."""
        results: list[DecodeResult] = []
        for start in range(0, len(requests), self.max_sequences):
            results.extend(self._generate_group(list(requests[start:start + self.max_sequences])))
        return results

    def _generate_group(self, requests: list[DecodeRequest]) -> list[DecodeResult]:
        lib = self._lib
        for request in requests:
            if len(request.tokens) + request.max_new_tokens > self.sequence_tokens:
                raise LLMBackendError(f"a prompt of {len(request.tokens)} tokens plus {request.max_new_tokens} new "
                                      f"tokens does not fit the context of {self.sequence_tokens} tokens; shorten "
                                      "the chunk or raise n_ctx")

        # Step 1: put the group's common prefix (all but each prompt's last token) into a prefix slot.
        shared = min(len(request.tokens) for request in requests) - 1
        for request in requests[1:]:
            shared = min(shared, common_prefix_length(requests[0].tokens, request.tokens))
        need = sum(len(request.tokens) - shared + request.max_new_tokens for request in requests)
        if len(requests) > 1 and shared + need > self.n_ctx:
            half = len(requests) // 2
            return self._generate_group(requests[:half]) + self._generate_group(requests[half:])
        slot, reused = self._prefix_slot(requests[0].tokens[:shared], room=need)

        # Step 2: each request's sequence starts as a copy of the prefix, then gets the rest of its prompt. The
        # last prompt tokens of all sequences go into one final decode, whose logits rows the first step reads.
        results = [DecodeResult(cached_prompt_tokens=reused) for _ in requests]
        samplers: list[_GrammarSampler] = []
        positions: list[int] = []
        body, last = [], []
        for index, request in enumerate(requests):
            seq_id = self._first_work_seq + index
            lib.llama_memory_seq_rm(self._memory, seq_id, -1, -1)
            lib.llama_memory_seq_cp(self._memory, slot.seq_id, seq_id, 0, shared)
            rest = request.tokens[shared:-1]
            body.extend((token, shared + offset, seq_id, False) for offset, token in enumerate(rest))
            last.append((request.tokens[-1], len(request.tokens) - 1, seq_id, True))
            positions.append(len(request.tokens))
        try:
            samplers.extend(_GrammarSampler(lib, self._vocab, self._n_vocab, request) for request in requests)
            self._decode(body)
            logits_rows = self._decode(last)

            # Step 3: one token per unfinished sequence per step, until each stops.
            active = list(range(len(requests)))
            while active:
                step = []
                for index in list(active):
                    request, result = requests[index], results[index]
                    token = samplers[index].sample(self._ctx, logits_rows[self._first_work_seq + index])
                    if lib.llama_vocab_is_eog(self._vocab, token):
                        active.remove(index)
                        continue
                    result.tokens.append(token)
                    if len(result.tokens) >= request.max_new_tokens:
                        result.finish_reason = "length"
                        active.remove(index)
                        continue
                    step.append((token, positions[index], self._first_work_seq + index, True))
                    positions[index] += 1
                if step:
                    logits_rows = self._decode(step)
        finally:
            for sampler in samplers:
                sampler.free()
            for index in range(len(requests)):
                lib.llama_memory_seq_rm(self._memory, self._first_work_seq + index, -1, -1)
        return results

    def _prefix_slot(self, prefix: list[int], room: int) -> tuple[_PrefixSlot, int]:
        """Return the slot that contains `prefix` after decoding what it lacks, and how many of its tokens were cached.

        Other slots are emptied, least recently used first, until `room` more tokens fit in the context.
        """
        self._clock += 1
        best = max(self._slots, key=lambda slot: common_prefix_length(slot.tokens, prefix))
        cached_length = common_prefix_length(best.tokens, prefix)
        if cached_length * 2 < len(prefix):
            # A prompt family of its own: replace the least recently used slot.
            best = min(self._slots, key=lambda slot: slot.last_used)
            cached_length = common_prefix_length(best.tokens, prefix)
        self._lib.llama_memory_seq_rm(self._memory, best.seq_id, cached_length, -1)
        best.tokens = best.tokens[:cached_length]
        for other in sorted(self._slots, key=lambda slot: slot.last_used):
            if sum(len(slot.tokens) for slot in self._slots) + len(prefix) - cached_length + room <= self.n_ctx:
                break
            if other is not best and other.tokens:
                self._lib.llama_memory_seq_rm(self._memory, other.seq_id, -1, -1)
                other.tokens = []
        if cached_length < len(prefix):
            logger.debug("decoding a prompt prefix of %d tokens into slot %d (%d cached)", len(prefix) - cached_length,
                         best.seq_id, cached_length)
            missing = prefix[cached_length:]
            self._decode([(token, cached_length + offset, best.seq_id, False) for offset, token in enumerate(missing)])
        best.tokens = list(prefix)
        best.last_used = self._clock
        return best, cached_length

    def _decode(self, entries: list[tuple[int, int, int, bool]]) -> dict[int, int]:
        """Decode (token, position, sequence, wants logits) entries and return the logits row of each sequence."""
        lib, batch = self._lib, self._batch
        rows: dict[int, int] = {}
        for start in range(0, len(entries), self.n_batch):
            part = entries[start:start + self.n_batch]
            batch.n_tokens = len(part)
            for row, (token, position, seq_id, wants_logits) in enumerate(part):
                batch.token[row] = token
                batch.pos[row] = position
                batch.n_seq_id[row] = 1
                batch.seq_id[row][0] = seq_id
                batch.logits[row] = wants_logits
                if wants_logits:
                    rows[seq_id] = row
            status = lib.llama_decode(self._ctx, batch)
            if status != 0:
                raise LLMBackendError(f"llama_decode failed with status {status} ({len(part)} tokens; status 1 "
                                      "means the context is full: lower the batch size or raise n_ctx)")
        return rows


class _GrammarSampler:
    """Greedy or temperature sampling of one sequence, under its GBNF grammar when it has one."""

    def __init__(self, lib: Any, vocab: Any, n_vocab: int, request: DecodeRequest) -> None:
        import numpy

        self._lib = lib
        self._numpy = numpy
        self._n_vocab = n_vocab
        self._grammar = None
        if request.grammar is not None:
            self._grammar = lib.llama_sampler_init_grammar(vocab, request.grammar.encode("utf-8"), b"root")
            if not self._grammar:
                raise LLMBackendError("llama.cpp could not parse the request's GBNF grammar")
        self._chain = None
        if request.temperature > 0:
            self._chain = lib.llama_sampler_chain_init(lib.llama_sampler_chain_default_params())
            lib.llama_sampler_chain_add(self._chain, lib.llama_sampler_init_temp(request.temperature))
            lib.llama_sampler_chain_add(self._chain, lib.llama_sampler_init_dist(request.seed))
        self._single = (lib.llama_token_data * 1)()
        self._single_array = lib.llama_token_data_array(data=self._single, size=1, selected=-1, sorted=False)
        self._all = numpy.zeros(n_vocab, dtype=[("id", numpy.int32), ("logit", numpy.float32), ("p", numpy.float32)])
        self._ids = numpy.arange(n_vocab, dtype=numpy.int32)

    def sample(self, ctx: Any, row: int) -> int:
        """Pick the next token from the logits of batch row `row` and advance the grammar."""
        lib, numpy = self._lib, self._numpy
        pointer = lib.llama_get_logits_ith(ctx, row)
        logits = numpy.ctypeslib.as_array(pointer, shape=(self._n_vocab,))
        if self._chain is None:
            token = int(logits.argmax())
            if self._grammar is not None and not self._allows(token, float(logits[token])):
                token = self._masked_choice(logits)
        else:
            token = self._masked_choice(logits)
        if self._grammar is not None:
            lib.llama_sampler_accept(self._grammar, token)
        return token

    def _allows(self, token: int, logit: float) -> bool:
        self._single[0].id = token
        self._single[0].logit = logit
        self._single[0].p = 0.0
        self._single_array.size = 1
        self._lib.llama_sampler_apply(self._grammar, ctypes.byref(self._single_array))
        return math.isfinite(self._single[0].logit)

    def _masked_choice(self, logits: Any) -> int:
        """Apply the grammar to the whole vocabulary, then take the greedy or the sampled token."""
        lib = self._lib
        self._all["id"] = self._ids
        self._all["logit"] = logits
        self._all["p"] = 0.0
        array = lib.llama_token_data_array(data=self._all.ctypes.data_as(ctypes.POINTER(lib.llama_token_data)),
                                           size=self._n_vocab, selected=-1, sorted=False)
        if self._grammar is not None:
            lib.llama_sampler_apply(self._grammar, ctypes.byref(array))
        if self._chain is None:
            return int(self._all["id"][self._all["logit"].argmax()])
        lib.llama_sampler_apply(self._chain, ctypes.byref(array))
        return int(self._all["id"][array.selected])

    def free(self) -> None:
        """Free the llama.cpp samplers."""
        if self._grammar is not None:
            self._lib.llama_sampler_free(self._grammar)
            self._grammar = None
        if self._chain is not None:
            self._lib.llama_sampler_free(self._chain)
            self._chain = None
