"""Files written whole or not at all, also when two processes write the same file at once.

Every file the kit writes beside data that other runs read (split CSVs, cache manifests, the
judge's and the DAMSM's weights, a run's config and state files) is first written under a name
of its own, ``<name>.partial-<pid>-<random>``, and then renamed onto the real name. A rename
within one folder is atomic, so a reader sees the old file or the new one, never half of one;
an interrupted run leaves only its own ``.partial-*`` file; and two runs that start at once on
one data folder (two notebook tabs, a sweep's workers) each rename their own complete copy, so
neither finds its temporary file taken away by the other. The last rename wins; both wrote the
same content.

    write_text_atomically(path, text)
    with partial_file(path) as temporary:   # write `temporary` yourself (a Keras weights file ...)
        model.save_weights(temporary)

Standard library only.
"""

from __future__ import annotations

import contextlib
import os
import uuid
from pathlib import Path


def partial_path(path) -> Path:
    """A name beside `path` that no other process (or call) uses: ``<stem>.partial-<pid>-<id><suffixes>``.

    The suffixes are kept at the end ("judge.weights.h5" -> "judge.partial-123-ab12cd34.weights.h5")
    because some writers (Keras' save_weights, pandas) choose the format by the file's extension.
    """
    path = Path(path)
    return path.with_name(_partial_name(path.name, f"{os.getpid()}-{uuid.uuid4().hex[:8]}"))


def partial_glob(name: str) -> str:
    """The glob pattern of every `partial_path` of a file called `name` (any process, any call)."""
    return _partial_name(name, "*")


def _partial_name(name: str, tag: str) -> str:
    stem, dot, suffixes = name.partition(".")
    return f"{stem}.partial-{tag}.{suffixes}" if dot else f"{name}.partial-{tag}"


@contextlib.contextmanager
def partial_file(path):
    """Yield a private temporary path beside `path`; rename it onto `path` when the block ends
    without an exception. On an exception the temporary file is removed and `path` is untouched."""
    path = Path(path)
    temporary = partial_path(path)
    try:
        yield temporary
    except BaseException:
        with contextlib.suppress(OSError):
            temporary.unlink()
        raise
    os.replace(temporary, path)


def write_text_atomically(path, text: str, encoding: str = "utf-8") -> Path:
    """Write `text` to `path` through a private temporary file (see the module docstring)."""
    path = Path(path)
    with partial_file(path) as temporary:
        temporary.write_text(text, encoding=encoding)
    return path
