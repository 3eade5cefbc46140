"""Design constraints as SHACL shapes: list the constraints on a product and check a proposed design.

`design_constraints` collects the shapes (from the shapes files) and the stored DesignConstraint
and Specification nodes that apply to a product, design, part or component and to everything
in its bill of materials. `check_design` turns a proposed design into RDF in the kg-core
vocabulary, joined with the graph's facts about its parts, suppliers, materials and processes,
and validates it with pySHACL. `validate_rdf` validates any RDF file against any shapes file.
"""

from __future__ import annotations

import functools
import logging
import math
import re
import time
from decimal import Decimal
from pathlib import Path
from typing import Annotated, Any, Iterable, NamedTuple
from urllib.parse import unquote

import pyshacl
from pydantic import AliasChoices, BaseModel, ConfigDict, Field, FiniteFloat, ValidationInfo, field_validator
from rdflib import BNode, Graph, Literal, URIRef
from rdflib.namespace import RDF, RDFS, SH, XSD
from rdflib.term import Node

from kg_service.config import find_project_root
from kg_service.errors import InputDataError, OntologyError, QueryError
from kg_service.graph.records import slug
from kg_service.graph.store import GraphStore
from kg_service.ingest import CORE_ONTOLOGY_FILE
from kg_service.ontology.model import KG, KG_ONTOLOGY_IRI, OntologyModel
from kg_service.ontology.parsing import parse_ontology_file
from kg_service.ontology.schema import ENTITY_LABEL, GraphSchema
from kg_service.ontology.storage import export_ontology
from kg_service.reasoning.lookup import LANGUAGES, check_language, display_name, resolve_entity
from loaders.rdf_instances import INSTANCE_NAMESPACE, instance_iri, instance_key

logger = logging.getLogger(__name__)

DEFAULT_SHAPES_FILE = find_project_root() / "ontology" / "shapes.ttl"
TARGET_CLASSES = ["Product", "Design", "Part", "Component"]

# Units that a proposed design may use, with the factor to the unit of the shapes: lengths in
# mm, forces in N, speeds in rpm.
# NOTE: inches, pounds-force, rad/s and QUDT unit IRIs are not supported; such a value is rejected.
LENGTH_UNITS = {"mm": 1.0, "cm": 10.0, "m": 1000.0}
FORCE_UNITS = {"N": 1.0, "kN": 1000.0}
SPEED_UNITS = {"rpm": 1.0, "r/min": 1.0}

# Relationships followed downwards through a bill of materials; PART_OF is followed from parent to child.
BOM_DOWN_TYPES = ["HAS_DESIGN", "USES_PART", "HAS_BOM_ITEM", "INSTANCE_OF_PART"]
MAX_BOM_DEPTH = 8
SEVERITY_RANK = {"Violation": 0, "Warning": 1, "Info": 2}


# Proposed designs

# Maximum materials, dimensions and parts per checked design. A bill of materials is usually far smaller.
MAX_DESIGN_ITEMS = 200


class Quantity(BaseModel):
    """A value with its unit, for example 13.5 kN.

    Zero and negative ratings are accepted, so that the shapes report them (BearingRatingShape
    requires a rated load and a speed limit greater than 0).
    """

    model_config = ConfigDict(extra="forbid")

    value: FiniteFloat
    unit: str = Field(min_length=1)


class DimensionInput(BaseModel):
    """A dimension of a proposed design: name, nominal value, unit, tolerance and process."""

    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1, description="Dimension name, for example 'wall thickness'")
    value: FiniteFloat = Field(description="Nominal value, greater than 0")
    unit: str = Field(min_length=1, description="Length unit: mm, cm or m")
    tolerance: Annotated[FiniteFloat, Field(ge=0)] | None = Field(
        default=None, description="Symmetric tolerance (the 0.05 of ±0.05), same unit, 0 or more")
    process: str | None = Field(default=None, description="Key or name of the manufacturing process")

    @field_validator("value")
    @classmethod
    def _positive_length(cls, value: float, info: ValidationInfo) -> float:
        # Every dimension is a length of a physical part (kg:nominalValue in mm), so none is signed.
        if value <= 0:
            name = info.data.get("name", "the dimension")
            raise ValueError(f"the nominal value of dimension {name!r} is {value:g}, but a length of a physical "
                             "part must be greater than 0; give its size as a positive number")
        return value


class PartChoice(BaseModel):
    """A part chosen for a design, optionally with the supplier and catalogue ratings to use.

    The ratings may be written in snake_case (rated_load, the design file's spelling) or in
    camelCase (ratedLoad, the spelling of the GraphQL input).
    """

    model_config = ConfigDict(extra="forbid")

    part: str = Field(min_length=1, description="Key or name of a Part in the graph")
    supplier: str | None = Field(default=None, description="Key or name of the chosen Supplier; default the "
                                                          "part's suppliers in the graph")
    rated_load: Quantity | None = Field(default=None, validation_alias=AliasChoices("rated_load", "ratedLoad"),
                                        description="Rated dynamic load (N or kN) that replaces the graph's value")
    speed_limit: Quantity | None = Field(default=None, validation_alias=AliasChoices("speed_limit", "speedLimit"),
                                         description="Speed limit (rpm) that replaces the graph's value")


