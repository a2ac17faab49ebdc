"""Types of JSON documents (weights metadata, reports), so that no ``Any`` stands in for them."""

from __future__ import annotations

from typing import TypeAlias

JsonValue: TypeAlias = (
    "str | int | float | bool | list[JsonValue] | tuple[JsonValue, ...] | JsonObject | None"
)
"""A value ``json.dumps`` writes (RFC 8259); tuples are written as arrays, and ``json.loads``
returns lists in their place."""

JsonObject: TypeAlias = "dict[str, JsonValue]"
"""A JSON object: string keys, JSON values."""
