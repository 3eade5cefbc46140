"""Settings from environment variables (prefix `KG_`, plus the standard `NEO4J_*`) and `.env`.

`NEO4J_URI` selects an external Neo4j (Docker, a cluster, Aura). When it is unset, kg-service
runs its own Neo4j Community server under `state_dir` and reads the generated password there.
"""

from __future__ import annotations

import difflib
import functools
import io
import logging
import os
from collections.abc import Iterable
from pathlib import Path

from dotenv.parser import parse_stream
from pydantic import AliasChoices, Field, ValidationError, field_validator
from pydantic_settings import BaseSettings, PydanticBaseSettingsSource, SettingsConfigDict

from kg_service.errors import ConfigurationError

PACKAGE_DIR = Path(__file__).resolve().parent
ENV_PREFIX = "KG_"

logger = logging.getLogger(__name__)

# KG_ variables that kg-service, its tests and benchmarks read outside `Settings`, so they are not
# reported as unknown settings.
OTHER_KG_VARIABLES = frozenset({
    "KG_ASK_BACKEND", "KG_ASK_MODEL",  # kg_service.ask.service.AskSettings
    "KG_API_ACCESS_LOG",  # kg_service.api.app.ServerOptions
    "KG_NOTEBOOK_OUTPUT_DIR",  # notebooks/*.ipynb
    "KG_MQTT_TEST_PORT",  # tests/mqtt_fixtures.py
    "KG_WRK_BODY",  # benchmarks/api_latency.py and benchmarks/wrk_graphql.lua
})

# Problems already logged in this process, so that each one is reported once however often the
# settings are read.
_reported_problems: set[tuple[str, ...]] = set()


def find_project_root() -> Path:
    """Return the source checkout that contains `ontology/`, else the current directory."""
    candidate = PACKAGE_DIR.parent
    if (candidate / "ontology").is_dir() and (candidate / "pyproject.toml").is_file():
        return candidate
    return Path.cwd()