class DesignInput(BaseModel):
    """A proposed design to check against the design-constraint shapes.

    Each material, part and process costs a lookup in the graph, so each list contains at most
    MAX_DESIGN_ITEMS entries.
    """

    model_config = ConfigDict(extra="forbid")

    name: str = Field(default="proposed design", min_length=1)
    product: str | None = Field(default=None, description="Key or name of the Product the design is for")
    materials: list[str] = Field(default_factory=list, max_length=MAX_DESIGN_ITEMS,
                                 description="Keys or names of Materials")
    dimensions: list[DimensionInput] = Field(default_factory=list, max_length=MAX_DESIGN_ITEMS)
    parts: list[PartChoice] = Field(default_factory=list, max_length=MAX_DESIGN_ITEMS)


# Results

class Violation(NamedTuple):
    """One SHACL validation result."""

    focus_node: str
    path: str | None
    message: str
    severity: str
    source_shape: str
    constraint: str
    value: str | None


class ValidationReport(NamedTuple):
    """The results of one pySHACL run. `conforms` is pySHACL's: False also when only warnings occur."""

    conforms: bool
    violations: list[Violation]
    data_triples: int
    seconds: float

    def count(self, severity: str) -> int:
        return sum(1 for item in self.violations if item.severity == severity)


class ShapeRule(NamedTuple):
    """One constraint of a shape: its path (None for SPARQL constraints), severity and message."""

    path: str | None
    severity: str
    message: str


class AppliedConstraint(NamedTuple):
    """A constraint that applies to the target or to an item of its bill of materials, with its source."""

    constraint: str
    kind: str
    label: str
    description: str | None
    severity: str | None
    rules: list[ShapeRule]
    applies_to: str
    applies_to_class: str | None
    inherited_from: str | None
    via: list[str]
    source_file: str | None
    document: str | None
    document_name: str | None
    # The label in each language of LANGUAGES; `label` is the one in the requested language.
    labels: dict[str, str] | None = None


class BomItem(NamedTuple):
    """An entity reached from the target through the bill of materials, with the keys on the way."""

    key: str
    labels: list[str]
    props: dict[str, Any]
    path: list[str]


class DesignConstraints(NamedTuple):
    """The target, the items of its bill of materials and every constraint that applies to them."""

    target: dict[str, Any]
    items: list[BomItem]
    constraints: list[AppliedConstraint]


# Shapes

class ShapeEntry(NamedTuple):
    """A node shape of a shapes file, with its rules as (path, severity, messages by language)."""

    iri: str
    file: str
    target_classes: list[str]
    applies_to: list[str]
    labels: dict[str, str]
    comments: dict[str, str]
    rules: list[tuple[str | None, str, dict[str, str]]]


def _texts(graph: Graph, subject: Node, predicate: URIRef) -> dict[str, str]:
    texts: dict[str, str] = {}
    for value in graph.objects(subject, predicate):
        if isinstance(value, Literal):
            texts.setdefault((value.language or "en").split("-")[0].lower(), str(value))
    return texts


def _pick(texts: dict[str, str], lang: str) -> str:
    return texts.get(lang) or texts.get("en") or next(iter(texts.values()), "")


# A SHACL message template variable, {?value} or {$this}, which pySHACL fills in per validation result.
_TEMPLATE_VARIABLE = re.compile(r"\{[?$][A-Za-z_][A-Za-z0-9_]*\}")
# Text that replaces a template variable in a message shown without a focus node.
TEMPLATE_PLACEHOLDER = "…"


def template_text(message: str) -> str:
    """Return a SHACL message template for reading without a focus node: each {?var} or {$var} becomes "…".

    A listed constraint has no validation result whose values could fill in the variables. A
    validation report's messages come from pySHACL with the values filled in, and never pass here.
    """
    return _TEMPLATE_VARIABLE.sub(TEMPLATE_PLACEHOLDER, message)


def _severity_name(value: Node | None) -> str:
    return str(value).rsplit("#", 1)[-1] if value is not None else "Violation"


def _path_text(graph: Graph, path: Node | None) -> str | None:
    """Return a readable SHACL path: a kg: local name, an IRI, or the Turtle of a complex path."""
    if path is None:
        return None
    if isinstance(path, URIRef):
        return "kg:" + str(path)[len(str(KG)):] if str(path).startswith(str(KG)) else str(path)
    inverse = graph.value(path, SH.inversePath)
    if inverse is not None:
        return f"^{_path_text(graph, inverse)}"
    return str(path)


def read_shapes_graph(files: Iterable[Path]) -> Graph:
    """Parse and merge shapes files; raise InputDataError when one is missing or invalid."""
    merged = Graph()
    for file in files:
        try:
            merged += parse_ontology_file(file)
        except OntologyError as error:
            raise InputDataError(f"cannot read the shapes file: {error}", hint="pass a SHACL Turtle file") from None
    return merged


