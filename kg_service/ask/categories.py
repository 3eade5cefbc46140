"""Product categories of parts (Part.productGroup, such as "ARV") named in supplier questions."""

from __future__ import annotations

import logging
import re

from kg_service.graph.store import GraphStore

logger = logging.getLogger(__name__)

# The same property and match that rankSuppliers(category:) uses (reasoning.suppliers.resolve_parts).
CATEGORIES_QUERY = """
MATCH (p:Part) WHERE p.productGroup IS NOT NULL
RETURN DISTINCT p.productGroup AS category ORDER BY category
"""

# A word right after "category" or before "category"/"类"/"类别" names a category even when the graph lacks it,
# so that the answer reports the unknown word instead of ranking every supplier.
EXPLICIT_CATEGORY_PATTERNS = (
    re.compile(r"\b(?:category|categories|product group)\s+([A-Za-z0-9][\w-]*)", re.IGNORECASE),
    re.compile(r"\b([A-Za-z0-9][\w-]*)\s+(?:category|product group)\b", re.IGNORECASE),
    re.compile(r"(?<![A-Za-z0-9])([A-Za-z0-9][A-Za-z0-9-]*)\s*(?:类别|类|品类)"),
    re.compile(r"(?:类别|品类)\s*[:：]?\s*([A-Za-z0-9][A-Za-z0-9-]*)"),
)
# Words around "category" that are no category name ("the category", "which category").
NOT_CATEGORY_WORDS = {"a", "an", "the", "this", "that", "which", "what", "each", "every", "any", "same", "its", "their",
                      "of", "in", "for", "by", "per", "product", "one", "whole", "all", "and", "or", "to", "is",
                      "supplier", "suppliers", "vendor", "vendors", "part", "parts"}
# Words that follow a category name used as a modifier ("ARV suppliers", "ARV parts").
CATEGORY_CONTEXT_AFTER = r"\s*(?:suppliers?|vendors?|parts?|products?|items?|供应商|零件|产品)"
CATEGORY_CONTEXT_BEFORE = r"(?:\bfor|\bof|\bin|category|categories)\s+(?:the\s+)?"


def load_categories(store: GraphStore) -> list[str]:
    """Return the product groups that the graph's parts carry, sorted."""
    categories = [row["category"] for row in store.read(CATEGORIES_QUERY) if str(row["category"]).strip()]
    logger.debug("indexed %d part categories for questions", len(categories))
    return categories


def _mentions(question: str, category: str) -> bool:
    """Return whether `question` names `category`: with its stored case anywhere, in any case beside a cue word."""
    word = re.escape(category)
    if re.search(rf"(?<![A-Za-z0-9]){word}(?![A-Za-z0-9])", question):
        return True
    in_context = (rf"(?:{CATEGORY_CONTEXT_BEFORE}{word}(?![A-Za-z0-9]))"
                  rf"|(?:(?<![A-Za-z0-9]){word}(?:{CATEGORY_CONTEXT_AFTER}|\s*类))")
    return re.search(in_context, question, re.IGNORECASE) is not None


def find_category(question: str, categories: list[str]) -> str | None:
    """Return the category that a supplier question names, or the unknown word it names as a category.

    A known category is returned as the graph stores it, the longest name first when several match.
    A word the question marks as a category ("category XYZ", "XYZ类供应商") that the graph lacks is
    returned as written, so that ranking reports it with the known categories.
    """
    for category in sorted(categories, key=len, reverse=True):
        if _mentions(question, category):
            return category
    for pattern in EXPLICIT_CATEGORY_PATTERNS:
        for match in pattern.finditer(question):
            word = match.group(1)
            if word.lower() not in NOT_CATEGORY_WORDS:
                return word
    return None
