"""Access to the property graph in Neo4j: connection, safe identifiers, records and the batched writer."""