def _catalog_of(graph: Graph, source: str) -> list[ShapeEntry]:
    """Return the node shapes of one shapes graph, each with its rules and messages."""
    entries = []
    node_shapes = set(graph.subjects(RDF.type, SH.NodeShape)) | set(graph.subjects(SH.targetClass, None))
    for shape in sorted(node_shapes, key=str):
        if not isinstance(shape, URIRef):
            continue
        default_severity = _severity_name(graph.value(shape, SH.severity))
        rules = []
        for prop in graph.objects(shape, SH.property):
            own_severity = graph.value(prop, SH.severity)
            severity = _severity_name(own_severity) if own_severity is not None else default_severity
            rules.append((_path_text(graph, graph.value(prop, SH.path)), severity, _texts(graph, prop, SH.message)))
        # pySHACL 0.40.1 reports SPARQL constraints with the node shape's severity, so the catalog does too.
        for sparql in graph.objects(shape, SH.sparql):
            messages = _texts(graph, sparql, SH.message) or _texts(graph, shape, SH.message)
            rules.append((None, default_severity, messages))
        # Property shapes are blank nodes in no defined order, so the rules are sorted for stable paging.
        rules.sort(key=lambda rule: (rule[0] is None, rule[0] or "", rule[1], sorted(rule[2].items())))
        targets = [str(value)[len(str(KG)):] for value in graph.objects(shape, SH.targetClass)
                   if str(value).startswith(str(KG))]
        applies_to = [key for key in (instance_key(str(value)) for value in graph.objects(shape, KG.appliesTo))
                      if key is not None]
        entries.append(ShapeEntry(str(shape), source, sorted(targets), sorted(applies_to),
                                  _texts(graph, shape, RDFS.label), _texts(graph, shape, RDFS.comment), rules))
    return entries


@functools.lru_cache(maxsize=8)
def _shape_catalog(files: tuple[Path, ...], stamps: tuple[float, ...]) -> list[ShapeEntry]:
    """Return the node shapes of the files; `stamps` (modification times) invalidate the cache."""
    entries = []
    for file in files:
        entries.extend(_catalog_of(parse_ontology_file(file), str(file)))
    return entries


def shape_catalog(files: Iterable[Path]) -> list[ShapeEntry]:
    """Return the node shapes of the shapes files, re-read when a file changes."""
    paths = tuple(Path(file).resolve() for file in files)
    for path in paths:
        if not path.is_file():
            raise InputDataError("shapes file not found", path=str(path), hint="pass an existing SHACL Turtle file")
    return _shape_catalog(paths, tuple(path.stat().st_mtime for path in paths))


# Shapes edited by domain experts live in Neo4j (the ontology editor's shapes graph, seeded from
# ontology/shapes.ttl on the first edit). Reasoning reads them when stored, else the file.

SHAPES_STATE_QUERY = """
OPTIONAL MATCH (o:Ontology {iri: $iri})
OPTIONAL MATCH (c:OntologyChange {ontology: $iri})
RETURN o IS NOT NULL AS stored, max(c.version) AS version, toString(max(c.at)) AS changed
"""

# Keyed by store, change-log version and time of the latest change, because a wiped and re-edited
# database starts again at version 1 and the version alone could serve an old graph.
_STORED_SHAPES: dict[tuple[int, int, str | None], tuple[Graph, list[ShapeEntry]]] = {}


def stored_shapes(store: GraphStore) -> tuple[Graph, list[ShapeEntry]] | None:
    """Return the stored shapes graph and its catalog, or None when no shapes are stored.

    The result is cached per store and latest change, so an edit is seen by the next query.
    """
    from kg_service.ontology.editing import SHAPES_ONTOLOGY_IRI

    state = store.read(SHAPES_STATE_QUERY, {"iri": SHAPES_ONTOLOGY_IRI})[0]
    if not state["stored"]:
        return None
    key = (id(store), state["version"] or 0, state["changed"])
    if key not in _STORED_SHAPES:
        graph = export_ontology(store, SHAPES_ONTOLOGY_IRI)
        _STORED_SHAPES.clear()
        _STORED_SHAPES[key] = (graph, _catalog_of(graph, f"neo4j:{SHAPES_ONTOLOGY_IRI}"))
        logger.info("read %d stored shapes (change-log version %d)", len(_STORED_SHAPES[key][1]), key[1])
    return _STORED_SHAPES[key]


def active_shapes(store: GraphStore, shapes_files: Iterable[Path] | None) -> tuple[Graph, list[ShapeEntry]]:
    """Return the shapes graph and catalog to reason with: given files, else stored shapes, else the default file."""
    if shapes_files is None:
        stored = stored_shapes(store)
        if stored is not None:
            return stored
        shapes_files = [DEFAULT_SHAPES_FILE]
    files = list(shapes_files)
    return read_shapes_graph(files), shape_catalog(files)


def active_catalog(store: GraphStore, shapes_files: Iterable[Path] | None) -> list[ShapeEntry]:
    """Return the catalog of `active_shapes` without parsing the shapes graph again.

    The catalog of files is cached until a file changes, so listing constraints parses them once.
    """
    if shapes_files is None:
        stored = stored_shapes(store)
        if stored is not None:
            return stored[1]
        shapes_files = [DEFAULT_SHAPES_FILE]
    return shape_catalog(list(shapes_files))


# Constraints of a product, design, part or component

BOM_LEVEL_QUERY = """
UNWIND $frontier AS key
MATCH (n:Entity {id: key})
CALL (n) {
  MATCH (n)-[r]->(m:Entity) WHERE type(r) IN $down RETURN m
  UNION
  MATCH (n)<-[:PART_OF]-(m:Entity) RETURN m
}
RETURN key AS parent, m.id AS id, labels(m) AS labels, properties(m) AS props
ORDER BY parent, id
"""

OWNERS_QUERY = """
UNWIND $keys AS key
MATCH (product:Product)-[:HAS_DESIGN]->(:Design {id: key})
RETURN key, collect(product.id) AS products
"""

