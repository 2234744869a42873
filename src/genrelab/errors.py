"""Exception hierarchy. Every error a user can cause is a GenrelabError with a plain message."""


class GenrelabError(Exception):
    """Base class: the CLI prints ``str(err)`` as one sentence and exits non-zero."""


class AudioError(GenrelabError):
    """A file could not be read as audio (not audio, empty, truncated, NaN, too short)."""


class DatasetError(GenrelabError):
    """A dataset root, layout, table or split is unusable."""


class ParameterError(GenrelabError):
    """An argument or option is out of range or unknown."""
