"""Natural-language questions in English and Chinese, mapped onto the reasoning queries."""

from kg_service.ask.service import AskAnswer, Asker, create_mapper, detect_language

__all__ = ["AskAnswer", "Asker", "create_mapper", "detect_language"]