STORED_CONSTRAINTS_QUERY = """
UNWIND $keys AS key
MATCH (n:Entity {id: key})
CALL (n) {
  MATCH (n)-[:HAS_CONSTRAINT]->(c:DesignConstraint) RETURN c
  UNION
  MATCH (c:DesignConstraint)-[:APPLIES_TO]->(n) RETURN c
  UNION
  MATCH (c:Specification)-[:SPECIFIES]->(n) RETURN c
}
OPTIONAL MATCH (c)-[:DOCUMENTED_IN]->(doc:Document)
RETURN key, c.id AS id, labels(c) AS labels, properties(c) AS props, doc.id AS document,
       properties(doc) AS documentProps
ORDER BY id, document
"""


def most_specific_label(labels: Iterable[str], schema: GraphSchema) -> str | None:
    """Return the label with the most ancestors among the labels that the ontology declares."""
    known = [label for label in labels if label in schema.parents and label != ENTITY_LABEL]
    if not known:
        return None
    return sorted(known, key=lambda label: (-len(schema.ancestors(label)), label))[0]


def bill_of_materials(store: GraphStore, root: dict[str, Any]) -> list[BomItem]:
    """Return the root and every entity below it: designs, parts, BOM items and components."""
    items = [BomItem(root["id"], root["labels"], root["props"], [root["id"]])]
    paths = {root["id"]: [root["id"]]}
    frontier = [root["id"]]
    for _ in range(MAX_BOM_DEPTH):
        if not frontier:
            break
        rows = store.read(BOM_LEVEL_QUERY, {"frontier": frontier, "down": BOM_DOWN_TYPES})
        frontier = []
        for row in rows:
            if row["id"] in paths:
                continue
            paths[row["id"]] = paths[row["parent"]] + [row["id"]]
            items.append(BomItem(row["id"], row["labels"], row["props"], paths[row["id"]]))
            frontier.append(row["id"])
    return items


def _shape_constraints(item: BomItem, owners: set[str], schema: GraphSchema, shapes: list[ShapeEntry],
                       lang: str) -> list[AppliedConstraint]:
    specific = most_specific_label(item.labels, schema)
    classes = schema.ancestors(specific) if specific else list(item.labels)
    found = []
    for shape in shapes:
        matched = [label for label in classes if label in shape.target_classes]
        if not matched:
            continue
        if shape.applies_to and not set(shape.applies_to) & owners:
            continue
        target_class = matched[0]
        rules = [ShapeRule(path, severity, template_text(_pick(messages, lang)))
                 for path, severity, messages in shape.rules]
        severity = min((rule.severity for rule in rules), key=lambda name: SEVERITY_RANK.get(name, 3), default=None)
        found.append(AppliedConstraint(
            constraint=shape.iri, kind="shape", label=_pick(shape.labels, lang) or shape.iri,
            description=_pick(shape.comments, lang) or None, severity=severity, rules=rules, applies_to=item.key,
            applies_to_class=target_class, inherited_from=target_class if target_class != specific else None,
            via=item.path, source_file=shape.file, document=None, document_name=None,
            labels={language: _pick(shape.labels, language) or shape.iri for language in LANGUAGES}))
    return found


def _limits_text(props: dict[str, Any]) -> str | None:
    """Return a stored constraint's value as written and its limits, for example "<= 6 mm; min 2.5, max 6.0 mm"."""
    parts = []
    if props.get("value"):
        parts.append(str(props["value"]))
    limits = [f"{name} {props[key]}" for name, key in (("min", "minValue"), ("max", "maxValue")) if key in props]
    if limits:
        unit = f" {props['unit']}" if props.get("unit") else ""
        parts.append(", ".join(limits) + unit)
    return "; ".join(parts) or props.get("description")


def _stored_constraints(store: GraphStore, items: list[BomItem], lang: str) -> list[AppliedConstraint]:
    by_key = {item.key: item for item in items}
    found: dict[str, AppliedConstraint] = {}
    for row in store.read(STORED_CONSTRAINTS_QUERY, {"keys": list(by_key)}):
        item = by_key[row["key"]]
        if row["id"] in found and len(found[row["id"]].via) <= len(item.path):
            continue
        kind = "Specification" if "Specification" in row["labels"] else "DesignConstraint"
        props = row["props"]
        found[row["id"]] = AppliedConstraint(
            constraint=row["id"], kind=kind, label=display_name(props, lang) or row["id"],
            description=_limits_text(props), severity=None, rules=[], applies_to=item.key,
            applies_to_class=None, inherited_from=None, via=item.path, source_file=None, document=row["document"],
            document_name=display_name(row["documentProps"], lang) if row["documentProps"] else None,
            labels={language: display_name(props, language) or row["id"] for language in LANGUAGES})
    return list(found.values())


