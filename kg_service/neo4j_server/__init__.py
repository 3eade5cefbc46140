"""The project's own Neo4j Community server: install from Maven Central, start, stop, status."""

from kg_service.neo4j_server.manager import LocalNeo4j, ServerStatus

__all__ = ["LocalNeo4j", "ServerStatus"]
