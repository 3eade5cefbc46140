"""Core ontology terms that kg-service's own code queries by name, with the features that use them.

Renaming or deprecating one of these terms would leave the Cypher of the listed features matching
nothing, so supplier KPIs, root causes or design checks would return wrong results without an error.
The ontology editor rejects such edits; relabelling (en, zh) stays allowed because no query reads
labels. tests/test_ontology_protected.py scans the Cypher in kg_service/ and fails when a core
label, relationship type or property name used there is missing from PROTECTED_TERMS.
"""

from __future__ import annotations

from kg_service.ontology.model import KG_ONTOLOGY_IRI

# Feature keys of PROTECTED_TERMS, with the words that error messages use for them.
FEATURES: dict[str, str] = {
    "api": "GraphQL entity queries (entity, entities, workOrder)",
    "anomaly": "live anomaly detection from MQTT telemetry",
    "ask": "questions in natural language (ask)",
    "design": "design checks (checkDesign, designConstraints)",
    "evaluation": "the evaluation commands (kg-service evaluate ...)",
    "extraction": "document extraction and its evidence (factEvidence, entityEvidence)",
    "gnn": "GNN training, embeddings and predicted links (PREDICTED_* relationships)",
    "lookup": "failure history and entity lookup (failureHistory)",
    "ontology": "ontology storage",
    "rootcause": "root-cause ranking (rootCauses)",
    "suppliers": "supplier KPIs and ranking (supplierKpis, rankSuppliers)",
}

# Node labels, relationship types and property names of the core ontology (kg-core.ttl) that the
# code names in Cypher or, for design checks, as kg: RDF terms, each with the keys of the features
# whose queries use it.
PROTECTED_TERMS: dict[str, tuple[str, ...]] = {
    # node labels
    "Alarm": ("rootcause",),
    "AnomalyEvent": ("anomaly", "rootcause"),
    "Asset": ("anomaly",),
    "Certification": ("design",),
    "Chunk": ("extraction", "rootcause"),
    "Component": ("ask", "lookup", "suppliers"),
    "Delivery": ("suppliers",),
    "Design": ("design",),
    "DesignConstraint": ("design",),
    "Document": ("design", "extraction", "rootcause"),
    "Entity": ("api", "ask", "design", "extraction", "gnn", "lookup", "rootcause"),
    "Equipment": ("api", "ask"),
    "Event": ("rootcause",),
    "FailureCause": ("gnn",),
    "FailureEvent": ("ask", "rootcause"),
    "FailureMode": ("ask", "rootcause"),
    "Nonconformance": ("suppliers",),
    "Part": ("ask", "design", "suppliers"),
    "Product": ("design",),
    "PurchaseOrder": ("suppliers",),
    "Signal": ("anomaly", "rootcause"),
    "Specification": ("design",),
    "Supplier": ("ask", "design", "suppliers"),
    "System": ("lookup",),
    "WorkOrder": ("ask", "lookup", "rootcause", "suppliers"),
    # relationship types
    "APPLIES_TO": ("design",),
    "CAUSES": ("rootcause",),
    "CONCERNS_PART": ("suppliers",),
    "DOCUMENTED_IN": ("design",),
    "FOR_ASSET": ("ask", "lookup", "rootcause"),
    "FULFILS": ("suppliers",),
    "HAS_ACTION": ("lookup",),
    "HAS_BOM_ITEM": ("design",),
    "HAS_CAUSE": ("gnn", "rootcause"),
    "HAS_CERTIFICATION": ("design", "suppliers"),
    "HAS_CHUNK": ("extraction", "rootcause"),
    "HAS_CONSTRAINT": ("design",),
    "HAS_DESIGN": ("design",),
    "HAS_DIMENSION": ("design",),
    "HAS_FAILURE_MODE": ("ask", "lookup", "rootcause", "suppliers"),
    "HAS_MECHANISM": ("rootcause",),
    "HAS_SIGNAL": ("anomaly",),
    "HAS_SYMPTOM": ("lookup", "rootcause"),
    "INSTANCE_OF_PART": ("ask", "suppliers"),
    "INVOLVES": ("lookup", "rootcause", "suppliers"),
    "INVOLVES_SIGNAL": ("rootcause",),
    "MENTIONS": ("extraction", "rootcause"),
    "ORDERED_FROM": ("suppliers",),
    "ORDERS_PART": ("suppliers",),
    "PART_OF": ("anomaly", "ask", "design", "extraction", "lookup", "rootcause"),
    "PRODUCED_BY": ("design",),
    "SPECIFIES": ("design",),
    "SUPPLIED_BY": ("ask", "design", "suppliers"),
    "USES_MATERIAL": ("design",),
    "USES_PART": ("design",),
    # The GNN writes a predicted link of type T as PREDICTED_T and root-cause ranking reads them by
    # that prefix, so these types are used although no query spells them out.
    "PREDICTED_CAUSES": ("gnn", "rootcause"),
    "PREDICTED_HAS_CAUSE": ("gnn", "rootcause"),
    "PREDICTED_HAS_FAILURE_MODE": ("gnn", "rootcause"),
    "PREDICTED_HAS_MECHANISM": ("gnn", "rootcause"),
    "PREDICTED_HAS_SYMPTOM": ("gnn", "rootcause"),
    "PREDICTED_INVOLVES": ("gnn", "rootcause"),
    "PREDICTED_SUPPLIED_BY": ("gnn", "rootcause"),
    # property names
    "checksum": ("extraction",),
    "confidence": ("extraction",),
    "country": ("suppliers",),
    "date": ("ask", "lookup", "rootcause"),
    "deliveryDelayDays": ("suppliers",),
    "embedding": ("gnn",),
    "embeddingModel": ("gnn",),
    "endOffset": ("extraction",),
    "endpointKeys": ("extraction",),
    "extractionModel": ("extraction",),
    "freightCost": ("suppliers",),
    "lineValue": ("suppliers",),
    "mergeReason": ("extraction",),
    "mergeScore": ("extraction",),
    "modelVersion": ("gnn",),
    "name": ("anomaly", "api", "ask", "evaluation", "extraction", "lookup", "suppliers"),
    "nameEn": ("api", "ask", "lookup", "suppliers"),
    "nameZh": ("api", "ask", "lookup", "suppliers"),
    "orderUnitPrice": ("suppliers",),
    "page": ("extraction",),
    "predicted": ("gnn",),
    "productGroup": ("suppliers",),
    "resolvedFrom": ("extraction",),
    "score": ("gnn", "rootcause"),
    "source": ("extraction", "ontology"),
    "sourceChunks": ("extraction",),
    "startOffset": ("extraction",),
    "startTime": ("rootcause",),
    "surfaceForms": ("extraction",),
    "text": ("extraction",),
    "unit": ("anomaly",),
}


def features_using(ontology_iri: str, name: str) -> list[str]:
    """Return the features whose queries use the core term named `name`; [] for other ontologies and terms."""
    if ontology_iri != KG_ONTOLOGY_IRI:
        return []
    return [FEATURES[key] for key in PROTECTED_TERMS.get(name, ())]
