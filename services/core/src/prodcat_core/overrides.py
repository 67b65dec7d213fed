"""`--set key=value` parameter overrides, read the same way by every command that takes them."""

from __future__ import annotations

import json
from typing import Any

from prodcat_core.errors import InvalidInputError


def parse_overrides(pairs: list[str]) -> dict[str, Any]:
    """`key=value` pairs; values are read as JSON when they parse (numbers, lists, null)."""
    out: dict[str, Any] = {}
    for pair in pairs:
        key, sep, raw = pair.partition("=")
        if not sep or not key.strip():
            raise InvalidInputError(f"--set {pair!r}: expected key=value")
        try:
            out[key.strip()] = json.loads(raw)
        except ValueError:
            out[key.strip()] = raw
    return out
