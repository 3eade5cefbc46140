"""neo4j-graphrag adapters: our LLM backends, e5 embeddings and a Neo4j writer that needs no APOC.

`BackendLLM` puts any `LLMBackend` behind neo4j-graphrag's `LLMInterface` (the v1 string call and
the v2 message-list call of `LLMBase`), so `SimpleKGPipeline` and our extraction can run on the
same model object. `E5Embedder` puts the e5 name embeddings behind graphrag's `Embedder`.
`AllowlistNeo4jWriter` replaces graphrag's default writer: neo4j-graphrag 1.22 merges
relationships with `apoc.merge.relationship`, and the project's Neo4j Community server has no
APOC plugin, so the writer uses the dynamic relationship types of Cypher 5.26 instead. It also
rejects any label or relationship type outside the allowlist it is given.

neo4j-graphrag is an optional extra: install it with `pip install 'kg-service[graphrag]'`.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Collection, Sequence
from typing import Any

from kg_service.errors import ConfigurationError, UnknownTermError
from kg_service.extraction.backend import ChatMessage, Generation, GenerationRequest, LLMBackend

try:
    import neo4j
    from neo4j_graphrag.components.kg_writer import KGWriterModel, Neo4jWriter
    from neo4j_graphrag.components.types import LexicalGraphConfig, Neo4jGraph
    from neo4j_graphrag.embeddings.base import Embedder
    from neo4j_graphrag.llm.base import LLMBase
    from neo4j_graphrag.llm.types import LLMResponse
    from neo4j_graphrag.message_history import MessageHistory
    from pydantic import BaseModel, validate_call
except ImportError as error:  # pragma: no cover - exercised only without the extra
    raise ConfigurationError(f"the neo4j-graphrag comparison needs the neo4j-graphrag package ({error}); install "
                             "it with `pip install 'kg-service[graphrag]'`") from error

logger = logging.getLogger(__name__)

_RELATIONSHIP_UPSERT = (
    "UNWIND $rows AS row "
    "MATCH (start:__KGBuilder__ {__tmp_internal_id: row.start_node_id}), "
    "      (end:__KGBuilder__ {__tmp_internal_id: row.end_node_id}) "
    "MERGE (start)-[rel:$(row.type)]->(end) "
    "SET rel += row.properties "
    "RETURN count(rel) AS written"
)


class BackendLLM(LLMBase):
    """A neo4j-graphrag LLM that sends every call to one of our `LLMBackend` objects.

    Each call becomes one `GenerationRequest` with `stop_after_json` set, so llama.cpp constrains
    the answer to a JSON object. `generations` keeps every `Generation` for timing.
    """

    supports_structured_output = False

    def __init__(self, backend: LLMBackend, *, max_new_tokens: int = 384, temperature: float = 0.0) -> None:
        super().__init__(model_name=backend.model_id)
        self.backend = backend
        self.max_new_tokens = max_new_tokens
        self.temperature = temperature
        self.generations: list[Generation] = []

    def invoke(self, input: str | list[Any], message_history: list[Any] | MessageHistory | None = None,
               system_instruction: str | None = None, response_format: Any = None,
               **kwargs: Any) -> LLMResponse:
        """Generate one answer for a prompt string (v1) or a list of chat messages (v2)."""
        messages = _chat_messages(input, message_history, system_instruction)
        request = GenerationRequest(messages=messages, max_new_tokens=self.max_new_tokens,
                                    json_schema=_json_schema(response_format), temperature=self.temperature,
                                    stop_after_json=True)
        [generation] = self.backend.generate([request])
        self.generations.append(generation)
        return LLMResponse(content=generation.text)

    async def ainvoke(self, input: str | list[Any], message_history: list[Any] | MessageHistory | None = None,
                      system_instruction: str | None = None, response_format: Any = None,
                      **kwargs: Any) -> LLMResponse:
        """Run `invoke` in a worker thread, because every backend generates synchronously."""
        return await asyncio.to_thread(self.invoke, input, message_history, system_instruction, response_format)


class E5Embedder(Embedder):
    """A neo4j-graphrag embedder over an object with `embed(texts)` (default: the process-wide e5 model)."""

    def __init__(self, embedder: Any | None = None) -> None:
        super().__init__()
        self._embedder = embedder

    @property
    def embedder(self) -> Any:
        """Return the wrapped embedder, loading the default e5 model on first use."""
        if self._embedder is None:
            from kg_service.extraction.resolution import default_embedder

            self._embedder = default_embedder()
        return self._embedder

    def embed_query(self, text: str) -> list[float]:
        """Embed one text as an e5 passage and return the L2-normalised vector."""
        [row] = self.embedder.embed([text])
        return [float(value) for value in row]


class AllowlistNeo4jWriter(Neo4jWriter):
    """graphrag's Neo4j writer, with relationships merged without APOC and labels checked first.

    `labels` and `relationship_types` are the allowlist for extracted items. The lexical graph's
    own labels and types (from `LexicalGraphConfig`) are always allowed.
    """

    def __init__(self, driver: neo4j.Driver, labels: Collection[str], relationship_types: Collection[str],
                 neo4j_database: str | None = None) -> None:
        super().__init__(driver=driver, neo4j_database=neo4j_database)
        self.labels = frozenset(labels)
        self.relationship_types = frozenset(relationship_types)

    @validate_call
    async def run(self, graph: Neo4jGraph,
                  lexical_graph_config: LexicalGraphConfig = LexicalGraphConfig()) -> KGWriterModel:
        """Check every label and relationship type, then write the graph; nothing is written on a bad one."""
        config = lexical_graph_config
        allowed_labels = self.labels | {config.chunk_node_label, config.document_node_label}
        allowed_types = self.relationship_types | {config.chunk_to_document_relationship_type,
                                                   config.next_chunk_relationship_type,
                                                   config.node_to_chunk_relationship_type}
        for node in graph.nodes:
            if node.label not in allowed_labels:
                raise UnknownTermError(f"graphrag node {node.id!r} has label {node.label!r}, which is not in the "
                                       "extraction scope; build the pipeline schema from the same scope")
        for relationship in graph.relationships:
            if relationship.type not in allowed_types:
                raise UnknownTermError(f"graphrag relationship {relationship.start_node_id!r} -> "
                                       f"{relationship.end_node_id!r} has type {relationship.type!r}, which is not "
                                       "in the extraction scope; build the pipeline schema from the same scope")
        return await super().run(graph, lexical_graph_config)

    def _upsert_relationships(self, rels: list[Any]) -> None:
        rows = [relationship.model_dump() for relationship in rels]
        self.driver.execute_query(_RELATIONSHIP_UPSERT, parameters_={"rows": rows},
                                  database_=self.neo4j_database)


def _chat_messages(input: str | Sequence[Any], message_history: Sequence[Any] | MessageHistory | None,
                   system_instruction: str | None) -> list[ChatMessage]:
    """Build our chat messages from graphrag's prompt, history and system instruction."""
    messages: list[ChatMessage] = []
    if system_instruction:
        messages.append({"role": "system", "content": system_instruction})
    history = message_history.messages if isinstance(message_history, MessageHistory) else message_history
    for message in history or []:
        messages.append({"role": str(message["role"]), "content": str(message["content"])})
    if isinstance(input, str):
        messages.append({"role": "user", "content": input})
    else:
        for message in input:
            messages.append({"role": str(message["role"]), "content": str(message["content"])})
    return messages


def _json_schema(response_format: Any) -> dict[str, Any] | None:
    """Return the JSON schema of a v2 `response_format` (a pydantic model or a schema dict), or None."""
    if response_format is None:
        return None
    if isinstance(response_format, type) and issubclass(response_format, BaseModel):
        return response_format.model_json_schema()
    if isinstance(response_format, dict):
        if response_format.get("type") == "json_object":
            return None
        return response_format.get("json_schema", {}).get("schema", response_format)
    raise ConfigurationError(f"response_format {response_format!r} is not supported; give a pydantic model class "
                             "or a JSON schema dict")
