"""Design checks after ontology and shape edits, the wall-thickness shape and design input edge cases."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from rdflib import URIRef
from starlette.testclient import TestClient

from kg_service.api.app import create_app
from kg_service.commands.design import read_design_file
from kg_service.errors import InputDataError, OntologyError, QueryError
from kg_service.ingest import load_ontologies
from kg_service.ontology import editing
from kg_service.ontology.editing import SHAPES_ONTOLOGY_IRI, OntologyEditor
from kg_service.ontology.model import KG_ONTOLOGY_IRI
from kg_service.reasoning.design import (DesignInput, DimensionInput, PartChoice, Quantity, check_design,
                                         stored_shapes)
from loaders.rdf_instances import load_rdf_instances
from tests.conftest import CORE_ONTOLOGY, ROOT, SAMPLE_DIR, wipe

pytestmark = pytest.mark.neo4j

PRODUCT = "product:sample-plant:ac-3-cooling-module"
BEARING = "part:sample-plant:fan-bearing-6204"
SHAPES = "https://w3id.org/kg-service/shapes#"
WHO = {"why": "regression test", "author": "tester"}
SH_SPARQL = URIRef("http://www.w3.org/ns/shacl#sparql")
SH_SELECT = URIRef("http://www.w3.org/ns/shacl#select")
KG_SERVICE = str(Path(sys.executable).parent / "kg-service")

BROKEN_SPARQL_SHAPE = '''
kgsh:BrokenShape a sh:NodeShape ;
    sh:targetClass kg:Design ;
    sh:sparql [ a sh:SPARQLConstraint ;
                sh:message "broken"@en ;
                sh:select "SELECT $this WHERE { garbage" ] .
'''

WALL = "CoolingModuleWallThicknessShape"


@pytest.fixture(scope="module")
def designs(store, settings):
    wipe(store)
    load_ontologies(store, [CORE_ONTOLOGY])
    load_rdf_instances(store, settings, SAMPLE_DIR / "designs.ttl")
    return store


@pytest.fixture
def edits(designs, settings):
    """The sample designs for a test that edits the ontology or the shapes; the edits are undone afterwards."""
    yield designs
    renamed = designs.read("MATCH (n:RollingBearing) RETURN count(n) AS n")[0]["n"]
    if renamed:
        # The test stopped before it renamed the class back, so the graph is loaded again.
        wipe(designs)
        load_ontologies(designs, [CORE_ONTOLOGY])
        load_rdf_instances(designs, settings, SAMPLE_DIR / "designs.ttl")
        return
    designs.write("MATCH (n) WHERE n.ontology = $iri DETACH DELETE n", {"iri": SHAPES_ONTOLOGY_IRI})
    designs.write("MATCH (o:Ontology {iri: $iri}) DETACH DELETE o", {"iri": SHAPES_ONTOLOGY_IRI})
    designs.write("MATCH (c:OntologyChange) DETACH DELETE c")
    load_ontologies(designs, [CORE_ONTOLOGY])


def cooling_module(**changes) -> DesignInput:
    """Return a design of the cooling module that meets every shape, with `changes` applied."""
    fields = {
        "name": "rev B",
        "product": PRODUCT,
        "materials": ["EN AC-43000"],
        "dimensions": [DimensionInput(name="wall thickness", value=3.5, unit="mm")],
        "parts": [PartChoice(part=BEARING)],
    }
    fields.update(changes)
    return DesignInput(**fields)


def wall(name: str, value: float, unit: str = "mm", tolerance: float | None = None) -> list[DimensionInput]:
    return [DimensionInput(name=name, value=value, unit=unit, tolerance=tolerance)]


def results_of(report, shape: str) -> list:
    return [item for item in report.violations if item.source_shape == SHAPES + shape]


def zero_speed_design() -> DesignInput:
    """The trial's design: a bearing with speed limit 0 rpm, which BearingRatingShape rejects."""
    return DesignInput(materials=["EN AC-43000"],
                       parts=[PartChoice(part="6204-2RS", speed_limit=Quantity(value=0, unit="rpm"))])


CHECK_QUERY = """query($design: DesignInput!) { checkDesign(design: $design) {
  violationCount violations(first: 50) { edges { node { sourceShape message } } } } }"""
ZERO_SPEED_INPUT = {"materials": ["EN AC-43000"],
                    "parts": [{"part": "6204-2RS", "speedLimit": {"value": 0, "unit": "rpm"}}]}