class Settings(BaseSettings):
    """All settings of kg-service; each field can be set as `KG_<FIELD>` or in `.env`."""

    model_config = SettingsConfigDict(env_prefix="KG_", env_file=".env", env_file_encoding="utf-8",
                                      extra="ignore", populate_by_name=True)

    neo4j_uri: str | None = Field(default=None, validation_alias=AliasChoices("NEO4J_URI", "KG_NEO4J_URI"),
                                  description="Bolt or neo4j:// URI of an external server; unset runs the local one")
    neo4j_user: str = Field(default="neo4j", validation_alias=AliasChoices("NEO4J_USER", "NEO4J_USERNAME", "KG_NEO4J_USER"))
    neo4j_password: str | None = Field(default=None, validation_alias=AliasChoices("NEO4J_PASSWORD", "KG_NEO4J_PASSWORD"))
    neo4j_database: str = Field(default="neo4j", validation_alias=AliasChoices("NEO4J_DATABASE", "KG_NEO4J_DATABASE"))

    state_dir: Path = Field(default_factory=lambda: find_project_root() / ".kg",
                            description="Folder for the local Neo4j (jars, data, logs, password) and telemetry Parquet")
    cache_dir: Path = Field(default_factory=lambda: find_project_root() / ".kg" / "cache",
                            description="Folder for downloaded Neo4j jars and the compiled launcher, shared by state folders")
    bolt_host: str = "127.0.0.1"
    bolt_port: int = Field(default=7687, ge=1, le=65535)
    neo4j_heap: str = Field(default="1g", description="JVM -Xmx for the local Neo4j")
    neo4j_page_cache: str = Field(default="256m", description="Neo4j page cache size for the local server")
    neo4j_start_timeout_s: float = Field(default=180.0, gt=0)

    query_timeout_s: float = Field(default=60.0, gt=0, description="Server-side timeout of each transaction, seconds")
    batch_size: int = Field(default=1000, ge=1, le=1_000_000, description="Rows per UNWIND write transaction")
    ontology_files: list[Path] = Field(default_factory=lambda: [find_project_root() / "ontology" / "kg-core.ttl"])
    data_dir: Path = Field(default_factory=lambda: find_project_root().parent / "shared" / "data",
                           description="Folder of the real reference data sets (mwo2kg/, causrca/, ...) that the "
                                       "evaluations fall back to, such as the MWO2KG training split")

    mqtt_port: int = Field(default=1883, ge=1, le=65535,
                           description="Port of the MQTT broker on 127.0.0.1 that scripts/mosquitto.sh starts and "
                                       "'kg-service telemetry listen|replay' connect to without --broker")

    api_host: str = "127.0.0.1"
    api_port: int = Field(default=8000, ge=1, le=65535)
    api_retry_s: float = Field(default=5.0, ge=0, le=300,
                               description="How long the API retries a Neo4j transaction that failed on a transient "
                                           "error or an unreachable server before it answers with the error, seconds")
    debug: bool = Field(default=False, description="Show internal error details in GraphQL responses")
    anonymous_role: str = Field(default="reader", description="Role of GraphQL requests without a credential")
    jwt_secret: str | None = Field(default=None, min_length=32,
                                   description="HS256 secret for JWT bearer tokens, at least 32 bytes (RFC 7518 "
                                               "section 3.2); unset rejects JWTs")
    jwt_audience: str | None = Field(default=None, description="Required `aud` claim of JWTs; unset accepts tokens "
                                                               "without one")
    jwt_issuer: str | None = Field(default=None, description="Required `iss` claim of JWTs; unset does not check it")
    log_level: str = "INFO"

    llm_backend: str = Field(default="auto", description="Extraction and question backend: auto, transformers, openai, "
                                                         "llama-cpp or scripted")
    llm_model: str | None = Field(default=None, description="Model folder, GGUF file or hub id for local backends; model "
                                                            "name for an OpenAI-compatible endpoint; unset picks the "
                                                            "best installed model")
    llm_base_url: str | None = Field(default=None, description="Base URL of an OpenAI-compatible endpoint (vLLM, Ollama, "
                                                               "llama.cpp server, TGI), for example http://127.0.0.1:8080/v1")
    llm_api_key: str | None = Field(default=None, description="API key sent as a Bearer token to the endpoint")
    llm_timeout_s: float = Field(default=120.0, gt=0, description="Timeout of one request to the endpoint, seconds")
    llm_max_retries: int = Field(default=3, ge=0, le=20, description="Retries of a failed endpoint request, with backoff")
    llm_concurrency: int = Field(default=4, ge=1, le=256, description="Requests in flight to the endpoint at once")
    llm_batch_size: int = Field(default=4, ge=1, le=1024, description="Prompts per batch in local generation")
    llm_max_new_tokens: int = Field(default=512, ge=16, le=32768, description="Token limit of one model answer")
    chunk_tokens: int = Field(default=384, ge=16, le=32768, description="Hard token limit of one document chunk")

    device: str = Field(default="auto", description="Torch device for models: auto (CUDA when present), cpu, cuda, "
                                                    "cuda:N")
    seed: int = Field(default=20261204, description="Seed for model training and sampling")

    @field_validator("log_level")
    @classmethod
    def _check_log_level(cls, value: str) -> str:
        upper = value.upper()
        if upper not in {"DEBUG", "INFO", "WARNING", "ERROR"}:
            raise ValueError(f"log_level must be DEBUG, INFO, WARNING or ERROR, got {value!r}")
        return upper

    @field_validator("anonymous_role")
    @classmethod
    def _check_anonymous_role(cls, value: str) -> str:
        roles = ("reader", "analyst", "ontology-editor", "admin")
        if value not in roles:
            raise ValueError(f"anonymous_role must be one of {', '.join(roles)}, got {value!r}")
        return value

    @classmethod
    def settings_customise_sources(cls, settings_cls: type[BaseSettings], init_settings: PydanticBaseSettingsSource,
                                   env_settings: PydanticBaseSettingsSource,
                                   dotenv_settings: PydanticBaseSettingsSource,
                                   file_secret_settings: PydanticBaseSettingsSource
                                   ) -> tuple[PydanticBaseSettingsSource, ...]:
        """Keep the default sources, and log unparsable `.env` lines and unknown KG_ variables first."""
        env_file = getattr(dotenv_settings, "env_file", None)
        file_variables = {}
        for path in env_file_paths(env_file):
            file_variables[path] = read_env_file_names(path)
        warn_unknown_variables(os.environ, file_variables)
        return init_settings, env_settings, dotenv_settings, file_secret_settings

    @property
    def api_keys_file(self) -> Path:
        return self.state_dir / "api_keys.json"

    @property
    def uses_local_server(self) -> bool:
        return not self.neo4j_uri

    @property
    def neo4j_home(self) -> Path:
        return self.state_dir / "neo4j"

    @property
    def telemetry_dir(self) -> Path:
        return self.state_dir / "telemetry"

    @property
    def models_dir(self) -> Path:
        """Return the folder of trained checkpoints and converted models (versioned subfolders)."""
        return self.state_dir / "models"


def setting_variable_names() -> frozenset[str]:
    """Return every variable name, upper-case, that sets a field of `Settings`."""
    names = set()
    for field_name, field in Settings.model_fields.items():
        alias = field.validation_alias
        if isinstance(alias, AliasChoices):
            names.update(str(choice).upper() for choice in alias.choices)
        else:
            names.add(f"{ENV_PREFIX}{field_name.upper()}")
    return frozenset(names)


