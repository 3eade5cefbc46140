"""GraphQL fields for design constraints: `designConstraints` and `checkDesign`."""

from __future__ import annotations

import asyncio
import dataclasses
import logging
from typing import Annotated, Any

import strawberry
from pydantic import ValidationError
from strawberry.types import Info

from kg_service.api.context import request_schema, request_store
from kg_service.api.execution import PURE_RESOLVER
from kg_service.api.limits import Cost
from kg_service.api.paging import Connection, connection, fingerprint
from kg_service.api.types import Entity, EntityConnection, EntityEdge
from kg_service.errors import QueryError
from kg_service.reasoning import design
from kg_service.reasoning.lookup import check_language

logger = logging.getLogger(__name__)


@strawberry.input(name="QuantityInput", description="A value with its unit, for example 13.5 kN")
class QuantityInputType:
    value: float
    unit: str


@strawberry.input(name="DimensionInput", description="A dimension of a proposed design")
class DimensionInputType:
    name: str
    value: float
    unit: str = strawberry.field(description="Length unit: mm, cm or m")
    tolerance: float | None = strawberry.field(default=None, description="Symmetric tolerance, in the same unit")
    process: str | None = strawberry.field(default=None, description="Key or name of the manufacturing process")


@strawberry.input(name="PartChoiceInput", description="A part chosen for a design")
class PartChoiceInputType:
    part: str = strawberry.field(description="Key or name of a Part")
    supplier: str | None = strawberry.field(default=None, description="Key or name of the chosen Supplier")
    rated_load: QuantityInputType | None = strawberry.field(default=None, description="Rated dynamic load, N or kN")
    speed_limit: QuantityInputType | None = strawberry.field(default=None, description="Speed limit, rpm")


@strawberry.input(name="DesignInput", description="A proposed design to check against the design-constraint shapes")
class DesignInputType:
    name: str = "proposed design"
    product: str | None = strawberry.field(default=None, description="Key or name of the Product")
    materials: list[str] = strawberry.field(default_factory=list, description="Keys or names of Materials")
    dimensions: list[DimensionInputType] = strawberry.field(default_factory=list)
    parts: list[PartChoiceInputType] = strawberry.field(default_factory=list)


@strawberry.type(description="One SHACL validation result")
class DesignViolation:
    focus_node: str = strawberry.field(description="Key of the node that failed, or its IRI")
    path: str | None
    message: str
    severity: str = strawberry.field(description="Violation, Warning or Info")
    source_shape: str = strawberry.field(description="IRI of the node shape")
    constraint: str = strawberry.field(description="SHACL constraint component, for example MinCountConstraintComponent")
    value: str | None


# Default page size of the lists of a design result; each takes `first` up to 200.
DESIGN_PAGE = 20


@strawberry.type(description="Relay-style page of SHACL validation results, violations first")
class DesignViolationConnection(Connection[DesignViolation]):
    pass


@strawberry.type(description="The outcome of validating a proposed design with pySHACL")
class DesignCheckResult:
    conforms: bool = strawberry.field(description="pySHACL's result: false also when there are only warnings")
    violation_count: int
    warning_count: int
    data_triples: int
    scope: strawberry.Private[dict[str, Any]]
    results: strawberry.Private[list[DesignViolation]]

    @strawberry.field(description="Every validation result (violations, warnings and infos), most severe first")
    def violations(self, first: int = DESIGN_PAGE, after: str | None = None) -> DesignViolationConnection:
        return connection(DesignViolationConnection, self.results, first, after,
                          fingerprint("DesignCheckResult.violations", self.scope), "violations")


@strawberry.type(description="One constraint of a SHACL shape")
class DesignShapeRule:
    path: str | None
    severity: str
    message: str


@strawberry.type(description="Relay-style page of the rules of a SHACL shape")
class DesignShapeRuleConnection(Connection[DesignShapeRule]):
    pass


@strawberry.type(description="A constraint on the target or an item of its bill of materials, with its source")
class AppliedDesignConstraint:
    constraint: str = strawberry.field(description="Shape IRI, or the key of a DesignConstraint or Specification node")
    kind: str = strawberry.field(description="shape, DesignConstraint or Specification")
    label_texts: strawberry.Private[dict[str, str]]
    query_lang: strawberry.Private[str]
    description: str | None
    severity: str | None
    rule_items: strawberry.Private[list[DesignShapeRule]]
    applies_to: str = strawberry.field(description="Key of the entity the constraint applies to")
    applies_to_class: str | None = strawberry.field(description="Target class of the shape that matched")
    inherited_from: str | None = strawberry.field(description="Superclass whose shape applies, when not the entity's own class")
    via: list[str] = strawberry.field(description="Keys from the target down to the entity through the bill of materials")
    source_file: str | None
    document: str | None = strawberry.field(description="Key of the document that records the constraint")
    document_name: str | None

    @strawberry.field(description="Name of the constraint in the requested language ('en' or 'zh', any case), "
                                  "else in English, else its key. Without `lang`, the lang of designConstraints "
                                  "(default en)", metadata={PURE_RESOLVER: True})
    def label(self, lang: str | None = None) -> str:
        language = check_language(lang) if lang is not None else self.query_lang
        return self.label_texts.get(language) or self.label_texts.get("en") or self.constraint

    @strawberry.field(description="The rules of the shape: its property constraints, then its SPARQL "
                                  "constraints. A DesignConstraint or Specification node has none",
                      metadata={PURE_RESOLVER: True})
    def rules(self, first: int = DESIGN_PAGE, after: str | None = None) -> DesignShapeRuleConnection:
        scope = fingerprint("AppliedDesignConstraint.rules", {"constraint": self.constraint,
                                                               "appliesTo": self.applies_to})
        return connection(DesignShapeRuleConnection, self.rule_items, first, after, scope, "rules")