# A renamed class (the stored ontology and the stored shapes)

def test_design_check_follows_renamed_class(edits, settings):
    editor = OntologyEditor(edits)
    before = results_of(check_design(edits, zero_speed_design()), "BearingRatingShape")
    assert [item.path for item in before] == ["kg:speedLimit"]

    editor.rename_term("Bearing", "RollingBearing", migrate=True, **WHO)
    renamed = results_of(check_design(edits, zero_speed_design()), "BearingRatingShape")
    assert [item.path for item in renamed] == ["kg:speedLimit"]
    assert renamed[0].focus_node == BEARING
    with TestClient(create_app(settings, edits)) as client:
        body = client.post("/graphql", json={"query": CHECK_QUERY, "variables": {"design": ZERO_SPEED_INPUT}}).json()
    assert "errors" not in body
    shapes = [edge["node"]["sourceShape"] for edge in body["data"]["checkDesign"]["violations"]["edges"]]
    assert SHAPES + "BearingRatingShape" in shapes

    editor.rename_term("RollingBearing", "Bearing", migrate=True, **WHO)
    restored = results_of(check_design(edits, zero_speed_design()), "BearingRatingShape")
    assert [item.path for item in restored] == ["kg:speedLimit"]
    assert edits.read("MATCH (n:Bearing {id: $id}) RETURN count(n) AS n", {"id": BEARING}) == [{"n": 1}]


def test_rename_rewrites_shape_sparql_text(edits):
    # A rename rewrote the shapes' RDF terms but left "?value a kg:Bearing" in the SPARQL text,
    # so the cooling module's bearing check stopped finding bearings without a word.
    from kg_service.reasoning.design import stored_shapes
    from tests.test_design import proposal

    weak = proposal(parts=[PartChoice(part=BEARING, rated_load=Quantity(value=4.5, unit="kN"))])
    assert results_of(check_design(edits, weak), "CoolingModuleBearingShape")

    OntologyEditor(edits).rename_term("Bearing", "RollingBearing", migrate=True, **WHO)
    shapes, _ = stored_shapes(edits)
    query = str(shapes.value(next(shapes.objects(URIRef(SHAPES + "CoolingModuleBearingShape"), SH_SPARQL)),
                             SH_SELECT))
    assert "?value a kg:RollingBearing ;" in query
    assert "kg:Bearing" not in query
    assert results_of(check_design(edits, weak), "CoolingModuleBearingShape")


def test_design_check_sees_added_subclass(edits):
    # A subclass added through the editor reaches the check through the stored ontology's rdfs:subClassOf.
    editor = OntologyEditor(edits)
    editor.add_class("DeepGrooveBearing", "Bearing", {"en": "Deep groove bearing", "zh": "深沟球轴承"},
                     {"en": "A ball bearing with deep raceway grooves.", "zh": "具有深滚道沟槽的球轴承。"}, **WHO)
    edits.write("MATCH (n:Part {id: $id}) SET n:DeepGrooveBearing", {"id": BEARING})
    try:
        report = check_design(edits, zero_speed_design())
    finally:
        edits.write("MATCH (n:Part {id: $id}) REMOVE n:DeepGrooveBearing", {"id": BEARING})
    assert [item.path for item in results_of(report, "BearingRatingShape")] == ["kg:speedLimit"]


# Shapes whose SPARQL query does not parse

def shapes_changes(store) -> int:
    return store.read("MATCH (c:OntologyChange {ontology: $iri}) RETURN count(c) AS n",
                      {"iri": SHAPES_ONTOLOGY_IRI})[0]["n"]


@pytest.mark.parametrize("preview", [True, False])
def test_unparsable_sparql_shape_rejected(edits, preview):
    with pytest.raises(OntologyError) as caught:
        OntologyEditor(edits).upsert_shape(BROKEN_SPARQL_SHAPE, preview=preview, **WHO)
    message = str(caught.value)
    assert "kgsh:BrokenShape" in message
    assert "sh:select" in message
    assert "line 1, column 22" in message
    assert "garbage" in message
    assert shapes_changes(edits) == 0


def test_unknown_sparql_prefix_rejected(edits):
    shape = BROKEN_SPARQL_SHAPE.replace("SELECT $this WHERE { garbage", "SELECT $this WHERE { $this foo:bar ?x }")
    with pytest.raises(OntologyError, match="kgsh:BrokenShape: Unknown namespace prefix : foo"):
        OntologyEditor(edits).upsert_shape(shape, **WHO)


