"""Settings from environment variables (prefix `KG_`, plus the standard `NEO4J_*`) and `.env`.

`NEO4J_URI` selects an external Neo4j (Docker, a cluster, Aura). When it is unset, kg-service
runs its own Neo4j Community server under `state_dir` and reads the generated password there.
"""

from __future__ import annotations

import functools
from pathlib import Path

from pydantic import AliasChoices, Field, ValidationError, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from kg_service.errors import ConfigurationError

PACKAGE_DIR = Path(__file__).resolve().parent


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


@functools.lru_cache(maxsize=1)
def get_settings() -> Settings:
    """Return the process-wide settings, read once; raise ConfigurationError naming each invalid variable."""
    try:
        return Settings()
    except ValidationError as error:
        raise ConfigurationError(invalid_settings_message(error)) from None


def invalid_settings_message(error: ValidationError) -> str:
    """Return one line per invalid setting: the variable as the user sets it, its value and the rule it breaks."""
    lines = []
    for problem in error.errors():
        name = str(problem["loc"][0]) if problem["loc"] else "?"
        variable = f"KG_{name.upper()}" if name in Settings.model_fields else name
        value = problem.get("input")
        shown = f"={value!r}" if isinstance(value, (str, int, float)) else ""
        lines.append(f"{variable}{shown}: {problem['msg']}")
    return ("invalid settings: " + "; ".join(lines) + ". Fix them in the environment or in the .env file of "
            "the working directory")