def env_file_paths(env_file: str | os.PathLike | Iterable[str | os.PathLike] | None) -> list[Path]:
    """Return the existing `.env` files of the `env_file` setting, resolved as pydantic-settings does by default.

    Relative names are read from the working directory; `env_file_depth` (parent folders) is not
    used by `Settings`, so it is not followed here.
    """
    if env_file is None:
        return []
    names = [env_file] if isinstance(env_file, (str, os.PathLike)) else list(env_file)
    paths = [Path(name).expanduser() for name in names]
    return [path.resolve() for path in paths if path.is_file()]


def read_env_file_names(path: Path) -> list[str]:
    """Return the variable names that a `.env` file sets, and log each line that python-dotenv cannot parse.

    python-dotenv (1.2) skips such a line with a warning that names no file, so kg-service filters that
    warning (see `_DotenvParseWarningFilter`) and logs this one with the path in its place.
    """
    try:
        text = path.read_text(encoding="utf-8", errors="replace")
    except OSError as error:
        logger.warning("%s: failed to read the .env file (%s), so its settings are not used", path, error)
        return []

    names = []
    for binding in parse_stream(io.StringIO(text)):
        if binding.key is not None:
            names.append(binding.key)
            continue
        if not binding.error:
            continue

        # Only the first word is shown, because the rest of the line may be a password.
        first_word = binding.original.string.strip().split("=", 1)[0].split(maxsplit=1)
        start_note = f" (starting with {first_word[0][:40]!r})" if first_word else ""
        problem = ("parse", str(path), str(binding.original.line))
        if problem in _reported_problems:
            continue
        _reported_problems.add(problem)
        logger.warning("%s, line %d: not a NAME=value line%s, so it is ignored. Write it as NAME=value (for "
                       "example KG_API_PORT=8000), or start it with # to make it a comment",
                       path, binding.original.line, start_note)
    return names


def warn_unknown_variables(environment: Iterable[str], file_variables: dict[Path, list[str]]) -> None:
    """Log one warning per KG_ variable that is no setting, naming its source and the closest setting.

    Such a variable is still ignored, and the warning explains why it has no effect.
    """
    known = setting_variable_names() | OTHER_KG_VARIABLES
    candidates = sorted(name[len(ENV_PREFIX):] for name in known if name.startswith(ENV_PREFIX))
    sources = [(name, "in the environment") for name in environment]
    sources += [(name, f"in {path}") for path, names in file_variables.items() for name in names]
    for name, source in sources:
        upper = name.upper()
        if not upper.startswith(ENV_PREFIX) or upper in known:
            continue
        problem = ("unknown", name, source)
        if problem in _reported_problems:
            continue
        _reported_problems.add(problem)

        close = difflib.get_close_matches(upper[len(ENV_PREFIX):], candidates, n=1)
        advice = (f"did you mean {ENV_PREFIX}{close[0]}?" if close
                  else "see the settings table in README.md for the names")
        logger.warning("%s (%s) is not a kg-service setting and is ignored; %s", name, source, advice)


class _DotenvParseWarningFilter(logging.Filter):
    """Drop python-dotenv's "could not parse statement" warning, which names no file.

    `read_env_file_names` logs the same problem with the path of the `.env` file.
    """

    def filter(self, record: logging.LogRecord) -> bool:
        return not str(record.msg).startswith("python-dotenv could not parse statement")


logging.getLogger("dotenv.main").addFilter(_DotenvParseWarningFilter())


@functools.lru_cache(maxsize=1)
def get_settings() -> Settings:
    """Return the process-wide settings, read once; raise ConfigurationError naming each invalid variable."""
    try:
        return Settings()
    except ValidationError as error:
        raise ConfigurationError(invalid_settings_message(error)) from None


# Settings whose values an error message must not show.
SECRET_SETTINGS = frozenset({"jwt_secret", "neo4j_password"})


def invalid_settings_message(error: ValidationError) -> str:
    """Return one line per invalid setting: the variable as the user sets it, its value and the rule it breaks."""
    lines = []
    for problem in error.errors():
        name = str(problem["loc"][0]) if problem["loc"] else "?"
        variable = f"KG_{name.upper()}" if name in Settings.model_fields else name
        value = problem.get("input")
        shown = f"={value!r}" if isinstance(value, (str, int, float)) else ""
        if name.lower().removeprefix("kg_") in SECRET_SETTINGS:
            # A secret's value never reaches a log or a terminal; its length is enough to fix it.
            shown = f" (value of {len(value)} characters)" if isinstance(value, str) else ""
        lines.append(f"{variable}{shown}: {problem['msg']}")
    return ("invalid settings: " + "; ".join(lines) + ". Fix them in the environment or in the .env file of "
            "the working directory")
