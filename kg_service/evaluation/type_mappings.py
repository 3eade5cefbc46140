"""Mapping of ontology classes and relationship types to the type paths of gold annotation schemes.

Extraction predicts ontology classes (kg-core.ttl); gold files in the MaintIE format use their
own type paths such as "PhysicalObject/SensingObject". These tables translate a prediction
into a gold path so that it can be scored; at depth 1 only the first path segment counts.

A class or relationship type missing from a scheme's table can never match a gold annotation,
so each of its predictions counts as a false positive. In `relations`, `reverse=True` means
that the gold relation points the other way: the ontology's PART_OF runs part -> whole, and
MaintIE's hasPart runs whole -> part.
"""

from __future__ import annotations

from typing import NamedTuple


class RelationMapping(NamedTuple):
    """The gold relation path of an ontology relationship type and whether its direction flips."""

    type: str
    reverse: bool = False


class SchemeMapping(NamedTuple):
    """Entity and relation tables of one gold annotation scheme."""

    entities: dict[str, str]
    relations: dict[str, RelationMapping]


# MaintIE top-level types: PhysicalObject, Activity, State, Process, Property. Failure modes,
# symptoms and causes are states in MaintIE ("not working", "seized", "blown"); failure
# mechanisms such as leaking are processes.
MAINTIE = SchemeMapping(
    entities={
        "Equipment": "PhysicalObject",
        "System": "PhysicalObject",
        "Component": "PhysicalObject",
        "Part": "PhysicalObject",
        "Sensor": "PhysicalObject/SensingObject",
        "Material": "PhysicalObject/Substance",
        "MaintenanceAction": "Activity/MaintenanceActivity",
        "FailureMode": "State/UndesirableState",
        "Symptom": "State/UndesirableState",
        "Observation": "State",
        "FailureEvent": "State/UndesirableState",
        "Alarm": "State/UndesirableState",
        "FailureCause": "State/UndesirableState",
        "FailureMechanism": "Process/UndesirableProcess",
        "Signal": "Property",
    },
    relations={
        "PART_OF": RelationMapping("hasPart", reverse=True),
        "HAS_SENSOR": RelationMapping("hasPart"),
        "HAS_BOM_ITEM": RelationMapping("hasPart"),
        "MADE_OF": RelationMapping("contains"),
        "HAS_SIGNAL": RelationMapping("hasProperty"),
        "HAS_FAILURE_MODE": RelationMapping("hasParticipant/hasPatient", reverse=True),
        "HAS_SYMPTOM": RelationMapping("hasParticipant/hasPatient", reverse=True),
        "FOR_ASSET": RelationMapping("hasParticipant/hasPatient"),
        # MaintIE links a state ("not working") and an activity ("replace") to the object they
        # concern with hasPatient, from the state or activity to the object.
        "SHOWS_FAILURE_MODE": RelationMapping("hasParticipant/hasPatient", reverse=True),
        "SHOWS_SYMPTOM": RelationMapping("hasParticipant/hasPatient", reverse=True),
        "PERFORMED_ON": RelationMapping("hasParticipant/hasPatient"),
    },
)

# MWO2KG NER labels: Item, Activity, Observation (Observed_state, Qualitative), Location,
# Consumable, Agent, Attribute, Cardinality, Specifier, and annotation helpers such as Typo.
# The NER files have no relations.
MWO2KG = SchemeMapping(
    entities={
        "Equipment": "Item",
        "System": "Item",
        "Component": "Item",
        "Part": "Item",
        "Sensor": "Item",
        "Material": "Consumable",
        "MaintenanceAction": "Activity",
        "FailureMode": "Observation/Observed_state",
        "Symptom": "Observation/Observed_state",
        "Observation": "Observation",
        "FailureEvent": "Observation/Observed_state",
        "Alarm": "Observation/Observed_state",
        "FailureCause": "Observation",
        "FailureMechanism": "Observation/Observed_state",
        "Signal": "Attribute",
    },
    relations={},
)

SCHEMES: dict[str, SchemeMapping] = {"maintie": MAINTIE, "mwo2kg": MWO2KG}