def test_sparql_values_clause_rejected(edits):
    shape = BROKEN_SPARQL_SHAPE.replace("SELECT $this WHERE { garbage",
                                        "SELECT $this WHERE { VALUES ?x { 1 } $this ?p ?x }")
    with pytest.raises(OntologyError, match="does not allow a VALUES clause"):
        OntologyEditor(edits).upsert_shape(shape, **WHO)


def test_stored_prefixes_used_for_query(edits):
    # The query uses kg:, which sh:prefixes takes from the stored shapes graph's sh:declare.
    shape = BROKEN_SPARQL_SHAPE.replace(
        'sh:message "broken"@en ;', 'sh:message "broken"@en ; sh:prefixes <https://w3id.org/kg-service/shapes> ;'
    ).replace("SELECT $this WHERE { garbage", "SELECT $this WHERE { $this kg:usesMaterial ?m . FILTER (STR(?m) = 'none') }")
    assert OntologyEditor(edits).upsert_shape(shape, **WHO).applied
    assert check_design(edits, cooling_module()).violations == []


def store_broken_shape(store, monkeypatch) -> None:
    """Store the broken shape as the editor did before it parsed queries."""
    with monkeypatch.context() as patch:
        patch.setattr(editing, "shape_query_problems", lambda *args, **kwargs: [])
        OntologyEditor(store).upsert_shape(BROKEN_SPARQL_SHAPE, **WHO)


def test_stored_broken_shape_named_in_check_error(edits, monkeypatch):
    store_broken_shape(edits, monkeypatch)
    with pytest.raises(OntologyError) as caught:
        check_design(edits, cooling_module())
    message = str(caught.value)
    assert "kgsh:BrokenShape" in message
    assert "upsertShape" in message
    assert f"neo4j:{SHAPES_ONTOLOGY_IRI}" in message


def test_graphql_broken_shape_not_masked(edits, settings, monkeypatch):
    store_broken_shape(edits, monkeypatch)
    with TestClient(create_app(settings, edits)) as client:
        body = client.post("/graphql", json={"query": CHECK_QUERY, "variables": {"design": ZERO_SPEED_INPUT}}).json()
    message = body["errors"][0]["message"]
    assert "Unexpected error" not in message
    assert "kgsh:BrokenShape" in message


def test_cli_broken_shape_one_line_error(edits, monkeypatch, tmp_path):
    store_broken_shape(edits, monkeypatch)
    path = tmp_path / "design.json"
    path.write_text(json.dumps(ZERO_SPEED_INPUT), encoding="utf-8")
    result = subprocess.run([KG_SERVICE, "design", "check", str(path)], capture_output=True, text=True, cwd=ROOT,
                            env=os.environ.copy(), timeout=120)
    errors = [line for line in result.stderr.splitlines() if line.startswith("error:")]
    assert result.returncode == 1
    assert "Traceback" not in result.stderr
    assert len(errors) == 1
    assert errors[0].startswith("error: cannot check the design")
    assert "kgsh:BrokenShape" in errors[0]
    assert result.stderr.strip().splitlines()[-1] == errors[0]


def test_shape_meta_errors_one_line_each(edits):
    shape = """kgsh:BadCounts a sh:NodeShape ; sh:targetClass kg:Part ;
        sh:property [ sh:path kg:name ; sh:minCount "one" ] ;
        sh:property [ sh:path kg:ratedLoad ; sh:maxCount "two" ] ."""
    with pytest.raises(OntologyError) as caught:
        OntologyEditor(edits).upsert_shape(shape, **WHO)
    problems = [line for line in str(caught.value).splitlines() if line.startswith("- ")]
    assert len(problems) == 2
    assert any("path sh:minCount" in line and '"one"' in line for line in problems)
    assert all(line.startswith("- focus a blank node inside kgsh:BadCounts") for line in problems)


# Dangling references in a shape

DANGLING_SHAPE = """kgsh:DanglingShape a sh:NodeShape ; sh:targetClass kg:Part ;
    sh:property [ sh:path kg:ratedLoad ; sh:datatype xsd:double ] ."""