def design_constraints(store: GraphStore, target: str, lang: str = "en",
                       shapes_files: Iterable[Path] | None = None) -> DesignConstraints:
    """List every constraint on a product, design, part or component (key or name) and its BOM.

    Shapes apply through the class hierarchy (a shape targeting kg:Part applies to a kg:Bearing)
    and through the bill of materials (HAS_DESIGN, USES_PART, HAS_BOM_ITEM and INSTANCE_OF_PART
    downwards, PART_OF from parent to child). A shape with kg:appliesTo applies only to those
    entities, to what lies below them and to the designs of those products.
    """
    lang = check_language(lang)
    if not target.strip():
        raise QueryError("target must not be empty; pass the key or name of a product, design, part or component")
    shapes = active_catalog(store, shapes_files)
    schema = GraphSchema.from_store(store)
    root = resolve_entity(store, target, TARGET_CLASSES)
    items = bill_of_materials(store, root)

    design_keys = [item.key for item in items if "Design" in item.labels]
    products = {row["key"]: set(row["products"]) for row in store.read(OWNERS_QUERY, {"keys": design_keys})}
    constraints = []
    for item in items:
        owners = set(item.path)
        for key in item.path:
            owners |= products.get(key, set())
        constraints.extend(_shape_constraints(item, owners, schema, shapes, lang))
    constraints.extend(_stored_constraints(store, items, lang))
    logger.info("design constraints of %s: %d items, %d constraints", root["id"], len(items), len(constraints))
    return DesignConstraints(root, items, constraints)


# Unit conversion

def convert(value: float, unit: str, table: dict[str, float], quantity: str) -> float:
    """Return `value` in the base unit of `table`; `quantity` names the value in the error message.

    The product is computed in decimal, so 0.28 cm becomes 2.8 mm and not 2.8000000000000003 mm,
    which would decide a check at a limit.
    """
    factor = table.get(unit.strip())
    if factor is None:
        raise QueryError(f"unit {unit!r} of {quantity} is not supported; use one of {', '.join(table)}")
    if not math.isfinite(value):
        raise QueryError(f"{quantity} is {value}, which is not a finite number; give a finite value")
    converted = float(Decimal(repr(value)) * Decimal(repr(factor)))
    if not math.isfinite(converted):
        raise QueryError(f"{quantity} is {value:g} {unit}, which is too large to convert; give a realistic value")
    return converted


# Proposed design -> RDF data graph

class _CoreTerms(NamedTuple):
    class_iri: dict[str, URIRef]
    property_iri: dict[str, tuple[URIRef, str | None]]


class CoreOntology(NamedTuple):
    """The kg-core ontology that a design check reasons with, its terms by node label and property name."""

    graph: Graph
    terms: _CoreTerms
    source: str


def _terms_of(graph: Graph) -> _CoreTerms:
    model = OntologyModel.from_graph(graph, KG_ONTOLOGY_IRI)
    return _CoreTerms({mapping.label: URIRef(iri) for iri, mapping in model.classes.items()},
                      {prop.name: (URIRef(prop.iri), prop.datatype) for prop in model.properties.values()})


@functools.lru_cache(maxsize=2)
def _file_ontology(core_file: Path, stamp: float) -> CoreOntology:
    """Return the ontology of a file; `stamp` (modification time) invalidates the cache."""
    graph = parse_ontology_file(core_file)
    return CoreOntology(graph, _terms_of(graph), str(core_file))


# The state of the stored kg-core ontology. A reload replaces the Ontology node and its triple count,
# and an edit adds a change-log entry, so the key changes with either.
ONTOLOGY_STATE_QUERY = """
OPTIONAL MATCH (o:Ontology {iri: $iri})
OPTIONAL MATCH (c:OntologyChange {ontology: $iri})
RETURN o IS NOT NULL AS stored, elementId(o) AS node, o.triples AS triples, max(c.version) AS version,
       toString(max(c.at)) AS changed
"""

_STORED_ONTOLOGY: dict[tuple[Any, ...], CoreOntology] = {}


def core_ontology(store: GraphStore, core_file: Path | None = None) -> CoreOntology:
    """Return the kg-core ontology for design checks: `core_file` when given, else the stored one, else the file.

    The stored ontology includes every edit (renamed classes and properties, new subclasses), so
    the instances of a design get the rdf:type that the stored shapes target. It is cached per
    store and state of the ontology, so the first check after an edit reads it again.
    """
    if core_file is None:
        state = store.read(ONTOLOGY_STATE_QUERY, {"iri": KG_ONTOLOGY_IRI})[0]
        if state["stored"]:
            key = (id(store), state["node"], state["triples"], state["version"] or 0, state["changed"])
            ontology = _STORED_ONTOLOGY.get(key)
            if ontology is None:
                graph = export_ontology(store, KG_ONTOLOGY_IRI)
                ontology = CoreOntology(graph, _terms_of(graph), f"neo4j:{KG_ONTOLOGY_IRI}")
                _STORED_ONTOLOGY.clear()
                _STORED_ONTOLOGY[key] = ontology
                logger.info("read the stored ontology %s for design checks (change-log version %d, %d triples)",
                            KG_ONTOLOGY_IRI, key[3], len(graph))
            return ontology
        core_file = CORE_ONTOLOGY_FILE
    path = Path(core_file).resolve()
    if not path.is_file():
        raise InputDataError("ontology file not found", path=str(path), hint="pass an existing kg-core Turtle file")
    return _file_ontology(path, path.stat().st_mtime)


def _literal(value: Any, datatype: str | None) -> Literal:
    if hasattr(value, "iso_format"):
        value = value.iso_format()
    if datatype == str(XSD.double) and isinstance(value, (int, float)):
        return Literal(float(value), datatype=XSD.double)
    if datatype == str(XSD.decimal) and isinstance(value, (int, float)):
        return Literal(Decimal(str(value)), datatype=XSD.decimal)
    if datatype == str(XSD.integer) and isinstance(value, int):
        return Literal(value, datatype=XSD.integer)
    if datatype is not None and datatype != str(XSD.string):
        return Literal(str(value), datatype=URIRef(datatype))
    return Literal(value) if isinstance(value, (int, float, bool)) else Literal(str(value))


