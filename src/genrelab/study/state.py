"""``RUN/state.json``: the record of finished steps (hash, outputs, inputs, timing, info) and partial cells."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from genrelab.io import read_json, write_json
from genrelab.rundir import RunDir
from genrelab.study.outputs import changed_outputs, reads_back

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

    def stale(
        self, name: str, digest: str, run: RunDir, *, inputs: dict[str, str | None], main: Path | None = None
    ) -> str | None:
        """Why step ``name`` must run (a few words), or None when its record is still good.

        Good: recorded with ``digest``; every recorded output still has its fingerprint (for an
        entry without fingerprints: ``main`` exists and parses); and the upstream steps'
        fingerprints ``inputs`` are those it was recorded with (when it recorded any).
        """
        entry = self.steps.get(name)
        if not isinstance(entry, dict) or entry.get("hash") != digest:
            return "not run with this config yet"
        outputs = entry.get("outputs")
        if isinstance(outputs, dict):
            bad = changed_outputs(run, outputs)
            if bad:
                more = f" and {len(bad) - 3} more" if len(bad) > 3 else ""
                return f"{', '.join(bad[:3])}{more} missing or changed since the step finished"
        elif main is not None and not reads_back(main):
            return f"{main.relative_to(run.root).as_posix()} is missing or unreadable"
        recorded = entry.get("inputs")
        if isinstance(recorded, dict) and recorded != inputs:
            changed = sorted(k for k in set(recorded) | set(inputs) if recorded.get(k) != inputs.get(k))
            return f"its input {', '.join(changed)} was made again"
        return None

    def record(
        self,
        name: str,
        digest: str,
        *,
        started: float,
        seconds: float,
        info: dict[str, Any] | None = None,
        outputs: dict[str, str] | None = None,
        inputs: dict[str, str | None] | None = None,
    ) -> None:
        """Record step ``name`` as finished (with its outputs' and inputs' fingerprints) and save."""
        self.steps[name] = {
            "hash": digest,
            **({"outputs": outputs} if outputs is not None else {}),
            **({"inputs": inputs} if inputs is not None else {}),
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
