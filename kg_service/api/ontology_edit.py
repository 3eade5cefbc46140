"""GraphQL mutations that edit the stored ontology, and queries of its change log and version.

Every mutation takes `why` (required text for the change log), `author` and `preview`; with
`preview: true` it returns the impact and changes nothing. Mutations need the role
ontology-editor and the change log needs analyst. An authenticated request (API key or JWT) is
logged under its credential's name, and an `author` that differs from it is kept beside it as a
note (`authorNote` of `ontologyChanges`). `author` is the logged author only for anonymous
requests, which a server grants that role only when KG_ANONYMOUS_ROLE is set to it.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
from typing import Any

import strawberry
from strawberry.scalars import JSON
from strawberry.types import Info

from kg_service.api.context import request_store
from kg_service.api.auth import RequireRole, request_principal
from kg_service.api.paging import check_first, decode_key_cursor, encode_key_cursor, fingerprint, keyset_page_info
from kg_service.api.types import PageInfo
from kg_service.ontology.editing import ChangeRecord, EditResult, OntologyEditor
from kg_service.ontology.model import KG_ONTOLOGY_IRI

logger = logging.getLogger(__name__)


@strawberry.type(description="Instance data that an ontology edit touches")
class OntologyImpact:
    nodes: int = strawberry.field(description="Instance nodes affected (renamed, counted or checked)")
    relationships: int = strawberry.field(description="Relationships affected")
    violations: int = strawberry.field(description="Existing relationships or nodes that break a new domain or range")
    shapes: int = strawberry.field(description="SHACL shapes that refer to the term (renameTerm rewrites them to the new IRI)")
    description: str


@strawberry.type(description="Outcome of an ontology edit; `applied` is false for a preview")
class OntologyEditResult:
    operation: str
    ontology: str
    term: str | None = strawberry.field(description="IRI of the edited term after the edit")
    applied: bool
    impact: OntologyImpact
    version: int | None = strawberry.field(description="Change-log version of this change")
    ontology_version: str | None = strawberry.field(description="owl:versionInfo after the change")
    inverse: JSON | None = strawberry.field(description="Operation and arguments that undo the change, when known")


@strawberry.type(description="One entry of the ontology change log")
class OntologyChange:
    version: int
    ontology: str
    author: str
    at: str = strawberry.field(description="Time of the change, ISO 8601")
    operation: str
    arguments: JSON
    why: str
    nodes: int
    relationships: int
    violations: int
    ontology_version: str | None
    inverse: JSON | None
    author_note: str | None = strawberry.field(
        description="Author that an authenticated caller named when it differs from the credential's name, "
                    "which `author` contains; null when there is none")


@strawberry.type
class OntologyChangeEdge:
    cursor: str
    node: OntologyChange


@strawberry.type(description="Relay-style page of ontology changes, oldest first")
class OntologyChangeConnection:
    total_count: int
    edges: list[OntologyChangeEdge]
    page_info: PageInfo


@strawberry.type(description="Version of a stored ontology")
class OntologyVersion:
    ontology: str
    version_info: str | None = strawberry.field(description="owl:versionInfo")
    change_version: int = strawberry.field(description="Latest change-log version, 0 before any change")


def _result(result: EditResult) -> OntologyEditResult:
    return OntologyEditResult(operation=result.operation, ontology=result.ontology, term=result.term,
                              applied=result.applied, impact=OntologyImpact(**dataclasses.asdict(result.impact)),
                              version=result.version, ontology_version=result.ontology_version,
                              inverse=result.inverse)


def _change(record: ChangeRecord) -> OntologyChange:
    return OntologyChange(**dataclasses.asdict(record))


def _texts(en: str | None, zh: str | None) -> dict[str, str]:
    return {language: text for language, text in (("en", en), ("zh", zh)) if text is not None}


EDITOR = RequireRole.of("ontology-editor")
ANALYST = RequireRole.of("analyst")


async def _edit(info: Info, ontology: str | None, method: str, *args: Any, **kwargs: Any) -> OntologyEditResult:
    # An authenticated request logs the credential's name as the author, because `author` is not
    # checked. A different `author` is kept as a note, so a shared key still shows who asked.
    principal = request_principal(info)
    note = None
    if principal.authenticated:
        supplied = (kwargs.get("author") or "").strip()
        note = supplied if supplied and supplied != principal.name else None
        kwargs["author"] = principal.name
    editor = OntologyEditor(request_store(info), ontology or KG_ONTOLOGY_IRI, author_note=note)
    result = await asyncio.to_thread(getattr(editor, method), *args, **kwargs)
    if result.applied:
        # The allowlist cache would keep the old labels for up to 30 s; drop it so the next request re-reads it.
        info.context["schema_cache"]._schema = None
    return _result(result)


@strawberry.type
class OntologyEditMutation:
    @strawberry.mutation(permission_classes=[EDITOR], description="Add a class under a parent, with labels and definitions in en and zh")
    async def add_class(self, info: Info, name: str, parent: str, label_en: str, label_zh: str, definition_en: str,
                        definition_zh: str, why: str, author: str, preview: bool = False,
                        ontology: str | None = None) -> OntologyEditResult:
        return await _edit(info, ontology, "add_class", name, parent, _texts(label_en, label_zh),
                           _texts(definition_en, definition_zh), why=why, author=author, preview=preview)

    @strawberry.mutation(permission_classes=[EDITOR], description="Add an object property (kind \"object\": domain and range are "
                                     "classes; the relationship type follows from the name, drivesPump -> "
                                     "DRIVES_PUMP) or a datatype property (kind \"datatype\": range an XSD "
                                     "datatype such as xsd:decimal), with labels and definitions in en and zh")
    async def add_property(self, info: Info, name: str, kind: str, domain: str, range: str, label_en: str,
                           label_zh: str, definition_en: str, definition_zh: str, why: str, author: str,
                           preview: bool = False, ontology: str | None = None) -> OntologyEditResult:
        return await _edit(info, ontology, "add_property", name, kind, domain, range, _texts(label_en, label_zh),
                           _texts(definition_en, definition_zh), why=why, author=author, preview=preview)

    @strawberry.mutation(permission_classes=[EDITOR], description="Rename a class or property (new node label, relationship type or property "
                                     "name); `migrate: true` renames its instances in the same change; "
                                     "`relationshipType` overrides the type derived from `newName`")
    async def rename_term(self, info: Info, term: str, new_name: str, why: str, author: str, migrate: bool = False,
                          relationship_type: str | None = None, preview: bool = False,
                          ontology: str | None = None) -> OntologyEditResult:
        return await _edit(info, ontology, "rename_term", term, new_name, migrate=migrate,
                           relationship_type=relationship_type, why=why, author=author, preview=preview)

    @strawberry.mutation(permission_classes=[EDITOR], description="Replace a term's label in English and/or Chinese")
    async def relabel_term(self, info: Info, term: str, why: str, author: str, label_en: str | None = None,
                           label_zh: str | None = None, preview: bool = False,
                           ontology: str | None = None) -> OntologyEditResult:
        return await _edit(info, ontology, "relabel_term", term, _texts(label_en, label_zh), why=why, author=author,
                           preview=preview)

    @strawberry.mutation(permission_classes=[EDITOR], description="Mark a term deprecated (or not); instances are kept and counted")
    async def deprecate_term(self, info: Info, term: str, why: str, author: str, deprecated: bool = True,
                             preview: bool = False, ontology: str | None = None) -> OntologyEditResult:
        return await _edit(info, ontology, "deprecate_term", term, deprecated=deprecated, why=why, author=author,
                           preview=preview)

    @strawberry.mutation(permission_classes=[EDITOR], description="Change a property's domain and/or range (classes of the same ontology)")
    async def set_domain_range(self, info: Info, term: str, why: str, author: str, domain: str | None = None,
                               range: str | None = None, preview: bool = False,
                               ontology: str | None = None) -> OntologyEditResult:
        return await _edit(info, ontology, "set_domain_range", term, domain=domain, range_=range, why=why,
                           author=author, preview=preview)

    @strawberry.mutation(permission_classes=[EDITOR], description="Move a class without instances under another parent class")
    async def move_class(self, info: Info, term: str, parent: str, why: str, author: str, preview: bool = False,
                         ontology: str | None = None) -> OntologyEditResult:
        return await _edit(info, ontology, "move_class", term, parent, why=why, author=author, preview=preview)

    @strawberry.mutation(permission_classes=[EDITOR], description="Add or replace SHACL shapes given in Turtle (prefixes sh, kg, kgsh, xsd, "
                                     "rdf, rdfs are predeclared) in the stored shapes graph")
    async def upsert_shape(self, info: Info, turtle: str, why: str, author: str,
                           preview: bool = False) -> OntologyEditResult:
        return await _edit(info, None, "upsert_shape", turtle, why=why, author=author, preview=preview)


@strawberry.type
class OntologyEditQuery:
    @strawberry.field(permission_classes=[ANALYST],
                      description="The change log of an ontology (default the core ontology), oldest first")
    async def ontology_changes(self, info: Info, first: int = 20, after: str | None = None,
                               ontology: str | None = None) -> OntologyChangeConnection:
        check_first(first, "ontologyChanges")
        scope = fingerprint("ontologyChanges", {"ontology": ontology or KG_ONTOLOGY_IRI})
        position = decode_key_cursor(after, scope, "ontologyChanges", (int,))
        editor = OntologyEditor(request_store(info), ontology or KG_ONTOLOGY_IRI)
        _, total = await asyncio.to_thread(editor.version)
        after_version = position[0] if position else 0
        records = await asyncio.to_thread(editor.history, None, first + 1, after_version)
        edges = [OntologyChangeEdge(cursor=encode_key_cursor(scope, [record.version]), node=_change(record))
                 for record in records[:first]]
        return OntologyChangeConnection(total_count=total, edges=edges,
                                        page_info=keyset_page_info(edges, len(records) > first, after))

    @strawberry.field(description="owl:versionInfo and change-log version of an ontology (default the core one)")
    async def ontology_version(self, info: Info, ontology: str | None = None) -> OntologyVersion:
        iri = ontology or KG_ONTOLOGY_IRI
        version_info, change_version = await asyncio.to_thread(OntologyEditor(request_store(info), iri).version)
        return OntologyVersion(ontology=iri, version_info=version_info, change_version=change_version)


query_type = OntologyEditQuery
mutation_type = OntologyEditMutation