def _add_node(graph: Graph, terms: _CoreTerms, key: str, labels: Iterable[str], props: dict[str, Any]) -> URIRef:
    """Add an entity with its classes and its kg-core properties; lists become repeated values."""
    subject = instance_iri(key)
    for label in labels:
        if label in terms.class_iri:
            graph.add((subject, RDF.type, terms.class_iri[label]))
    for name, value in props.items():
        if name not in terms.property_iri or value is None:
            continue
        predicate, datatype = terms.property_iri[name]
        for item in value if isinstance(value, list) else [value]:
            graph.add((subject, predicate, _literal(item, datatype)))
    return subject


PART_FACTS_QUERY = """
UNWIND $keys AS key
MATCH (part:Part {id: key})
OPTIONAL MATCH (part)-[:HAS_BOM_ITEM]->(child:Part)
OPTIONAL MATCH (part)-[:SUPPLIED_BY]->(supplier:Supplier)
RETURN part.id AS id, labels(part) AS labels, properties(part) AS props,
       collect(DISTINCT child.id) AS children, collect(DISTINCT supplier.id) AS suppliers
"""

PRODUCT_CONSTRAINTS_QUERY = """
MATCH (product:Product {id: $product})
CALL (product) {
  MATCH (c:DesignConstraint)-[:APPLIES_TO]->(product) RETURN c
  UNION
  MATCH (product)-[:HAS_DESIGN]->(:Design)-[:HAS_CONSTRAINT]->(c:DesignConstraint) RETURN c
}
RETURN c.id AS id, labels(c) AS labels, properties(c) AS props
ORDER BY id
"""

SUPPLIER_FACTS_QUERY = """
UNWIND $keys AS key
MATCH (supplier:Supplier {id: key})
OPTIONAL MATCH (supplier)-[:HAS_CERTIFICATION]->(certification:Certification)
RETURN supplier.id AS id, labels(supplier) AS labels, properties(supplier) AS props,
       collect(DISTINCT {id: certification.id, labels: labels(certification),
                         props: properties(certification)}) AS certifications
"""


def _resolve(store: GraphStore, reference: str, classes: list[str], role: str) -> dict[str, Any]:
    """Resolve a key or name like `resolve_entity`, with `role` (for example "part 2") leading the error."""
    try:
        return resolve_entity(store, reference, classes)
    except QueryError as error:
        raise type(error)(f"{role}: {error}") from None


def _add_dimensions(graph: Graph, terms: _CoreTerms, store: GraphStore, design: URIRef, design_key: str,
                    dimensions: list[DimensionInput]) -> None:
    for index, dimension in enumerate(dimensions, start=1):
        quantity = f"dimension {dimension.name!r}"
        value_mm = convert(dimension.value, dimension.unit, LENGTH_UNITS, quantity)
        props: dict[str, Any] = {"name": dimension.name, "nominalValue": value_mm, "unit": "mm"}
        if dimension.tolerance is not None:
            props["tolerance"] = convert(dimension.tolerance, dimension.unit, LENGTH_UNITS, quantity)
        node = _add_node(graph, terms, f"{design_key}:dimension:{index}", ["Dimension"], props)
        graph.add((design, KG.hasDimension, node))
        if dimension.process is not None:
            process = _resolve(store, dimension.process, ["ManufacturingProcess"], f"process of {quantity}")
            graph.add((node, KG.producedBy, _add_node(graph, terms, process["id"], process["labels"], process["props"])))


def _add_parts(graph: Graph, terms: _CoreTerms, store: GraphStore, design: URIRef, parts: list[PartChoice]) -> None:
    chosen = {}
    for index, choice in enumerate(parts, start=1):
        row = _resolve(store, choice.part, ["Part"], f"part {index} ({choice.part!r})")
        chosen[row["id"]] = choice
        graph.add((design, KG.usesPart, instance_iri(row["id"])))

    # The chosen parts and everything in their bill of materials, with their suppliers.
    supplier_keys: set[str] = set()
    seen: set[str] = set()
    frontier = list(chosen)
    while frontier:
        rows = store.read(PART_FACTS_QUERY, {"keys": frontier})
        frontier = []
        for row in rows:
            seen.add(row["id"])
            props = dict(row["props"])
            choice = chosen.get(row["id"])
            suppliers = row["suppliers"]
            if choice is not None:
                if choice.rated_load is not None:
                    props["ratedLoad"] = convert(choice.rated_load.value, choice.rated_load.unit, FORCE_UNITS,
                                                 f"the rated load of part {choice.part!r}")
                if choice.speed_limit is not None:
                    props["speedLimit"] = convert(choice.speed_limit.value, choice.speed_limit.unit, SPEED_UNITS,
                                                  f"the speed limit of part {choice.part!r}")
                if choice.supplier is not None:
                    suppliers = [_resolve(store, choice.supplier, ["Supplier"],
                                          f"supplier of part {choice.part!r}")["id"]]
            part = _add_node(graph, terms, row["id"], row["labels"], props)
            for supplier in suppliers:
                graph.add((part, KG.suppliedBy, instance_iri(supplier)))
                supplier_keys.add(supplier)
            for child in row["children"]:
                graph.add((part, KG.hasBomItem, instance_iri(child)))
                if child not in seen:
                    frontier.append(child)

    for row in store.read(SUPPLIER_FACTS_QUERY, {"keys": sorted(supplier_keys)}):
        supplier = _add_node(graph, terms, row["id"], row["labels"], row["props"])
        for certification in row["certifications"]:
            if certification["id"] is not None:
                graph.add((supplier, KG.hasCertification, _add_node(graph, terms, certification["id"],
                                                                     certification["labels"], certification["props"])))


