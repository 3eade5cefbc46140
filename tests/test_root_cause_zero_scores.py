"""Root-cause tables show 0, not NaN, for an evidence source that found nothing for a candidate.

On the sample plant, the precedence source finds no work order before an overheating that involves
the air filter or the intake system, so their breakdowns have no precedence entry. Notebook 01
showed NaN there while notebook 02, through the client, showed 0.
"""

from __future__ import annotations

import pytest

from kg_service.client import KGClient
from kg_service.reasoning.rootcause import rank_root_causes
from tests.conftest import load_sample_plant

pytestmark = pytest.mark.neo4j

NO_PRECEDENCE = ["Air Filter", "Intake System"]


@pytest.fixture(scope="module")
def plant(store, settings):
    return load_sample_plant(store, settings)


@pytest.fixture(scope="module")
def direct(plant):
    with KGClient(store=plant) as client:
        yield client


def test_breakdown_lacks_precedence(plant):
    # The case behind the NaN: a candidate whose breakdown has no precedence part.
    result = rank_root_causes(plant, "AC-3", failure_mode="Overheating")
    assert "precedence" in result.sources
    for name in NO_PRECEDENCE:
        candidate = next(item for item in result.candidates if item.name("en") == name)
        assert "precedence" not in {part.source for part in candidate.breakdown}


def test_client_fills_missing_source_zero(direct):
    causes = direct.root_causes(asset="AC-3", failure_mode="Overheating", limit=10)
    table = causes.candidates.set_index("label")
    for name in NO_PRECEDENCE:
        assert table.loc[name, "precedence"] == 0.0
    assert not table[causes.sources].isna().any().any()
