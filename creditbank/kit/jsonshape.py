"""How big and how deep a parsed JSON value is, measured without recursion.

Used before handing a stranger's document to anything whose cost grows faster than its size
(JSON-LD expansion is quadratic in an array's length in PyLD; RFC 8785 and PyLD recurse).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Limits:
    depth: int  # nesting of objects/arrays; the top-level value is depth 1
    values: int  # every object, array, string, number, boolean and null counted once
    array_items: int  # items in any one array (or members in any one object)


class ShapeError(ValueError):
    """``kind`` is ``"depth"``, ``"values"`` or ``"array_items"``; ``limit`` the bound passed."""

    def __init__(self, kind: str, limit: int) -> None:
        self.kind = kind
        self.limit = limit
        super().__init__(f"JSON {kind} over the limit of {limit}")


def check(value: Any, limits: Limits) -> None:
    """Raise :class:`ShapeError` at the first bound ``value`` goes past (depth first)."""
    stack: list[tuple[Any, int]] = [(value, 1)]
    count = 0
    while stack:
        item, depth = stack.pop()
        count += 1
        if count > limits.values:
            raise ShapeError("values", limits.values)
        if isinstance(item, dict | list):
            if depth > limits.depth:
                raise ShapeError("depth", limits.depth)
            if len(item) > limits.array_items:
                raise ShapeError("array_items", limits.array_items)
            children = item.values() if isinstance(item, dict) else item
            stack.extend((child, depth + 1) for child in children)
