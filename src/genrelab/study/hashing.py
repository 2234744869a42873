"""Stable short hashes of config parts: what a study step's hash is made of.

A dataclass field declared with :func:`nohash` (workers, say) does not change results and is
left out, so changing it reruns nothing. A field declared with :func:`added` came after run
folders existed: it is left out while it holds its default, so those folders resume as they were.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
from typing import Any

_HASH_KEY = "hash"  # the field-metadata key: False leaves the field out of every hash


def nohash(default: Any) -> Any:
    """A dataclass field that does not change results: left out of step hashes."""
    return dataclasses.field(default=default, metadata={_HASH_KEY: False})


def added(default: Any) -> Any:
    """A dataclass field added later: in step hashes only when it differs from ``default``."""
    return dataclasses.field(default=default, metadata={_HASH_KEY: "unless-default"})


def _counts(f: dataclasses.Field, value: Any) -> bool:
    rule = f.metadata.get(_HASH_KEY, True)
    return bool(rule) and not (rule == "unless-default" and value == f.default)


def _hashable(obj: Any) -> Any:
    """Nested dict of ``obj`` without the fields marked ``hash: False`` (or ``added`` and at their default)."""
    if dataclasses.is_dataclass(obj):
        return {
            f.name: _hashable(getattr(obj, f.name)) for f in dataclasses.fields(obj) if _counts(f, getattr(obj, f.name))
        }
    if isinstance(obj, (tuple, list)):
        return [_hashable(v) for v in obj]
    if isinstance(obj, dict):
        return {str(k): _hashable(v) for k, v in obj.items()}
    return obj


def digest(obj: Any) -> str:
    """A short stable hash of a JSON-able object (dataclasses allowed)."""
    text = json.dumps(_hashable(obj), sort_keys=True, default=str)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:16]


def step_hash(step: str, *parts: Any) -> str:
    """Hash of a step's name, the config parts it reads and its upstream steps' hashes."""
    return digest({"step": step, "parts": list(parts)})


__all__ = ["added", "digest", "nohash", "step_hash"]
