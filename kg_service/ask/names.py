"""Entity names in answers, in English and Chinese, with the class of an entity that has no Chinese name.

Parts that only English work orders mention have no `nameZh`, so a Chinese answer would show
"Casing Gasket" with no Chinese at all. There the Chinese name is the English name followed by
the Chinese label (rdfs:label@zh) of the entity's most specific ontology class, in full-width
parentheses: "Casing Gasket（部件）". English names never change.

Usage::

    names = ClassLabels.load(store)
    names.names(row["props"], row["labels"])    # -> {"en": "Casing Gasket", "zh": "Casing Gasket（部件）"}

These names are for reading only. Names that a user types again (suggested questions, closest
names in an error) stay the stored names, because the class label is in no stored name.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from kg_service.graph.store import GraphStore
from kg_service.reasoning.lookup import display_name

logger = logging.getLogger(__name__)

MAX_HIERARCHY_DEPTH = 10

# Each class with a node label and a Chinese label, with the length of its longest SUBCLASS_OF
# path, so that a subclass (Bearing, depth 2) wins over its superclasses (Part 1, Entity 0).
CLASS_LABELS_QUERY = f"""
MATCH (class:OntologyClass)
WHERE class.nodeLabel IS NOT NULL AND class.label_zh IS NOT NULL AND coalesce(class.deprecated, false) = false
OPTIONAL MATCH path = (class)-[:SUBCLASS_OF*1..{MAX_HIERARCHY_DEPTH}]->(:OntologyClass)
RETURN class.nodeLabel AS label, class.label_zh AS zh, coalesce(max(length(path)), 0) AS depth
ORDER BY label, zh
"""

_CJK = re.compile(r"[\u3400-\u9fff]")


@dataclass(frozen=True)
class ClassLabel:
    """The Chinese label of an ontology class and its depth below the root of the class hierarchy."""

    zh: str
    depth: int


class ClassLabels:
    """The Chinese labels of the stored ontology classes, by node label, read once per question."""

    def __init__(self, labels: dict[str, ClassLabel]) -> None:
        self.labels = labels

    @classmethod
    def load(cls, store: GraphStore) -> "ClassLabels":
        labels: dict[str, ClassLabel] = {}
        for row in store.read(CLASS_LABELS_QUERY):
            known = labels.get(row["label"])
            # When two ontologies map classes to one node label, the deeper class names it.
            if known is None or row["depth"] > known.depth:
                labels[row["label"]] = ClassLabel(row["zh"], row["depth"])
        logger.debug("read the Chinese labels of %d ontology classes", len(labels))
        return cls(labels)

    def class_label(self, node_labels: Iterable[str]) -> str | None:
        """Return the Chinese label of the most specific class among `node_labels`, or None when none has one.

        Classes of equal depth are ordered by node label, so the choice does not depend on label order.
        """
        known = [(label, self.labels[label]) for label in node_labels if label in self.labels]
        if not known:
            return None
        _, best = min(known, key=lambda item: (-item[1].depth, item[0]))
        return best.zh

    def chinese_name(self, properties: dict[str, Any], node_labels: Iterable[str] | None) -> str | None:
        """Return the entity's Chinese name, else its English name with its class's Chinese label.

        A name that already contains Chinese characters is returned as it is. Without node labels,
        or when no class of the entity has a Chinese label, the English name is returned alone.
        """
        chinese = properties.get("nameZh")
        if chinese:
            return chinese
        name = display_name(properties, "zh")
        if not name or _CJK.search(name) or node_labels is None:
            return name
        label = self.class_label(node_labels)
        return f"{name}（{label}）" if label else name

    def names(self, properties: dict[str, Any], node_labels: Iterable[str] | None) -> dict[str, str | None]:
        """Return the entity's name for an English and for a Chinese answer."""
        return {"en": display_name(properties, "en"), "zh": self.chinese_name(properties, node_labels)}
