"""The ASGI application: GraphQL with GraphiQL at /graphql and a health check at /health."""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from contextlib import asynccontextmanager
from typing import Any

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, RedirectResponse
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles
from strawberry.asgi import GraphQL
from strawberry.http import GraphQLRequestData
from strawberry.types import ExecutionResult

from kg_service.api.auth import ApiKeyStore, AuthenticationError, Authenticator, RejectedCredential
from kg_service.api.json_post import answer_json_post, is_json_post, view_supports_short_path
from kg_service.api.loaders import entity_loader
from kg_service.api.graphiql import ASSET_ROUTE, assets_dir, assets_installed, offline_page
from kg_service.api.operation_choice import missing_operation_name
from kg_service.api.schema import build_schema
from kg_service.config import Settings
from kg_service.graph.async_reader import AsyncGraphReader
from kg_service.graph.store import GraphStore
from kg_service.ontology.schema import GraphSchema

logger = logging.getLogger(__name__)

ACCESS_LOGGER = "uvicorn.access"

GRAPHQL_PATH = "/graphql"

# /health needs no credential, so its response names no server address. The log records the cause.
HEALTH_ERROR_MESSAGE = "the graph database is not available; the server log names the cause"


class SchemaCache:
    """The ontology allowlist read from Neo4j, re-read at most every `max_age_s` seconds.

    Usage::

        cache = SchemaCache(store)
        cache.get().label("Equipment")
    """

    def __init__(self, store: GraphStore, max_age_s: float = 30.0) -> None:
        self.store = store
        self.max_age_s = max_age_s
        self._schema: GraphSchema | None = None
        self._loaded_at = 0.0
        self._lock = threading.Lock()

    def fresh(self) -> GraphSchema | None:
        """Return the cached allowlist while it is younger than `max_age_s`, else None (without reading Neo4j)."""
        with self._lock:
            if self._schema is None or time.monotonic() - self._loaded_at > self.max_age_s:
                return None
            return self._schema

    def get(self) -> GraphSchema:
        with self._lock:
            if self._schema is None or time.monotonic() - self._loaded_at > self.max_age_s:
                self._schema = GraphSchema.from_store(self.store)
                self._loaded_at = time.monotonic()
            return self._schema


class KGGraphQL(GraphQL):
    """strawberry's ASGI view with the graph store in each request's context.

    With `json_post_shortcut`, a POST of one JSON object takes the short path of
    `kg_service.api.json_post`, which runs the same context, schema and result processing.
    """

    def __init__(self, store: GraphStore, debug: bool, authenticator: Authenticator, offline_ide: bool = False,
                 json_post_shortcut: bool = True) -> None:
        super().__init__(build_schema(debug=debug), graphql_ide="graphiql")
        self.store = store
        # Opened and closed by the app's lifespan, on the loop that serves the requests.
        self.reader: AsyncGraphReader | None = None
        self.schema_cache = SchemaCache(store)
        self.authenticator = authenticator
        self.offline_ide = offline_ide
        # The short path returns a single result, so it must not run when @defer/@stream can make several.
        self.json_post_shortcut = (json_post_shortcut and not self.schema.config.enable_experimental_incremental_execution
                                   and view_supports_short_path(self))

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if self.json_post_shortcut and scope["type"] == "http" and is_json_post(scope):
            await answer_json_post(self, scope, receive, send, fallback=super().__call__)
        else:
            await super().__call__(scope, receive, send)

    async def run(self, request: Any, *args: Any, **kwargs: Any) -> Any:
        """Run strawberry's view, returning 401 with a WWW-Authenticate header for a rejected credential.

        strawberry turns an HTTPException into a plain-text response without headers.
        """
        try:
            return await super().run(request, *args, **kwargs)
        except RejectedCredential as error:
            if self.is_websocket_request(request):
                raise
            return PlainTextResponse(error.reason, status_code=error.status_code, headers=error.headers)

    async def execute_single(self, request: Any, request_adapter: Any, sub_response: Any, context: Any,
                             root_value: Any, request_data: GraphQLRequestData) -> ExecutionResult:
        """Execute one operation, or reject a document that has several operations and no operationName."""
        error = missing_operation_name(request_data.query, request_data.operation_name)
        if error is not None:
            return ExecutionResult(data=None, errors=[error])
        return await super().execute_single(request, request_adapter, sub_response, context, root_value,
                                            request_data)

    @property
    def graphql_ide_html(self) -> str:
        html = super().graphql_ide_html
        return offline_page(html) if self.offline_ide else html

    async def get_context(self, request: Any, response: Any) -> dict[str, Any]:
        try:
            principal = self.authenticator.principal(request.headers)
        except AuthenticationError as error:
            # A credential that was sent but is invalid fails the whole request, reads included.
            raise RejectedCredential(error) from None
        return {"request": request, "response": response, "store": self.store, "reader": self.reader,
                "schema_cache": self.schema_cache, "authenticator": self.authenticator, "principal": principal,
                "entity_loader": entity_loader(self.store, self.reader)}


