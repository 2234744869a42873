"""``RUN/state.json``: the record of finished steps (hash, timing, info) and partial cells."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from genrelab.io import read_json, write_json
from genrelab.rundir import RunDir

STATE_VERSION = 1


@dataclass
class StudyState:
    """``RUN/state.json``: finished steps with hash and timing, plus partial cells of long steps."""

    path: Path
    data: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def load(cls, run: Path | RunDir) -> StudyState:
        """The state of run folder ``run``; a missing, unreadable or old-version file starts empty."""
        path = RunDir(run).state_json
        data: dict[str, Any] = {}
        if path.is_file():
            try:
                data = read_json(path)
            except ValueError:
                data = {}
        if not isinstance(data, dict) or data.get("version") != STATE_VERSION:
            data = {}
        data.setdefault("version", STATE_VERSION)
        data.setdefault("steps", {})
        data.setdefault("partial", {})
        return cls(path, data)

    @property
    def steps(self) -> dict[str, Any]:
        """Finished steps by name: ``{"hash", "started", "finished", "seconds"[, "info"]}``."""
        return self.data["steps"]

    def done(self, name: str, digest: str) -> bool:
        """Whether step ``name`` is recorded with hash ``digest``."""
        entry = self.steps.get(name)
        return isinstance(entry, dict) and entry.get("hash") == digest

    def record(
        self, name: str, digest: str, *, started: float, seconds: float, info: dict[str, Any] | None = None
    ) -> None:
        """Record step ``name`` as finished (dropping its partial cells) and save."""
        self.steps[name] = {
            "hash": digest,
            "started": datetime.fromtimestamp(started, UTC).isoformat(timespec="seconds"),
            "finished": datetime.now(UTC).isoformat(timespec="seconds"),
            "seconds": round(seconds, 3),
            **({"info": info} if info else {}),
        }
        self.data["partial"].pop(name, None)
        self.save()

    def partial(self, name: str) -> dict[str, Any]:
        """The finished cells of long step ``name`` (a live dict: change it, then :meth:`save`)."""
        return self.data["partial"].setdefault(name, {})

    def note(self, name: str, why: str) -> None:
        """Record that step ``name`` was not run and why (forgetting any earlier run) and save."""
        self.data.setdefault("notes", {})[name] = why
        self.steps.pop(name, None)
        self.save()

    def save(self) -> None:
        """Write ``state.json`` atomically."""
        write_json(self.path, self.data)


__all__ = ["STATE_VERSION", "StudyState"]
