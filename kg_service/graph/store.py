"""Connection to Neo4j: read queries in READ transactions, writes in managed write transactions.

A single statement goes through the driver's `execute_query`, which sends BEGIN, RUN and PULL
in one network write. A managed transaction of a session (`execute_read`) waits for BEGIN's
answer first: one more round trip per query. Both retry transient errors.

All values reach Cypher as parameters. The only text spliced into queries is labels,
relationship types and property names, which come quoted from `identifiers.quote` after an
ontology allowlist check.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any, TypeVar

from neo4j import (Driver, GraphDatabase, ManagedTransaction, READ_ACCESS, Query, Result, RoutingControl,
                   unit_of_work)
from neo4j.exceptions import AuthError, Neo4jError, ServiceUnavailable

from kg_service.config import Settings
from kg_service.errors import ConfigurationError, GraphStoreError, GraphUnavailableError

if TYPE_CHECKING:
    from kg_service.graph.async_reader import AsyncGraphReader

logger = logging.getLogger(__name__)

# Neo4j's status code for a session or query on a database that the server does not have.
DATABASE_NOT_FOUND = "Neo.ClientError.Database.DatabaseNotFound"

T = TypeVar("T")
Params = Mapping[str, Any]


class GraphStore:
    """A Neo4j driver bound to one database, with read and write helpers.

    Usage::

        with GraphStore.from_settings(get_settings()) as store:
            rows = store.read("MATCH (n:Equipment) RETURN n.id AS id LIMIT $n", {"n": 5})
    """

    def __init__(self, uri: str, user: str, password: str, database: str = "neo4j",
                 query_timeout_s: float | None = 60.0, retry_s: float | None = None, *,
                 local_server: bool = False, connection_timeout_s: float | None = None) -> None:
        """`local_server` marks the project's own Neo4j, so error messages give the advice that fits it.

        `connection_timeout_s` bounds each attempt to open a connection (the driver's default is 30 s).
        """
        self.uri = uri
        self.database = database
        self.query_timeout_s = query_timeout_s
        self.local_server = local_server
        self._auth = (user, password)
        # The driver retries a failed managed transaction for up to 30 s unless `retry_s` sets another limit.
        options: dict[str, Any] = {} if retry_s is None else {"max_transaction_retry_time": retry_s}
        if connection_timeout_s is not None:
            options["connection_timeout"] = connection_timeout_s
        self._driver: Driver = GraphDatabase.driver(uri, auth=self._auth, max_connection_pool_size=50,
                                                   notifications_min_severity="OFF", **options)
        self.query_count = 0

    @classmethod
    def from_settings(cls, settings: Settings, retry_s: float | None = None,
                      connection_timeout_s: float | None = None) -> "GraphStore":
        """Connect to `NEO4J_URI` when set, else to the local server under the state folder.

        `retry_s` bounds how long a failed transaction is retried and `connection_timeout_s` how long
        opening a connection may take (the driver's defaults are 30 s each).
        """
        if settings.neo4j_uri:
            if settings.neo4j_password is None:
                raise ConfigurationError("NEO4J_URI is set but NEO4J_PASSWORD is not; set both to use an external Neo4j")
            return cls(settings.neo4j_uri, settings.neo4j_user, settings.neo4j_password, settings.neo4j_database,
                       settings.query_timeout_s, retry_s, connection_timeout_s=connection_timeout_s)

        from kg_service.neo4j_server import LocalNeo4j

        server = LocalNeo4j(settings)
        if not server.password_file.is_file():
            raise ConfigurationError(
                f"no local Neo4j has been set up under {server.home}; run 'kg-service neo4j start' first, "
                "or set NEO4J_URI, NEO4J_USER and NEO4J_PASSWORD to use another server")
        return cls(server.uri, settings.neo4j_user, server.password(), settings.neo4j_database, settings.query_timeout_s,
                   retry_s, local_server=True, connection_timeout_s=connection_timeout_s)

    def close(self) -> None:
        self._driver.close()

    def __enter__(self) -> "GraphStore":
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def verify(self) -> None:
        """Check that the server accepts a connection and the credentials and has the configured database.

        Raises GraphUnavailableError when the server cannot be reached and GraphStoreError for the
        other failures, each with the setting to check.
        """
        try:
            self._driver.verify_connectivity()
            # verify_connectivity does not open the database, so a missing one would fail only at the first query.
            self._driver.execute_query("RETURN 1", database_=self.database, routing_=RoutingControl.READ)
        except AuthError as error:
            raise GraphStoreError(self._credentials_message(error)) from error
        except (ServiceUnavailable, OSError) as error:
            raise GraphUnavailableError(self._unreachable_message(error)) from error
        except Neo4jError as error:
            if error.code == DATABASE_NOT_FOUND:
                raise GraphStoreError(f"{self._missing_database_message()}.") from error
            raise self.store_error(error, read_only=True) from error

    def _credentials_message(self, error: AuthError) -> str:
        user = self._auth[0]
        # The server's message ends with a period, so it goes in brackets before the advice.
        reason = (error.message or str(error)).rstrip(". ")
        if self.local_server:
            advice = ("Check NEO4J_USER. The local Neo4j's password is generated on its first start and read "
                      "from the password file under KG_STATE_DIR")
        else:
            advice = "Check NEO4J_USER and NEO4J_PASSWORD"
        return f"Neo4j at {self.uri} rejected the credentials of user {user!r} ({reason}). {advice}."

    def _unreachable_message(self, error: Exception) -> str:
        if self.local_server:
            advice = ("Start the local Neo4j with 'kg-service neo4j start' (with the same KG_STATE_DIR and "
                      "KG_BOLT_PORT), or set NEO4J_URI to use another server")
        else:
            advice = ("Check that the server at NEO4J_URI runs and accepts connections from this machine, "
                      "or unset NEO4J_URI to use the local Neo4j that 'kg-service neo4j start' runs")
        return f"Neo4j at {self.uri} is not reachable ({error}). {advice}."

    @property
    def driver(self) -> Driver:
        """The underlying driver, for libraries that take one (rdflib-neo4j, neo4j-graphrag)."""
        return self._driver

    @contextmanager
    def session(self, read_only: bool) -> Iterator[Any]:
        """Open a session on this store's database; READ access when `read_only`."""
        kwargs: dict[str, Any] = {"database": self.database}
        if read_only:
            kwargs["default_access_mode"] = READ_ACCESS
        with self._driver.session(**kwargs) as session:
            yield session

    def read(self, cypher: str, params: Params | None = None) -> list[dict[str, Any]]:
        """Run `cypher` in a READ transaction and return its rows as dicts."""
        return self._query(cypher, params, read_only=True)

    def write(self, cypher: str, params: Params | None = None) -> list[dict[str, Any]]:
        """Run `cypher` in one write transaction and return its rows as dicts."""
        return self._query(cypher, params, read_only=False)

    def _query(self, cypher: str, params: Params | None, read_only: bool) -> list[dict[str, Any]]:
        self.query_count += 1
        # The server aborts a transaction that runs longer, so one heavy request cannot hold a core.
        query = Query(cypher, timeout=self.query_timeout_s) if self.query_timeout_s else Query(cypher)
        try:
            return self._driver.execute_query(query, dict(params or {}), database_=self.database,
                                              routing_=RoutingControl.READ if read_only else RoutingControl.WRITE,
                                              result_transformer_=Result.data)
        except (Neo4jError, ServiceUnavailable) as error:
            raise self.store_error(error, read_only) from error

    def execute_read(self, work: Callable[[ManagedTransaction], T]) -> T:
        """Run `work` in a managed READ transaction (retried by the driver on transient errors)."""
        return self._execute(work, read_only=True)

    def execute_write(self, work: Callable[[ManagedTransaction], T]) -> T:
        """Run `work` in a managed write transaction; an error rolls the whole transaction back."""
        return self._execute(work, read_only=False)

    def _execute(self, work: Callable[[ManagedTransaction], T], read_only: bool) -> T:
        self.query_count += 1
        if self.query_timeout_s:
            # The server aborts a transaction that runs longer, so one heavy request cannot hold a core.
            work = unit_of_work(timeout=self.query_timeout_s)(work)
        try:
            with self.session(read_only=read_only) as session:
                return session.execute_read(work) if read_only else session.execute_write(work)
        except (Neo4jError, ServiceUnavailable) as error:
            raise self.store_error(error, read_only) from error

    def store_error(self, error: Neo4jError | ServiceUnavailable, read_only: bool) -> GraphStoreError:
        """Return the GraphStoreError that reports a failed transaction of this store."""
        if isinstance(error, ServiceUnavailable):
            return GraphUnavailableError(f"Neo4j at {self.uri} is not reachable: {error}")
        kind = "read query failed" if read_only else "write transaction failed and was rolled back"
        if error.code == DATABASE_NOT_FOUND:
            return GraphStoreError(f"{kind}: {self._missing_database_message()}")
        return GraphStoreError(f"{kind}: {error.code}: {error.message}")

    def _missing_database_message(self) -> str:
        if self.local_server:
            # Neo4j Community has one user database, so the local server cannot create another.
            return (f"NEO4J_DATABASE is {self.database!r}, but the local Neo4j (Community Edition) has only the "
                    "database 'neo4j'. Unset NEO4J_DATABASE to use it")
        return (f"NEO4J_DATABASE is {self.database!r}, but Neo4j at {self.uri} has no such database. Create it on "
                "that server (CREATE DATABASE needs Enterprise Edition or Aura), or unset NEO4J_DATABASE to use "
                "the default database 'neo4j'")

    def open_async_reader(self, retry_s: float | None = None) -> "AsyncGraphReader":
        """Open a reader on the asyncio driver, bound to the running event loop; close it on that loop.

        `retry_s` bounds how long a failed read is retried (the driver's default is 30 s).
        """
        from kg_service.graph.async_reader import AsyncGraphReader

        return AsyncGraphReader(self, self._auth, retry_s)

    def run_schema(self, statements: list[str]) -> None:
        """Run schema statements (constraints, indexes), each in its own auto-commit transaction."""
        with self.session(read_only=False) as session:
            for statement in statements:
                try:
                    session.run(Query(statement)).consume()
                except Neo4jError as error:
                    raise GraphStoreError(f"schema statement failed: {statement}: {error.message}") from error

    def wipe(self) -> None:
        """Delete every node and relationship, in transactions of 10,000 nodes so large graphs fit in memory."""
        logger.warning("deleting every node and relationship in %s (database %s)", self.uri, self.database)
        with self.session(read_only=False) as session:
            session.run("MATCH (n) CALL (n) { DETACH DELETE n } IN TRANSACTIONS OF 10000 ROWS").consume()

    def counts(self) -> tuple[int, int]:
        """Return the number of nodes and relationships in the database."""
        row = self.read("CALL () { MATCH (n) RETURN count(n) AS nodes } "
                        "CALL () { MATCH ()-[r]->() RETURN count(r) AS rels } RETURN nodes, rels")[0]
        return row["nodes"], row["rels"]
