"""Design constraints: SHACL shapes checked with pySHACL on the sample designs and the AAS examples."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
from starlette.testclient import TestClient

from kg_service.api.app import create_app
from kg_service.commands.design import read_design_file
from kg_service.errors import InputDataError, NotFoundError, QueryError, UnknownTermError
from kg_service.ingest import load_ontologies
from kg_service.reasoning.design import (DEFAULT_SHAPES_FILE, DesignInput, DimensionInput, PartChoice, Quantity,
                                         check_design, design_constraints, validate_rdf)
from loaders.rdf_instances import load_rdf_instances
from tests.conftest import CORE_ONTOLOGY, ROOT, SAMPLE_DIR, data_file, wipe

pytestmark = pytest.mark.neo4j

DESIGNS = SAMPLE_DIR / "designs.ttl"
PRODUCT = "product:sample-plant:ac-3-cooling-module"
BEARING = "part:sample-plant:fan-bearing-6204"
SHAPES = "https://w3id.org/kg-service/shapes#"
AAS_EXAMPLES = ["AssetAdministrationShell_maximal.ttl", "Property_maximal.ttl", "Range_maximal.ttl",
                "Submodel_maximal.ttl"]
CJK = re.compile(r"[\u3400-\u9fff]")
KG_SERVICE = str(Path(sys.executable).parent / "kg-service")


@pytest.fixture(scope="module")
def design_graph(store, settings):
    wipe(store)
    load_ontologies(store, [CORE_ONTOLOGY])
    load_rdf_instances(store, settings, DESIGNS)
    return store


def proposal(**changes) -> DesignInput:
    """Return a design of the cooling module that meets every shape, with `changes` applied."""
    fields = {
        "name": "rev B",
        "product": PRODUCT,
        "materials": ["EN AC-43000", "material:pa66-gf30"],
        "dimensions": [DimensionInput(name="wall thickness", value=0.35, unit="cm", tolerance=0.02,
                                      process="die casting")],
        "parts": [PartChoice(part=BEARING), PartChoice(part="Fan impeller")],
    }
    fields.update(changes)
    return DesignInput(**fields)


def shapes_of(report) -> set[str]:
    return {item.source_shape.removeprefix(SHAPES) for item in report.violations}


# AAS examples against the AAS shapes

@pytest.mark.parametrize("name", AAS_EXAMPLES)
def test_aas_example_does_not_conform(name):
    report = validate_rdf(data_file("ontologies", "aas", "examples", name),
                          data_file("ontologies", "aas", "shacl-schema.ttl"))
    assert report.conforms is False
    assert len(report.violations) > 0
    assert all(item.message for item in report.violations)
    assert all(item.focus_node for item in report.violations)
    assert all(item.source_shape for item in report.violations)


# (violations, of which language strings without text): what pySHACL reports for each maximal example.
AAS_VIOLATIONS = {"AssetAdministrationShell_maximal.ttl": (12, 4), "Property_maximal.ttl": (16, 4),
                  "Range_maximal.ttl": (14, 4), "Submodel_maximal.ttl": (17, 4)}


@pytest.mark.parametrize("name", AAS_EXAMPLES)
def test_aas_example_violations_named(name):
    report = validate_rdf(data_file("ontologies", "aas", "examples", name),
                          data_file("ontologies", "aas", "shacl-schema.ttl"))
    total, missing_text = AAS_VIOLATIONS[name]
    assert len(report.violations) == total
    assert all(item.path and item.path.startswith("https://admin-shell.io/aas/3/0/") for item in report.violations)
    assert all(item.severity == "Violation" for item in report.violations)
    # The examples give language strings a language but no text, which the shapes require.
    text = [item for item in report.violations if item.constraint == "MinCountConstraintComponent"
            and item.path.endswith("/text")]
    assert len(text) == missing_text
    assert all(item.focus_node.startswith("_:") for item in text)
    assert any(item.constraint == "ClassConstraintComponent" for item in report.violations)


# check_design

def test_conforming_design_passes(design_graph):
    report = check_design(design_graph, proposal())
    assert report.violations == []
    assert report.conforms is True


def test_thin_wall_in_cm_caught(design_graph):
    thin = [DimensionInput(name="wall thickness", value=0.2, unit="cm", tolerance=0.02, process="die casting")]
    report = check_design(design_graph, proposal(dimensions=thin))
    found = [item for item in report.violations if item.source_shape == SHAPES + "CoolingModuleWallThicknessShape"]
    assert len(found) == 1
    assert found[0].value == "2.0"
    assert found[0].severity == "Violation"
    assert found[0].focus_node == "design:proposed:rev-b"


def test_thick_wall_in_metres_caught(design_graph):
    thick = [DimensionInput(name="Wall Thickness", value=0.0065, unit="m")]
    report = check_design(design_graph, proposal(dimensions=thick))
    assert shapes_of(report) == {"CoolingModuleWallThicknessShape"}


def test_wall_within_limit_in_mm(design_graph):
    report = check_design(design_graph, proposal(dimensions=[DimensionInput(name="wall thickness", value=6,
                                                                            unit="mm")]))
    assert report.violations == []


def test_tolerance_tighter_than_process(design_graph):
    tight = [DimensionInput(name="wall thickness", value=3.5, unit="mm", tolerance=0.05, process="die casting")]
    report = check_design(design_graph, proposal(dimensions=tight))
    assert shapes_of(report) == {"ProcessCapabilityShape"}
    assert "0.1" in report.violations[0].message


def test_disallowed_material_rejected(design_graph):
    report = check_design(design_graph, proposal(materials=["S235JR"]))
    assert shapes_of(report) == {"CoolingModuleMaterialShape"}
    assert report.violations[0].value == "material:s235jr"


def test_weak_bearing_in_kn_rejected(design_graph):
    weak = [PartChoice(part=BEARING, rated_load=Quantity(value=4.5, unit="kN"))]
    report = check_design(design_graph, proposal(parts=weak))
    assert shapes_of(report) == {"CoolingModuleBearingShape"}
    assert "4500.0 N" in report.violations[0].message


def test_strong_bearing_in_kn_passes(design_graph):
    strong = [PartChoice(part=BEARING, rated_load=Quantity(value=13.5, unit="kN"),
                         speed_limit=Quantity(value=9000, unit="rpm"))]
    assert check_design(design_graph, proposal(parts=strong)).violations == []


def test_bom_bearing_checked_through_assembly(design_graph):
    assembly = [PartChoice(part="part:sample-plant:cooling-module-assembly", supplier="Suzhou Thermal")]
    report = check_design(design_graph, proposal(parts=assembly, materials=[]))
    assert "CoolingModuleBearingShape" not in shapes_of(report)
    assert "part:sample-plant:cooler-housing" in {item.focus_node for item in report.violations}


def test_uncertified_supplier_warns(design_graph):
    housing = [PartChoice(part="part:sample-plant:cooler-housing", supplier="Kunshan Castings")]
    report = check_design(design_graph, proposal(parts=housing))
    assert report.count("Violation") == 0
    assert report.count("Warning") == 2
    assert shapes_of(report) == {"CertifiedPartSupplierShape", "CertifiedSupplierShape"}
    assert report.conforms is False


def test_chinese_messages(design_graph):
    report = check_design(design_graph, proposal(materials=["S235JR"]), lang="zh")
    assert CJK.search(report.violations[0].message)
    assert "结构钢 S235JR" in report.violations[0].message


def test_unknown_part_key_rejected(design_graph):
    with pytest.raises(NotFoundError, match="part:no-such-part"):
        check_design(design_graph, proposal(parts=[PartChoice(part="part:no-such-part")]))


def test_unknown_unit_rejected(design_graph):
    inches = [DimensionInput(name="wall thickness", value=0.15, unit="in")]
    with pytest.raises(QueryError, match="unit 'in' of dimension 'wall thickness' is not supported"):
        check_design(design_graph, proposal(dimensions=inches))


def test_unknown_force_unit_rejected(design_graph):
    pounds = [PartChoice(part=BEARING, rated_load=Quantity(value=3000, unit="lbf"))]
    with pytest.raises(QueryError, match="'lbf'"):
        check_design(design_graph, proposal(parts=pounds))


def test_malformed_json_rejected(tmp_path):
    path = tmp_path / "design.json"
    path.write_text('{"name": "rev B",\n "parts": [}', encoding="utf-8")
    with pytest.raises(InputDataError, match=r"line 2: invalid JSON"):
        read_design_file(path)


def test_unknown_design_field_rejected(tmp_path):
    path = tmp_path / "design.json"
    path.write_text('{"name": "rev B", "colour": "red"}', encoding="utf-8")
    with pytest.raises(InputDataError, match="colour"):
        read_design_file(path)


def test_missing_shapes_file_rejected(design_graph, tmp_path):
    with pytest.raises(InputDataError, match="shapes"):
        check_design(design_graph, proposal(), shapes_files=[tmp_path / "none.ttl"])


# design_constraints

def test_constraints_from_superclass_shape(design_graph):
    result = design_constraints(design_graph, PRODUCT)
    inherited = [item for item in result.constraints
                 if item.constraint == SHAPES + "PartShape" and item.applies_to == BEARING]
    assert len(inherited) == 1
    assert inherited[0].inherited_from == "Part"
    assert inherited[0].source_file == str(DEFAULT_SHAPES_FILE.resolve())


def test_constraints_from_bom_part(design_graph):
    result = design_constraints(design_graph, PRODUCT)
    bearing = [item for item in result.constraints if item.constraint == SHAPES + "BearingRatingShape"]
    assert [item.applies_to for item in bearing] == [BEARING]
    assert bearing[0].via == [PRODUCT, "design:sample-plant:ac-3-cooling-module-rev-a",
                              "part:sample-plant:cooling-module-assembly", BEARING]
    assert bearing[0].inherited_from is None


def test_product_specific_shapes_apply(design_graph):
    result = design_constraints(design_graph, PRODUCT)
    names = {item.constraint.removeprefix(SHAPES) for item in result.constraints}
    assert {"CoolingModuleMaterialShape", "CoolingModuleWallThicknessShape", "CoolingModuleBearingShape"} <= names


def test_product_shapes_skip_other_designs(design_graph):
    result = design_constraints(design_graph, BEARING)
    names = {item.constraint.removeprefix(SHAPES) for item in result.constraints}
    assert names == {"BearingRatingShape", "PartShape", "PartSupplierShape", "CertifiedPartSupplierShape",
                     "specification:sample-plant:fan-bearing"}


def test_stored_constraint_with_document(design_graph):
    result = design_constraints(design_graph, PRODUCT)
    stored = {item.constraint: item for item in result.constraints if item.kind != "shape"}
    wall = stored["constraint:sample-plant:ac-3-cm:wall-thickness"]
    assert wall.document == "document:sample-plant:ac-3-cm-spec"
    assert "2.5" in wall.description
    assert stored["specification:sample-plant:fan-bearing"].applies_to == BEARING


def test_constraints_by_chinese_name(design_graph):
    result = design_constraints(design_graph, "3号空压机替换冷却模块", lang="zh")
    labels = {item.constraint.removeprefix(SHAPES): item.label for item in result.constraints}
    assert result.target["id"] == PRODUCT
    assert labels["CoolingModuleWallThicknessShape"] == "冷却模块壁厚 2.5–6 mm"


def test_constraints_unknown_target(design_graph):
    with pytest.raises(NotFoundError, match="no-such-product"):
        design_constraints(design_graph, "no-such-product")


# Loading RDF instances

def test_ingest_rdf_is_idempotent(design_graph, settings):
    before = design_graph.counts()
    _, report = load_rdf_instances(design_graph, settings, DESIGNS)
    assert report.nodes_created == 0
    assert report.relationships_created == 0
    assert design_graph.counts() == before


def test_ingest_rdf_rejects_unknown_class(design_graph, settings, tmp_path):
    path = tmp_path / "bad.ttl"
    path.write_text("@prefix kg: <https://w3id.org/kg-service/ontology#> .\n"
                    "<https://w3id.org/kg-service/id/part:new> a kg:Part ; kg:name \"new\" .\n"
                    "<https://w3id.org/kg-service/id/gear:new> a kg:Gear ; kg:name \"gear\" .\n", encoding="utf-8")
    before = design_graph.counts()
    with pytest.raises(InputDataError, match="kg:Gear|ontology#Gear"):
        load_rdf_instances(design_graph, settings, path)
    assert design_graph.counts() == before


def test_ingest_rdf_rejects_bad_relationship(design_graph, settings, tmp_path):
    path = tmp_path / "bad.ttl"
    path.write_text("@prefix kg: <https://w3id.org/kg-service/ontology#> .\n"
                    "<https://w3id.org/kg-service/id/m:1> a kg:Material ; kg:name \"m\" ; "
                    "kg:usesPart <https://w3id.org/kg-service/id/m:1> .\n", encoding="utf-8")
    with pytest.raises((InputDataError, UnknownTermError), match="USES_PART"):
        load_rdf_instances(design_graph, settings, path)


# GraphQL and command line

def test_graphql_design_constraints_and_check(design_graph, settings):
    query = """query($design: DesignInput!) {
      designConstraints(target: "AC-3-CM", lang: "zh") {
        target { id } constraints(first: 200) { totalCount edges { node {
          constraint kind label inheritedFrom appliesTo document rules(first: 1) { totalCount edges { node { severity } } } } } } }
      checkDesign(design: $design, lang: "zh") {
        conforms violationCount warningCount
        violations(first: 200) { totalCount edges { node { focusNode message severity sourceShape value } } } } }"""
    design = {"product": PRODUCT, "materials": ["S235JR"],
              "dimensions": [{"name": "wall thickness", "value": 2, "unit": "mm"}], "parts": [{"part": BEARING}]}
    with TestClient(create_app(settings, design_graph)) as client:
        body = client.post("/graphql", json={"query": query, "variables": {"design": design}}).json()
    assert "errors" not in body
    assert body["data"]["designConstraints"]["target"]["id"] == PRODUCT
    assert body["data"]["checkDesign"]["violationCount"] == 2
    violations = [edge["node"] for edge in body["data"]["checkDesign"]["violations"]["edges"]]
    assert body["data"]["checkDesign"]["violations"]["totalCount"] == len(violations)
    assert all(CJK.search(item["message"]) for item in violations)


RULES_QUERY = """query($constraintAfter: String, $first: Int!, $after: String) {
  designConstraints(target: "AC-3-CM") {
    constraints(first: 1, after: $constraintAfter) { pageInfo { endCursor } edges { node { constraint appliesTo
      rules(first: $first, after: $after) { totalCount pageInfo { hasNextPage endCursor }
                                            edges { node { path severity message } } } } } } } }"""


@pytest.fixture(scope="module")
def design_api(design_graph, settings):
    with TestClient(create_app(settings, design_graph)) as client:
        yield client


def _post_rules(client, constraint_after: str | None, first: int, after: str | None) -> dict:
    """Return the response for one page of rules of the constraint after `constraint_after`."""
    variables = {"constraintAfter": constraint_after, "first": first, "after": after}
    return client.post("/graphql", json={"query": RULES_QUERY, "variables": variables}).json()


def test_rules_pages_match_whole(design_api, design_graph):
    expected = design_constraints(design_graph, "AC-3-CM", "en").constraints
    constraint_after, with_two_rules = None, 0
    for item in expected:
        whole = [{"path": rule.path, "severity": rule.severity, "message": rule.message} for rule in item.rules]
        for first in (1, 2):
            rules, pages, after = [], [], None
            while True:
                body = _post_rules(design_api, constraint_after, first, after)
                assert "errors" not in body, body["errors"]
                node = body["data"]["designConstraints"]["constraints"]["edges"][0]["node"]
                assert (node["constraint"], node["appliesTo"]) == (item.constraint, item.applies_to)
                pages.append(node["rules"])
                rules += [edge["node"] for edge in node["rules"]["edges"]]
                if not node["rules"]["pageInfo"]["hasNextPage"]:
                    break
                after = node["rules"]["pageInfo"]["endCursor"]
            assert rules == whole
            assert {page["totalCount"] for page in pages} == {len(whole)}
            assert len(pages) == max(1, -(-len(whole) // first))
        with_two_rules += len(whole) >= 2
        constraint_after = body["data"]["designConstraints"]["constraints"]["pageInfo"]["endCursor"]
    assert with_two_rules > 0


def test_rules_cursor_other_constraint_rejected(design_api):
    first = _post_rules(design_api, None, 1, None)["data"]["designConstraints"]["constraints"]
    cursor = first["edges"][0]["node"]["rules"]["pageInfo"]["endCursor"]
    assert cursor is not None
    body = _post_rules(design_api, first["pageInfo"]["endCursor"], 1, cursor)
    message = body["errors"][0]["message"]
    assert "belongs to another list or to a request with other arguments" in message
    assert "after of rules" in message


@pytest.mark.parametrize("first", [0, 201])
def test_rules_first_out_of_range(design_api, first):
    body = _post_rules(design_api, None, first, None)
    assert f"first of rules must be between 1 and 200, got {first}" in body["errors"][0]["message"]


def test_graphql_bad_unit_is_clear_error(design_graph, settings):
    query = """query { checkDesign(design: {dimensions: [{name: "wall thickness", value: 2, unit: "ft"}]}) {
                 conforms } }"""
    with TestClient(create_app(settings, design_graph)) as client:
        body = client.post("/graphql", json={"query": query}).json()
    assert "unit 'ft'" in body["errors"][0]["message"]


def test_cli_design_check_json(design_graph, tmp_path):
    path = tmp_path / "design.json"
    path.write_text(json.dumps({"product": PRODUCT, "materials": ["EN AW-6061"],
                                "dimensions": [{"name": "wall thickness", "value": 0.2, "unit": "cm"}],
                                "parts": [{"part": BEARING, "rated_load": {"value": 13.5, "unit": "kN"}}]}),
                    encoding="utf-8")
    result = subprocess.run([KG_SERVICE, "design", "check", str(path)], capture_output=True, text=True, cwd=ROOT,
                            env=os.environ.copy(), timeout=120)
    output = json.loads(result.stdout)
    assert result.returncode == 2
    assert output["violations"] == 1
    assert output["results"][0]["source_shape"] == SHAPES + "CoolingModuleWallThicknessShape"


def test_sample_designs_file_has_only_warnings():
    report = validate_rdf(DESIGNS, DEFAULT_SHAPES_FILE, inference="rdfs", ontology_file=CORE_ONTOLOGY)
    assert report.count("Violation") == 0
    assert {item.focus_node for item in report.violations} == {"part:sample-plant:cooler-housing",
                                                               "supplier:sample-plant:kunshan-castings"}


def test_component_gets_part_constraints(design_graph):
    result = design_constraints(design_graph, "AC-3-CM-BRG-1")
    by_shape = {(item.constraint.removeprefix(SHAPES), item.applies_to) for item in result.constraints}
    assert ("AssetShape", "component:sample-plant:ac-3-cm-fan-bearing") in by_shape
    assert ("BearingRatingShape", BEARING) in by_shape
    assert ("specification:sample-plant:fan-bearing", BEARING) in by_shape


def test_design_file_rejects_nan(tmp_path):
    from kg_service.commands.design import read_design_file

    path = tmp_path / "nan.json"
    path.write_text('{"product": "AC-3-CM", "dimensions": [{"name": "wall", "value": NaN, "unit": "mm"}]}',
                    encoding="utf-8")
    with pytest.raises(InputDataError, match="NaN is not a finite number"):
        read_design_file(path)
    deep = tmp_path / "deep.json"
    deep.write_text("[" * 100_000, encoding="utf-8")
    with pytest.raises(InputDataError, match="invalid JSON"):
        read_design_file(deep)


# Shapes edited through the ontology editor (kept last: it stores a shapes graph in the module's graph)

TIGHTER_WALL = '''
kgsh:CoolingModuleWallThicknessShape a sh:NodeShape ;
    rdfs:label "Cooling module wall thickness 2.5–3 mm"@en , "冷却模块壁厚 2.5–3 mm"@zh ;
    kg:appliesTo <https://w3id.org/kg-service/id/product:sample-plant:ac-3-cooling-module> ;
    sh:targetClass kg:Design ;
    sh:severity sh:Violation ;
    sh:sparql [
        a sh:SPARQLConstraint ;
        sh:prefixes <https://w3id.org/kg-service/shapes> ;
        sh:message "The wall thickness {?value} mm is outside the allowed 2.5–3 mm."@en ,
            "壁厚 {?value} mm 超出允许的 2.5–3 mm 范围。"@zh ;
        sh:select """
            SELECT $this ?value
            WHERE {
                <https://w3id.org/kg-service/id/product:sample-plant:ac-3-cooling-module> kg:hasDesign $this .
                $this kg:hasDimension ?dimension .
                ?dimension kg:name ?dimensionName ; kg:nominalValue ?value .
                FILTER (LCASE(STR(?dimensionName)) = "wall thickness")
                FILTER (?value < 2.5 || ?value > 3.0)
            }
            """
    ] .
'''


@pytest.fixture
def edited_shapes(design_graph):
    from kg_service.ontology.editing import SHAPES_ONTOLOGY_IRI, OntologyEditor

    OntologyEditor(design_graph).upsert_shape(TIGHTER_WALL, why="thinner housing for rev C", author="li.wei")
    yield design_graph
    design_graph.write("MATCH (n) WHERE n.ontology = $iri DETACH DELETE n", {"iri": SHAPES_ONTOLOGY_IRI})
    design_graph.write("MATCH (o:Ontology {iri: $iri}) DETACH DELETE o", {"iri": SHAPES_ONTOLOGY_IRI})


def test_upserted_shape_checks_designs(edited_shapes):
    report = check_design(edited_shapes, proposal())
    assert shapes_of(report) == {"CoolingModuleWallThicknessShape"}


def test_upserted_shape_keeps_file_shapes(edited_shapes):
    report = check_design(edited_shapes, proposal(materials=["S235JR"]))
    assert "CoolingModuleMaterialShape" in shapes_of(report)


def test_upserted_shape_listed_from_graph(edited_shapes):
    result = design_constraints(edited_shapes, PRODUCT)
    wall = [item for item in result.constraints if item.constraint == SHAPES + "CoolingModuleWallThicknessShape"]
    assert [item.source_file for item in wall] == ["neo4j:https://w3id.org/kg-service/shapes"]


def test_graphql_design_lists_bounded(design_graph, settings):
    # Each material costs a lookup, so an oversized list is rejected before any query runs.
    query = "query($design: DesignInput!) { checkDesign(design: $design) { conforms } }"
    design = {"materials": ["S235JR"] * 201}
    before = design_graph.query_count
    with TestClient(create_app(settings, design_graph)) as client:
        body = client.post("/graphql", json={"query": query, "variables": {"design": design}}).json()
    assert body["data"] is None
    assert "invalid design: materials: List should have at most 200 items" in body["errors"][0]["message"]
    assert design_graph.query_count - before <= 1
