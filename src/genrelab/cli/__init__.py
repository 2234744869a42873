"""The ``genrelab`` command-line tool (typer).

Each command lives in a small module of this package, parses its arguments, calls one library
function and prints. Errors a user can cause (:class:`GenrelabError`) become one plain sentence
and exit code 2, never a traceback.
"""

from __future__ import annotations

import functools
import sys

import typer

from genrelab.errors import GenrelabError


class _Typer(typer.Typer):
    """A Typer whose commands turn GenrelabError into ``error: <message>`` and exit code 2."""

    def command(self, *args, **kwargs):  # type: ignore[override]
        register = super().command(*args, **kwargs)

        def decorator(func):
            @functools.wraps(func)
            def wrapper(*a, **kw):
                try:
                    return func(*a, **kw)
                except GenrelabError as exc:
                    raise fail(str(exc)) from None

            register(wrapper)
            return func

        return decorator


app = _Typer(
    name="genrelab",
    help="Music-genre research on GTZAN-style collections: features, classifiers, recreation, PCA, report.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)


def fail(message: str, code: int = 2) -> "typer.Exit":
    """Print ``error: message`` to stderr and return an Exit to raise."""
    typer.secho(f"error: {message}", err=True, fg=typer.colors.RED)
    return typer.Exit(code)


def pick_device(device: str | None) -> str:
    """``cuda`` when available and not overridden, else ``cpu``."""
    if device:
        return device
    import torch

    return "cuda" if torch.cuda.is_available() else "cpu"


# Command modules register themselves on ``app`` when imported.
from genrelab.cli import (  # noqa: E402
    commands_classify,  # noqa: E402,F401
    commands_data,  # noqa: E402,F401
    commands_features,  # noqa: E402,F401
    commands_recreate,  # noqa: E402,F401
    commands_study,  # noqa: E402,F401
)


def main() -> None:
    """Entry point: run the app, turning GenrelabError into a one-line message."""
    try:
        app(standalone_mode=True)
    except GenrelabError as exc:  # pragma: no cover - typer normally routes through commands
        typer.secho(f"error: {exc}", err=True, fg=typer.colors.RED)
        sys.exit(2)


@app.callback()
def _root() -> None:
    """genrelab: features, classifiers (dense, cnn, convlstm), recreation, PCA and an HTML report."""
