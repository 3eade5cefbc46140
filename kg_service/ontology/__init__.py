"""The ontology: parsing OWL/Turtle with rdflib, mapping it to a property-graph schema, storing it in Neo4j."""
