"""The protected core terms cover every core label, relationship type and property that kg-service's Cypher names."""

from __future__ import annotations

import ast
import re
from pathlib import Path

from kg_service.ontology.model import KG_ONTOLOGY_IRI, OntologyModel
from kg_service.ontology.parsing import parse_ontology_file
from kg_service.ontology.protected import FEATURES, PROTECTED_TERMS, features_using
from tests.conftest import CORE_ONTOLOGY, ROOT

# `(n:Label:Other`, `(:Label {`: node patterns with one or more labels.
NODE_LABELS = re.compile(r"\(\s*\w*\s*((?::\s*`?[A-Za-z_]\w*`?\s*)+)")
# `[:TYPE]`, `[r:A|B*1..3]`, `-[:A|:B]->`: relationship patterns with one or more types.
RELATIONSHIP_TYPES = re.compile(r"\[\s*\w*\s*:\s*([A-Za-z_]\w*(?:\s*\|\s*:?[A-Za-z_]\w*)*)")
CYPHER_CLAUSE = re.compile(r"\b(MATCH|RETURN|WHERE|MERGE|SET|WITH|UNWIND)\b")
# `n.name` and `{name: $value}` in Cypher text.
PROPERTY_ACCESS = re.compile(r"\b[a-z]\w*\.([A-Za-z_]\w*)\b")
MAP_KEY = re.compile(r"[{,]\s*([A-Za-z_]\w*)\s*:")


def _core_model() -> OntologyModel:
    return OntologyModel.from_graph(parse_ontology_file(CORE_ONTOLOGY), KG_ONTOLOGY_IRI)


def _names_in_cypher(text: str, property_names: set[str]) -> set[str]:
    names: set[str] = set()
    for match in NODE_LABELS.finditer(text):
        names.update(re.findall(r":\s*`?([A-Za-z_]\w*)", match.group(1)))
    for match in RELATIONSHIP_TYPES.finditer(text):
        names.update(re.split(r"\s*\|\s*:?", match.group(1)))
    if CYPHER_CLAUSE.search(text):
        names.update(name for name in PROPERTY_ACCESS.findall(text) if name in property_names)
        names.update(name for name in MAP_KEY.findall(text) if name in property_names)
    return names


def _names_used_in_code(property_names: set[str]) -> dict[str, set[str]]:
    """Return each name found in string literals (f-string parts included) of kg_service/**/*.py, with its files."""
    used: dict[str, set[str]] = {}
    for path in sorted((ROOT / "kg_service").rglob("*.py")):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            if isinstance(node, ast.Constant) and isinstance(node.value, str):
                for name in _names_in_cypher(node.value, property_names):
                    used.setdefault(name, set()).add(str(path.relative_to(ROOT)))
    return used


def test_protected_terms_cover_cypher():
    model = _core_model()
    core = {mapping.label for mapping in model.classes.values()}
    core |= {rel.type for rel in model.relationships.values()}
    properties = {prop.name for prop in model.properties.values()}
    used = _names_used_in_code(properties)
    missing = {name: sorted(files) for name, files in used.items()
               if name in core | properties and name not in PROTECTED_TERMS}
    assert missing == {}, "add these core terms with their features to PROTECTED_TERMS in kg_service/ontology/protected.py"


def test_protected_terms_cover_design_rdf_terms():
    # Design checks build their RDF with kg: terms (KG.usesPart), which the Cypher scan does not see.
    model = _core_model()
    names = {}
    for iri, mapping in model.classes.items():
        names[iri] = mapping.label
    for iri, relationship in model.relationships.items():
        names[iri] = relationship.type
    for iri, prop in model.properties.items():
        names[iri] = prop.name
    source = (ROOT / "kg_service" / "reasoning" / "design.py").read_text(encoding="utf-8")
    namespace = KG_ONTOLOGY_IRI.rstrip("#/") + "#"
    used = {names[namespace + term] for term in re.findall(r"\bKG\.(\w+)", source) if namespace + term in names}
    assert "USES_PART" in used
    assert sorted(used - set(PROTECTED_TERMS)) == []


def test_scanner_finds_known_uses():
    found = _names_in_cypher("MATCH (p:Part)-[:SUPPLIED_BY]->(s:Supplier) "
                             "OPTIONAL MATCH (w)-[:HAS_FAILURE_MODE|:HAS_SYMPTOM]->(m) RETURN s.country",
                             {"country"})
    assert {"Part", "SUPPLIED_BY", "Supplier", "HAS_FAILURE_MODE", "HAS_SYMPTOM", "country"} <= found


def test_protected_terms_are_core_terms():
    model = _core_model()
    core = {mapping.label for mapping in model.classes.values()}
    core |= {rel.type for rel in model.relationships.values()}
    core |= {prop.name for prop in model.properties.values()}
    assert sorted(set(PROTECTED_TERMS) - core) == []


def test_protected_term_features_known():
    unknown = {name: keys for name, keys in PROTECTED_TERMS.items() if not keys or not set(keys) <= set(FEATURES)}
    assert unknown == {}


def test_features_only_for_core_ontology():
    assert features_using(KG_ONTOLOGY_IRI, "SUPPLIED_BY") == [FEATURES["ask"], FEATURES["design"],
                                                              FEATURES["suppliers"]]
    assert features_using("http://example.org/plant", "SUPPLIED_BY") == []
    assert features_using(KG_ONTOLOGY_IRI, "HAS_CODE") == []
