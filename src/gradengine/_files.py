"""Writing a file atomically: the one place checkpoints, plots, downloads and the README's
regenerated figures are written from."""

from __future__ import annotations

import contextlib
import os
import tempfile
from pathlib import Path
from typing import BinaryIO, Callable, Iterator, Optional, Union

__all__ = ["atomic_write"]


@contextlib.contextmanager
def atomic_write(path: Union[str, os.PathLike], *, check: Optional[Callable[[Path], None]] = None,
                 suffix: str = ".tmp") -> Iterator[BinaryIO]:
    """Write ``path`` through a temporary file beside it: a crash never leaves half a file.

    The block writes to the binary file this yields. When it ends without an error the file
    is closed, ``check(temporary path)`` runs if given (it raises to reject the content), and
    the file replaces ``path`` with the permissions of an ordinary new file (``0o666`` less the
    umask; ``mkstemp`` would leave it private). On any error, the temporary file is removed and
    ``path`` is as it was.
    """
    path = Path(path)
    fd, name = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=suffix)
    tmp = Path(name)
    try:
        with os.fdopen(fd, "wb") as f:
            yield f
        if check is not None:
            check(tmp)
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o666 & ~umask)
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
