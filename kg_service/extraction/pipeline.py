"""Extract validated entities and relations from texts with any `LLMBackend`.

Stable entry points (the evaluation command calls them on gold texts):

    scope = ExtractionScope.from_schema(schema, classes=None, relationship_types=None)
    result = extract_text(text, backend, scope, lang=None)       # -> ChunkExtraction
    results = extract_texts(texts, backend, scope, lang=None)    # one backend batch per attempt
    messages = build_messages(text, scope, lang)                 # the prompt alone

`ChunkExtraction.entities` carry the class local name and character offsets into the text,
`relations` the positions of their two entities, `dropped` every rejected item with its
reason, `raw_answers` every model answer and `attempts` the number of requests made. A
malformed answer is asked again (`max_attempts` requests in all); after the last one the
result is quarantined with the raw answers and the reason, and holds no facts.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence

from kg_service.extraction.answer import MalformedAnswerError, parse_answer
from kg_service.extraction.backend import GenerationRequest, LLMBackend
from kg_service.extraction.grammar import answer_grammar
from kg_service.extraction.prompt import answer_schema, build_messages, detect_language, retry_message
from kg_service.extraction.results import ChunkExtraction, DroppedItem, ExtractedEntity, ExtractedRelation
from kg_service.extraction.scope import ExtractionScope

logger = logging.getLogger(__name__)

DEFAULT_MAX_ATTEMPTS = 2

__all__ = ["ChunkExtraction", "DroppedItem", "ExtractedEntity", "ExtractedRelation", "ExtractionScope",
           "build_messages", "extract_text", "extract_texts"]


def extract_text(text: str, backend: LLMBackend, schema: ExtractionScope, *, lang: str | None = None,
                 max_new_tokens: int = 512, max_attempts: int = DEFAULT_MAX_ATTEMPTS) -> ChunkExtraction:
    """Extract the entities and relations of one text; see the module docstring for the result."""
    return extract_texts([text], backend, schema, lang=lang, max_new_tokens=max_new_tokens,
                         max_attempts=max_attempts)[0]


def extract_texts(texts: Sequence[str], backend: LLMBackend, scope: ExtractionScope, *, lang: str | None = None,
                  max_new_tokens: int = 512, max_attempts: int = DEFAULT_MAX_ATTEMPTS) -> list[ChunkExtraction]:
    """Extract from several texts, sending each attempt's open requests to the backend as one batch."""
    if max_attempts < 1:
        raise ValueError(f"max_attempts must be at least 1, got {max_attempts}")
    schema, grammar = answer_schema(scope), answer_grammar(scope)
    results = [ChunkExtraction(text=text, model_id=backend.model_id, lang=lang or detect_language(text))
               for text in texts]
    conversations = [build_messages(text, scope, result.lang) for text, result in zip(texts, results)]
    pending = list(range(len(texts)))
    reasons: dict[int, str] = {}

    for attempt in range(1, max_attempts + 1):
        if not pending:
            break
        requests = [GenerationRequest(messages=conversations[index], max_new_tokens=max_new_tokens,
                                      json_schema=schema, grammar=grammar) for index in pending]
        generations = backend.generate(requests)
        still_pending = []
        for index, generation in zip(pending, generations):
            result = results[index]
            result.attempts = attempt
            result.raw_answers.append(generation.text)
            try:
                validated = parse_answer(generation.text, result.text, scope)
            except MalformedAnswerError as error:
                reasons[index] = str(error)
                logger.info("malformed answer on attempt %d of %d for text %d: %s", attempt, max_attempts,
                            index, error)
                conversations[index] = [*conversations[index], {"role": "assistant", "content": generation.text},
                                        retry_message(str(error))]
                still_pending.append(index)
                continue
            result.entities = validated.entities
            result.relations = validated.relations
            result.dropped = validated.dropped
        pending = still_pending

    for index in pending:
        result = results[index]
        result.quarantined = True
        result.quarantine_reason = f"no valid answer after {result.attempts} attempts: {reasons[index]}"
        logger.warning("quarantined text %d: %s", index, result.quarantine_reason)
    return results
