"""The published GraphQL schema (docs/schema.graphql) matches the code."""

from __future__ import annotations

from kg_service.api.schema import build_schema
from tests.conftest import ROOT


def test_schema_doc_is_current():
    published = (ROOT / "docs" / "schema.graphql").read_text(encoding="utf-8")
    current = build_schema().as_str() + "\n"
    assert published == current, "docs/schema.graphql is stale: run 'kg-service graphiql sdl docs/schema.graphql'"
