"""Detect the end of the first complete JSON object in streamed model output.

Local backends stop generating as soon as the answer's first JSON object is closed, because
the extraction parser reads only that object and every further token costs time. Text before
the first `{` (a code fence, a sentence) is skipped; braces and brackets inside JSON strings,
including escaped quotes, do not count.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass
class JsonObjectTracker:
    """Incremental scanner over generated text that notices when the first JSON object closes."""

    depth: int = 0
    in_string: bool = False
    escaped: bool = False
    started: bool = False
    end: int | None = None
    """Offset just past the closing brace of the first object, once it has been seen."""
    position: int = 0
    """Number of characters scanned so far."""

    @property
    def complete(self) -> bool:
        return self.end is not None

    def feed(self, text: str) -> bool:
        """Scan `text[self.position:]` (the whole text generated so far); return True once the object is complete."""
        if self.end is not None:
            return True
        for offset in range(self.position, len(text)):
            char = text[offset]
            if not self.started:
                if char == "{":
                    self.started = True
                    self.depth = 1
                continue
            if self.in_string:
                if self.escaped:
                    self.escaped = False
                elif char == "\\":
                    self.escaped = True
                elif char == '"':
                    self.in_string = False
                continue
            if char == '"':
                self.in_string = True
            elif char in "{[":
                self.depth += 1
            elif char in "}]":
                self.depth -= 1
                if self.depth == 0:
                    self.end = offset + 1
                    self.position = offset + 1
                    return True
        self.position = len(text)
        return False


def json_object_end(text: str) -> int | None:
    """Return the offset just past the first complete JSON object in `text`, or None when it never closes."""
    tracker = JsonObjectTracker()
    tracker.feed(text)
    return tracker.end