class KGStarlette(Starlette):
    """Starlette, with a POST to /graphql handed straight to the GraphQL view.

    The view handles every error of a GraphQL request itself, so Starlette's error and exception
    middleware and its router have nothing to add there, and they cost about a twentieth of a
    small request's time. Other requests (GET /graphql for GraphiQL, /health, the page assets,
    the lifespan) go through Starlette as usual. An exception that escapes the view reaches
    uvicorn, which logs it and answers 500 as Starlette's middleware would.

    Usage::

        KGStarlette(graphql_view, routes=[...], lifespan=lifespan)
    """

    def __init__(self, graphql_view: Any, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.graphql_view = graphql_view

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] == "http" and scope["method"] == "POST" and scope["path"] == GRAPHQL_PATH:
            scope["app"] = self
            await self.graphql_view(scope, receive, send)
        else:
            await super().__call__(scope, receive, send)


class ServerOptions(BaseSettings):
    """HTTP server settings that `kg_service.config.Settings` does not hold, read from KG_API_* variables."""

    model_config = SettingsConfigDict(env_prefix="KG_API_", env_file=".env", env_file_encoding="utf-8",
                                      extra="ignore")

    access_log: bool = Field(False, description="Log one line per HTTP request (uvicorn's access log). Off by "
                                                "default because it costs time on every request")


def create_app(settings: Settings, store: GraphStore | None = None, access_log: bool | None = None,
               json_post_shortcut: bool = True) -> Starlette:
    """Create the app; it opens its own GraphStore from `settings` unless one is given.

    `access_log` (default: KG_API_ACCESS_LOG, off) keeps uvicorn's one line per request.
    `json_post_shortcut=False` sends every request through strawberry's full view.
    """
    own_store = store is None
    # A request must not wait the driver's default 30 s of retries while Neo4j is down.
    store = store or GraphStore.from_settings(settings, retry_s=settings.api_retry_s)
    access_log = ServerOptions().access_log if access_log is None else access_log

    @asynccontextmanager
    async def lifespan(app: Starlette):
        # uvicorn configures its loggers before the lifespan starts, so this level is the one that applies.
        logging.getLogger(ACCESS_LOGGER).setLevel(logging.INFO if access_log else logging.WARNING)
        logger.info("GraphQL API starting on Neo4j %s (access log %s)", store.uri, "on" if access_log else "off")
        graphql.reader = store.open_async_reader(retry_s=settings.api_retry_s)
        try:
            yield
        finally:
            reader, graphql.reader = graphql.reader, None
            await reader.close()
        if own_store:
            store.close()
        logger.info("GraphQL API stopped")

    async def health(request: Request) -> JSONResponse:
        try:
            await asyncio.to_thread(store.verify)
        except Exception as error:  # noqa: BLE001 - the health check reports any failure
            logger.warning("health check failed: %s", error)
            return JSONResponse({"status": "error", "neo4j": "unavailable", "message": HEALTH_ERROR_MESSAGE},
                                status_code=503)
        return JSONResponse({"status": "ok", "neo4j": "available"})

    async def root(request: Request) -> RedirectResponse:
        return RedirectResponse("/graphql")

    offline_ide = assets_installed(settings.cache_dir)
    if not offline_ide:
        logger.warning("GraphiQL assets are not installed in %s, so the GraphiQL page loads them from unpkg.com; "
                       "run 'kg-service graphiql install' for offline use", settings.cache_dir)
    authenticator = Authenticator(ApiKeyStore(settings.api_keys_file), settings.jwt_secret, settings.anonymous_role,
                                  settings.jwt_audience, settings.jwt_issuer)
    graphql = KGGraphQL(store, settings.debug, authenticator, offline_ide, json_post_shortcut)
    routes = [Route("/", root), Route("/health", health), Route(GRAPHQL_PATH, graphql), Mount(GRAPHQL_PATH, graphql)]
    if offline_ide:
        routes.append(Mount(ASSET_ROUTE, StaticFiles(directory=assets_dir(settings.cache_dir))))
    return KGStarlette(graphql, routes=routes, lifespan=lifespan)


def app_from_settings() -> Starlette:
    """Create the app from the process's settings; the factory that `kg-service serve --workers N` runs per worker."""
    from kg_service.config import get_settings
    from kg_service.logging_setup import configure_logging

    settings = get_settings()
    # A worker is a fresh interpreter, so the CLI's logging set-up does not reach it.
    configure_logging(settings.log_level)
    return create_app(settings)
