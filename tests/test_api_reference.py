"""The generated API reference (docs/api-reference.md) matches the published SDL."""

from __future__ import annotations

import subprocess
import sys

from tests.conftest import ROOT


def test_api_reference_is_current():
    result = subprocess.run([sys.executable, str(ROOT / "scripts" / "api_reference.py"), "--check"],
                            capture_output=True, text=True, check=False)
    assert result.returncode == 0, result.stderr


def test_api_reference_lists_every_query():
    from graphql import build_schema

    sdl = (ROOT / "docs" / "schema.graphql").read_text(encoding="utf-8")
    reference = (ROOT / "docs" / "api-reference.md").read_text(encoding="utf-8")
    for name in build_schema(sdl).query_type.fields:
        assert f"### `{name}`" in reference, f"query {name} is missing from docs/api-reference.md"