def design_data_graph(store: GraphStore, design: DesignInput, core_file: Path | None = None) -> Graph:
    """Return the proposed design as RDF in the kg-core vocabulary, joined with the graph's facts.

    Node labels and property names map to IRIs through the stored ontology (see `core_ontology`).
    """
    # NOTE: the relationships of a design (kg:hasDimension, kg:usesPart, ...) and the Cypher queries
    # that collect the facts use the kg-core names. Renaming one of those terms breaks the check.
    terms = core_ontology(store, core_file).terms
    graph = Graph()
    graph.bind("kg", KG)
    graph.bind("kgi", INSTANCE_NAMESPACE)
    design_key = f"design:proposed:{slug(design.name)}"
    subject = _add_node(graph, terms, design_key, ["Design"], {"name": design.name})

    if design.product is not None:
        product = _resolve(store, design.product, ["Product"], "product")
        graph.add((_add_node(graph, terms, product["id"], product["labels"], product["props"]), KG.hasDesign, subject))
        # A new design of a product must meet the constraints recorded for the product and its designs.
        for row in store.read(PRODUCT_CONSTRAINTS_QUERY, {"product": product["id"]}):
            graph.add((subject, KG.hasConstraint, _add_node(graph, terms, row["id"], row["labels"], row["props"])))
    for index, reference in enumerate(design.materials, start=1):
        material = _resolve(store, reference, ["Material"], f"material {index} ({reference!r})")
        graph.add((subject, KG.usesMaterial, _add_node(graph, terms, material["id"], material["labels"],
                                                        material["props"])))
    _add_dimensions(graph, terms, store, subject, design_key, design.dimensions)
    _add_parts(graph, terms, store, subject, design.parts)
    return graph


# Validation

# `instance_iri` writes keys with these characters only, so a message's punctuation ends the match.
_INSTANCE_IRI = re.compile(re.escape(INSTANCE_NAMESPACE) + r"([A-Za-z0-9:\-._~/%]+)")


def _node_text(node: Node | None) -> str | None:
    """Return an instance IRI as its key, another IRI or literal as text, a blank node as _:id."""
    if node is None:
        return None
    if isinstance(node, BNode):
        return f"_:{node}"
    key = instance_key(str(node)) if isinstance(node, URIRef) else None
    return key if key is not None else str(node)


_CJK = re.compile(r"[\u3400-\u9fff]")


def _message(report: Graph, result: Node, lang: str, names: dict[str, str]) -> str:
    """Return the result message in `lang`, with instance IRIs replaced by `names` (key to name), else the key."""
    texts: dict[str, str] = {}
    for value in report.objects(result, SH.resultMessage):
        # pySHACL 0.40.1 drops the language tag of SPARQL constraint messages after it fills in
        # {?value}, so an untagged message counts as Chinese when it contains CJK characters.
        language = value.language if isinstance(value, Literal) and value.language else (
            "zh" if _CJK.search(str(value)) else "en")
        texts.setdefault(language.split("-")[0].lower(), str(value))
    text = _pick(texts, lang)
    return _INSTANCE_IRI.sub(lambda match: _instance_text(match.group(1), names), text)


def _instance_text(quoted_key: str, names: dict[str, str]) -> str:
    """Return the name of the instance key, else the key; a sentence's final '.' or ':' stays after it."""
    key = unquote(quoted_key)
    stripped = key.rstrip(".:")
    if key in names:
        return names[key]
    if stripped in names:
        return names[stripped] + key[len(stripped):]
    return key


def instance_names(data: Graph, lang: str) -> dict[str, str]:
    """Return the display name in `lang` (kg:nameEn, kg:nameZh, else kg:name) of each instance in `data`, by key."""
    properties: dict[str, dict[str, str]] = {}
    for predicate in (KG.name, KG.nameEn, KG.nameZh):
        for subject, value in data.subject_objects(predicate):
            key = instance_key(str(subject)) if isinstance(subject, URIRef) else None
            if key is not None:
                properties.setdefault(key, {}).setdefault(str(predicate)[len(str(KG)):], str(value))
    return {key: name for key, props in properties.items() if (name := display_name(props, lang))}


def _owning_shape(shapes: Graph, shape: Node | None) -> str:
    """Return the node shape that contains a property shape, so blank property shapes get a name."""
    if shape is None:
        return ""
    if isinstance(shape, BNode):
        for owner in shapes.subjects(SH.property, shape):
            if isinstance(owner, URIRef):
                return str(owner)
        return f"_:{shape}"
    return str(shape)


