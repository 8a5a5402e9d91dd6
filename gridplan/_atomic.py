"""Atomic file writes: write beside the target, flush to disk, then move into place.

A crash or a kill at any moment leaves either the previous file or the new one, never a
half-written file under the target's name.
"""
from __future__ import annotations

import contextlib
import os
import uuid
from contextlib import contextmanager
from pathlib import Path


def _fsync(path: Path) -> None:
    with contextlib.suppress(OSError):
        fd = os.open(path, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


@contextmanager
def atomic_path(path, *, sidecars: tuple[str, ...] = ()):
    """Yield a temporary path beside ``path`` (same suffix) to write to; on success it replaces ``path``.

    ``sidecars`` are extensions of companion files written next to the temporary file (a
    Shapefile's ``.dbf``, ``.shx`` …); they are moved along. On an exception nothing is moved and
    the temporary files are removed.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.stem}.{uuid.uuid4().hex[:8]}.tmp{path.suffix}")
    try:
        yield tmp
        _fsync(tmp)
        os.replace(tmp, path)
        for ext in sidecars:
            side = tmp.with_suffix(ext)
            if side.exists():
                os.replace(side, path.with_suffix(ext))
    finally:
        for p in (tmp, *(tmp.with_suffix(ext) for ext in sidecars)):
            with contextlib.suppress(FileNotFoundError):
                p.unlink()
