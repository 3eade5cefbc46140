"""Extraction of graph facts from documents with a language model, guided by the ontology."""