def read_report(report: Graph, shapes: Graph, lang: str, names: dict[str, str] | None = None) -> list[Violation]:
    """Turn a pySHACL validation report graph into results, most severe first.

    Messages name instances by `names` (key to display name) where given, else by key; the
    `value` and `focus_node` fields keep the keys.
    """
    violations = []
    for result in report.subjects(RDF.type, SH.ValidationResult):
        component = report.value(result, SH.sourceConstraintComponent)
        path = report.value(result, SH.resultPath)
        violations.append(Violation(
            focus_node=_node_text(report.value(result, SH.focusNode)) or "",
            path=_path_text(report, path) if path is not None else None,
            message=_message(report, result, lang, names or {}),
            severity=_severity_name(report.value(result, SH.resultSeverity)),
            source_shape=_owning_shape(shapes, report.value(result, SH.sourceShape)),
            constraint=str(component).rsplit("#", 1)[-1] if component is not None else "",
            value=_node_text(report.value(result, SH.value))))
    return sorted(violations, key=lambda item: (SEVERITY_RANK.get(item.severity, 3), item.source_shape,
                                                item.focus_node, item.path or "", item.message))


def run_validation(data: Graph, shapes: Graph, ontology: Graph | None, lang: str, inference: str,
                   names: dict[str, str] | None = None, shapes_source: str = "the shapes") -> ValidationReport:
    """Validate `data` with pySHACL and read its report.

    Raise OntologyError, naming the shape and query, when pySHACL cannot load or run a shape.
    """
    started = time.perf_counter()
    try:
        conforms, report, _ = pyshacl.validate(data, shacl_graph=shapes, ont_graph=ontology, inference=inference,
                                               abort_on_first=False, allow_warnings=False, meta_shacl=False)
    except Exception as error:  # noqa: BLE001 - pySHACL raises its own errors, pyparsing's and plain Exceptions
        raise _broken_shapes_error(shapes, shapes_source, error) from error
    seconds = time.perf_counter() - started
    violations = read_report(report, shapes, lang, names)
    logger.info("pySHACL: %d data triples, %d results, %.2f s", len(data), len(violations), seconds)
    return ValidationReport(bool(conforms), violations, len(data), seconds)


def _broken_shapes_error(shapes: Graph, source: str, error: Exception) -> OntologyError:
    """Return an error that names the shapes pySHACL failed on and how to repair them."""
    from kg_service.ontology.editing import shape_query_problems

    logger.debug("pySHACL failed on %s: %s: %s", source, type(error).__name__, error)
    if source.startswith("neo4j:"):
        repair = ("send a corrected shape with the same IRI through the upsertShape mutation, which replaces it, "
                  "or add sh:deactivated true to it that way")
    else:
        repair = f"fix the shape in {source}"
    problems = shape_query_problems(shapes)
    if problems:
        return OntologyError(f"cannot check the design: a SPARQL query in the shapes of {source} is invalid "
                             f"({'; '.join(problems)}). To repair it, {repair}")
    first_line = (str(error).strip().splitlines() or [type(error).__name__])[0]
    return OntologyError(f"cannot check the design: pySHACL failed on the shapes of {source} "
                         f"({type(error).__name__}: {first_line[:300]}). To repair it, {repair}")


def check_design(store: GraphStore, design: DesignInput, lang: str = "en",
                 shapes_files: Iterable[Path] | None = None,
                 core_file: Path | None = None) -> ValidationReport:
    """Validate a proposed design against the design-constraint shapes, with RDFS inference over kg-core.

    Without `core_file` the check reads the stored (edited) kg-core ontology. Without
    `shapes_files` it reads the stored shapes. Each falls back to its file when nothing is stored.
    """
    lang = check_language(lang)
    shapes, _ = active_shapes(store, shapes_files)
    source = (", ".join(str(file) for file in shapes_files) if shapes_files is not None
              else _shapes_source(store))
    ontology = core_ontology(store, core_file)
    data = design_data_graph(store, design, core_file)
    return run_validation(data, shapes, ontology.graph, lang, "rdfs", instance_names(data, lang), source)


def _shapes_source(store: GraphStore) -> str:
    """Return where the active shapes come from: the stored shapes graph or the default file."""
    from kg_service.ontology.editing import SHAPES_ONTOLOGY_IRI

    stored = store.read(SHAPES_STATE_QUERY, {"iri": SHAPES_ONTOLOGY_IRI})[0]["stored"]
    return f"neo4j:{SHAPES_ONTOLOGY_IRI}" if stored else str(DEFAULT_SHAPES_FILE)


def validate_rdf(data_file: Path, shapes_file: Path, lang: str = "en", inference: str = "none",
                 ontology_file: Path | None = None) -> ValidationReport:
    """Validate any RDF file against any SHACL shapes file.

    `inference` is pySHACL's (none, rdfs, owlrl, both); `ontology_file`, when given, is mixed
    into the data graph, so that sh:targetClass and sh:class follow its rdfs:subClassOf axioms.
    """
    lang = check_language(lang)
    if inference not in {"none", "rdfs", "owlrl", "both"}:
        raise QueryError(f"inference must be none, rdfs, owlrl or both, got {inference!r}")
    try:
        data = parse_ontology_file(data_file)
        ontology = parse_ontology_file(ontology_file) if ontology_file is not None else None
    except OntologyError as error:
        raise InputDataError(f"cannot read the data or ontology file: {error}",
                             hint="pass RDF files (.ttl, .rdf, .nt, .jsonld)") from None
    shapes = read_shapes_graph([Path(shapes_file)])
    return run_validation(data, shapes, ontology, lang, inference, shapes_source=str(shapes_file))