def test_dangling_shape_path_rejected(edits):
    shape = DANGLING_SHAPE.replace("sh:path kg:ratedLoad", "sh:path kg:noSuchProperty")
    with pytest.raises(OntologyError, match="sh:path kg:noSuchProperty of a blank node inside kgsh:DanglingShape"):
        OntologyEditor(edits).upsert_shape(shape, **WHO)
    assert shapes_changes(edits) == 0


def test_dangling_shape_datatype_rejected(edits):
    shape = DANGLING_SHAPE.replace("sh:datatype xsd:double", "sh:datatype kg:Nope")
    with pytest.raises(OntologyError, match="sh:datatype kg:Nope .* is not an XSD datatype"):
        OntologyEditor(edits).upsert_shape(shape, **WHO)


def test_dangling_reference_suggests_name(edits):
    shape = DANGLING_SHAPE.replace("sh:path kg:ratedLoad", "sh:path ( kg:usesPart kg:ratedLod )")
    with pytest.raises(OntologyError, match=r"kg:ratedLod .*did you mean kg:ratedLoad\?"):
        OntologyEditor(edits).upsert_shape(shape, **WHO)
    with pytest.raises(OntologyError, match=r"did you mean xsd:double\?"):
        OntologyEditor(edits).upsert_shape(DANGLING_SHAPE.replace("xsd:double", "xsd:doubel"), **WHO)


def test_valid_shape_references_accepted(edits):
    shape = DANGLING_SHAPE.replace("sh:datatype xsd:double", "sh:datatype xsd:double ; sh:minInclusive 0")
    assert OntologyEditor(edits).upsert_shape(shape + """
        kgsh:LabelShape a sh:NodeShape ; sh:targetClass kg:Part ;
            sh:property [ sh:path rdfs:label ; sh:datatype rdf:langString ] .""", **WHO).applied


# The wall-thickness shape

def test_chinese_wall_thickness_name_checked(designs):
    report = check_design(designs, cooling_module(dimensions=wall("壁厚", 1)))
    found = results_of(report, WALL)
    assert len(found) == 1
    assert found[0].value == "1.0"
    assert "outside the allowed 2.5–6 mm" in found[0].message


@pytest.mark.parametrize("name", ["壁厚", "壳体壁厚", "Wall_Thickness", " wall-thickness ", "Housing wall thickness"])
def test_wall_thickness_aliases_pass_within_limits(designs, name):
    assert check_design(designs, cooling_module(dimensions=wall(name, 3.5))).violations == []


def test_missing_wall_thickness_violates(designs):
    for dimensions in ([], wall("bore diameter", 20)):
        found = results_of(check_design(designs, cooling_module(dimensions=dimensions)), WALL)
        assert len(found) == 1
        assert "states no wall thickness" in found[0].message


def test_tolerance_band_outside_limits_violates(designs):
    found = results_of(check_design(designs, cooling_module(dimensions=wall("wall thickness", 2.6, tolerance=0.5))),
                       WALL)
    assert len(found) == 1
    assert "2.1–3.1 mm" in found[0].message
    upper = results_of(check_design(designs, cooling_module(dimensions=wall("壁厚", 5.8, tolerance=0.3))), WALL)
    assert len(upper) == 1


def test_tolerance_band_at_limits_passes(designs):
    # 0.28 ± 0.03 cm is 2.5–3.1 mm, exactly at the lower limit (2.8 - 0.3 in binary floating point is 2.4999...).
    low = cooling_module(dimensions=wall("wall thickness", 0.28, unit="cm", tolerance=0.03))
    high = cooling_module(dimensions=wall("wall thickness", 5.7, tolerance=0.3))
    assert results_of(check_design(designs, low), WALL) == []
    assert results_of(check_design(designs, high), WALL) == []


# Design input edge cases

