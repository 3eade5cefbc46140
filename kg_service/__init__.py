"""kg-service: a knowledge-graph reasoning service for manufacturing.

The package contains the graph store access (`kg_service.graph`), the ontology mapping
(`kg_service.ontology`), the local Neo4j server manager (`kg_service.neo4j_server`),
reasoning queries (`kg_service.reasoning`), the GraphQL API (`kg_service.api`) and the
`kg-service` command line (`kg_service.cli`). Source-specific loaders live in the
sibling package `loaders`.
"""

__version__ = "0.1.0"
