"""Arguments that the Python client checks before a request, read by the same rules as the server's."""

from __future__ import annotations

from datetime import date, datetime, timedelta, timezone

import pytest

from kg_service.client import _check_lang, _date_text
from kg_service.errors import QueryError


@pytest.mark.parametrize("lang, expected", [("en", "en"), ("ZH", "zh"), ("zh-CN", "zh"), ("en_US", "en"), (" Zh ", "zh")])
def test_client_lang_upper_case_accepted(lang, expected):
    """KGClient.search(..., lang="ZH") raised "lang must be one of en, zh" while the server accepts it."""
    assert _check_lang(lang) == expected


@pytest.mark.parametrize("lang", ["fr", "", None, 3])
def test_client_lang_unknown_rejected(lang):
    with pytest.raises(QueryError, match="lang must be one of en, zh"):
        _check_lang(lang)


def test_client_aware_utc_midnight_is_a_date():
    """failure_history(since=datetime(2024, 1, 1, tzinfo=timezone.utc)) raised although the server accepts it."""
    assert _date_text(datetime(2024, 1, 1, tzinfo=timezone.utc), "since") == "2024-01-01"
    # Midnight in UTC+8 is 16:00 UTC of the previous day, so the client rejects it, as the server does.
    with pytest.raises(QueryError, match="since must be a date"):
        _date_text(datetime(2024, 1, 1, tzinfo=timezone(timedelta(hours=8))), "since")


def test_client_plain_dates_unchanged():
    assert _date_text(date(2024, 5, 1), "until") == "2024-05-01"
    assert _date_text(datetime(2024, 5, 1), "until") == "2024-05-01"
    assert _date_text("2024-05-01", "until") == "2024-05-01"
    assert _date_text(None, "until") is None


def test_from_settings_closes_unreachable_store(monkeypatch):
    """KGClient.from_settings left the driver open when the configured Neo4j did not answer."""
    import socket

    from kg_service.client import KGClient
    from kg_service.config import Settings
    from kg_service.errors import GraphStoreError
    from kg_service.graph.store import GraphStore

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    closed = []
    original_close = GraphStore.close

    def recording_close(store):
        closed.append(store)
        original_close(store)

    monkeypatch.setattr(GraphStore, "close", recording_close)
    settings = Settings(NEO4J_URI=f"bolt://127.0.0.1:{port}", NEO4J_PASSWORD="unused")

    with pytest.raises(GraphStoreError):
        KGClient.from_settings(settings)
    assert len(closed) == 1