def design_file(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "design.json"
    path.write_text(text, encoding="utf-8")
    return path


@pytest.mark.parametrize("value", ["1e400", "-1e400"])
def test_infinite_dimension_rejected(tmp_path, value):
    path = design_file(tmp_path, '{"dimensions": [{"name": "wall thickness", "value": %s, "unit": "mm"}]}' % value)
    with pytest.raises(InputDataError, match=r"dimensions\.0\.value: Input should be a finite number"):
        read_design_file(path)


def test_infinite_rating_rejected(tmp_path):
    path = design_file(tmp_path, '{"parts": [{"part": "6204-2RS", "ratedLoad": {"value": 1e400, "unit": "kN"}}]}')
    with pytest.raises(InputDataError, match=r"parts\.0\.ratedLoad\.value: Input should be a finite number"):
        read_design_file(path)


@pytest.mark.parametrize("value", [-3, 0])
def test_non_positive_dimension_rejected(tmp_path, value):
    path = design_file(tmp_path, '{"dimensions": [{"name": "wall thickness", "value": %s, "unit": "mm"}]}' % value)
    with pytest.raises(InputDataError, match=r"dimensions\.0\.value: .*'wall thickness' is -?\d+, but a length "
                                             r"of a physical part must be greater than 0"):
        read_design_file(path)


def test_negative_tolerance_rejected(tmp_path):
    path = design_file(tmp_path, '{"dimensions": [{"name": "wall", "value": 3, "unit": "mm", "tolerance": -0.1}]}')
    with pytest.raises(InputDataError, match=r"dimensions\.0\.tolerance: Input should be greater than or equal to 0"):
        read_design_file(path)


def test_huge_dimension_conversion_rejected(designs):
    with pytest.raises(QueryError, match="too large to convert"):
        check_design(designs, cooling_module(dimensions=wall("wall thickness", 1e308, unit="m")))


# Messages

def test_material_violation_shows_label(designs):
    for lang, label in (("en", "Structural steel S235JR"), ("zh", "结构钢 S235JR")):
        found = results_of(check_design(designs, cooling_module(materials=["S235JR"]), lang=lang),
                           "CoolingModuleMaterialShape")
        assert len(found) == 1
        assert label in found[0].message
        assert "material:s235jr" not in found[0].message
        assert found[0].value == "material:s235jr"


# Spellings of the ratings in a design file

@pytest.mark.parametrize(("load", "speed"), [("rated_load", "speed_limit"), ("ratedLoad", "speedLimit")])
def test_design_file_accepts_both_rating_spellings(tmp_path, load, speed):
    path = design_file(tmp_path, json.dumps({"parts": [{"part": "6204-2RS", load: {"value": 13.5, "unit": "kN"},
                                                        speed: {"value": 9000, "unit": "rpm"}}]}))
    choice = read_design_file(path).parts[0]
    assert choice.rated_load == Quantity(value=13.5, unit="kN")
    assert choice.speed_limit == Quantity(value=9000, unit="rpm")


def test_cli_camel_case_rating_checked(designs, tmp_path):
    path = design_file(tmp_path, json.dumps({"product": PRODUCT, "materials": ["EN AC-43000"],
                                             "dimensions": [{"name": "壁厚", "value": 3.5, "unit": "mm"}],
                                             "parts": [{"part": BEARING, "ratedLoad": {"value": 4.5, "unit": "kN"}}]}))
    result = subprocess.run([KG_SERVICE, "design", "check", str(path)], capture_output=True, text=True, cwd=ROOT,
                            env=os.environ.copy(), timeout=120)
    output = json.loads(result.stdout)
    assert result.returncode == 2
    assert [item["source_shape"] for item in output["results"]] == [SHAPES + "CoolingModuleBearingShape"]
    assert "4500.0 N" in output["results"][0]["message"]


def test_stored_shapes_unchanged_by_checks(designs):
    # The checks above read the shapes file; none of them stored a shapes graph.
    assert stored_shapes(designs) is None
    assert designs.read("MATCH (o:Ontology {iri: $iri}) RETURN count(o) AS n", {"iri": KG_ONTOLOGY_IRI}) == [{"n": 1}]


def test_wall_message_without_tolerance_has_no_band(designs):
    # A wall given without a tolerance was described as "2.0 ± 0.0 mm spans 2.0–2.0 mm".
    from tests.test_design import proposal

    bare = proposal(dimensions=[DimensionInput(name="wall thickness", value=2.0, unit="mm")])
    banded = proposal(dimensions=[DimensionInput(name="wall thickness", value=0.2, unit="cm", tolerance=0.02)])
    [without] = results_of(check_design(designs, bare), "CoolingModuleWallThicknessShape")
    [with_band] = results_of(check_design(designs, banded), "CoolingModuleWallThicknessShape")
    assert without.message == ("The wall thickness 2.0 mm is outside the allowed 2.5–6 mm of the AC-3 cooling "
                               "module.")
    assert "±" not in without.message
    assert with_band.message.startswith("The wall thickness 2.0 ± 0.2 mm, a band of 1.8–2.2 mm, is outside")