@strawberry.type(description="Relay-style page of the constraints on a target and its bill of materials")
class AppliedDesignConstraintConnection(Connection[AppliedDesignConstraint]):
    pass


@strawberry.type(description="Every constraint on a product, design, part or component and its bill of materials")
class DesignConstraintsResult:
    target: Entity
    scope: strawberry.Private[dict[str, Any]]
    bill: strawberry.Private[list[Entity]]
    applied: strawberry.Private[list[AppliedDesignConstraint]]

    @strawberry.field(description="The target and the entities of its bill of materials, the target first")
    def items(self, first: int = DESIGN_PAGE, after: str | None = None) -> EntityConnection:
        return connection(EntityConnection, self.bill, first, after,
                          fingerprint("DesignConstraintsResult.items", self.scope), "items", edge_type=EntityEdge)

    @strawberry.field(description="The constraints that apply to the target or an item of its bill of materials")
    def constraints(self, first: int = DESIGN_PAGE, after: str | None = None) -> AppliedDesignConstraintConnection:
        return connection(AppliedDesignConstraintConnection, self.applied, first, after,
                          fingerprint("DesignConstraintsResult.constraints", self.scope), "constraints")


def to_design_input(value: DesignInputType) -> design.DesignInput:
    """Convert the GraphQL input to the pydantic model; raise QueryError when it is invalid."""
    try:
        return design.DesignInput.model_validate(dataclasses.asdict(value))
    except ValidationError as error:
        problems = "; ".join(f"{'.'.join(map(str, item['loc']))}: {item['msg']}" for item in error.errors())
        raise QueryError(f"invalid design: {problems}") from None


@strawberry.type
class DesignQuery:
    @strawberry.field(description="Constraints that apply to a product, design, part or component (key or name), "
                                  "inherited through the class hierarchy and the bill of materials",
                      directives=[Cost(weight=200)])
    async def design_constraints(self, info: Info, target: str, lang: str = "en") -> DesignConstraintsResult:
        lang = check_language(lang)
        result = await asyncio.to_thread(design.design_constraints, request_store(info), target, lang)
        schema = await asyncio.to_thread(request_schema, info)
        constraints = [AppliedDesignConstraint(
            constraint=item.constraint, kind=item.kind, label_texts=item.labels or {lang: item.label},
            query_lang=lang, description=item.description,
            severity=item.severity, rule_items=[DesignShapeRule(path=rule.path, severity=rule.severity, message=rule.message)
                                           for rule in item.rules],
            applies_to=item.applies_to, applies_to_class=item.applies_to_class, inherited_from=item.inherited_from,
            via=item.via, source_file=item.source_file, document=item.document, document_name=item.document_name)
            for item in result.constraints]
        return DesignConstraintsResult(
            target=Entity.from_row(result.target["id"], result.target["labels"], result.target["props"], schema),
            scope={"target": target, "lang": lang},
            bill=[Entity.from_row(item.key, item.labels, item.props, schema) for item in result.items],
            applied=constraints)

    @strawberry.field(description="Validate a proposed design with pySHACL against the design-constraint shapes",
                      directives=[Cost(weight=2000)])
    async def check_design(self, info: Info, design_input: Annotated[DesignInputType, strawberry.argument(name="design")],
                           lang: str = "en") -> DesignCheckResult:
        lang = check_language(lang)
        proposal = to_design_input(design_input)
        report = await asyncio.to_thread(design.check_design, request_store(info), proposal, lang)
        return DesignCheckResult(
            conforms=report.conforms, violation_count=report.count("Violation"),
            warning_count=report.count("Warning"), data_triples=report.data_triples,
            scope={"design": proposal.model_dump(mode="json"), "lang": lang},
            results=[DesignViolation(focus_node=item.focus_node, path=item.path, message=item.message,
                                        severity=item.severity, source_shape=item.source_shape,
                                        constraint=item.constraint, value=item.value)
                        for item in report.violations])


query_type = DesignQuery
