"""The ``genrelab`` command-line tool (typer).

Each command lives in a small module of this package, parses its arguments, calls one library
function and prints. Errors a user can cause (:class:`GenrelabError`) become one plain sentence
and exit code 2, never a traceback.
"""

from __future__ import annotations

import functools
import gc
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
                except OSError as exc:  # last resort: a file problem no check foresaw, in one line
                    raise fail(_os_message(exc)) from None

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
    """Print ``error: message`` (on one line) to stderr and return an Exit to raise."""
    message = " ".join(part.strip() for part in str(message).splitlines() if part.strip())
    typer.secho(f"error: {message}", err=True, fg=typer.colors.RED)
    return typer.Exit(code)


def _os_message(exc: OSError) -> str:
    """An OSError as one line: what the system said and the file(s) it names."""
    lines = str(exc).splitlines()
    text = exc.strerror or (lines[0] if lines else type(exc).__name__)
    files = [str(f) for f in (exc.filename, exc.filename2) if f is not None]
    return f"{text}: {' -> '.join(repr(f) for f in files)}" if files else text


def pick_device(device: str | None) -> str:
    """``cuda`` when available and not overridden, else ``cpu``; a given device is checked first.

    ParameterError (one sentence) for a device torch does not know or cannot use here
    (``--device foo``, ``--device cuda`` without CUDA).
    """
    if device:
        from genrelab.checks import torch_device

        torch_device(device)
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
    """Entry point: run the app, turning GenrelabError into a one-line message.

    On the way out the garbage collector is frozen (``gc.freeze``): the interpreter's own
    shutdown then skips the collections it would run over every object the imports made
    (numba, scipy, pandas: about 200,000), 0.25 s of a ``genrelab extract``'s exit here. Every
    output is written and closed by then; objects are still freed by reference counting.
    """
    try:
        app(standalone_mode=True)
    except GenrelabError as exc:  # pragma: no cover - typer normally routes through commands
        typer.secho(f"error: {exc}", err=True, fg=typer.colors.RED)
        sys.exit(2)
    finally:
        gc.freeze()


def _print_version(value: bool) -> None:
    if value:
        from genrelab import __version__

        typer.echo(f"genrelab {__version__}")
        raise typer.Exit(0)


@app.callback()
def _root(
    version: bool = typer.Option(
        False, "--version", callback=_print_version, is_eager=True, help="Print the version and exit."
    ),
) -> None:
    """genrelab: features, classifiers (dense, cnn, convlstm), recreation, PCA and an HTML report."""
