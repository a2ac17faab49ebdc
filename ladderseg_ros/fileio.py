"""Atomic file output: every file the package writes appears complete or not at all.

Writers create the content under a temporary name in the target's own folder (same file system,
so publishing is a rename or a link, never a copy) and publish it in one step. A reader, a crash
or a Ctrl-C never sees a half-written PNG, weights or ONNX file, and the temporary file is
deleted when writing fails.

Use it for any output file::

    from ladderseg_ros.fileio import atomic_output

    with atomic_output(path) as tmp:           # refuses an existing ``path``
        cv2.imwrite(str(tmp), image)            # anything that writes to a path
    with atomic_output(path, overwrite=True) as tmp:
        save_file(tensors, str(tmp))            # replaces ``path`` if it exists

Two modes:

* ``overwrite=False`` (default; tools never overwrite their input): the temporary file is
  published with ``os.link`` then unlinked. Linking fails if the target exists, so there is no
  window between "check" and "write" in which another process could create the target and
  lose it. On file systems without hard links, it falls back to a check then ``os.replace``.
* ``overwrite=True``: ``os.replace``, atomic on POSIX and Windows.

The temporary name is ``.{name}.{random}.tmp`` (hidden, and recognisable if a process is
killed hard). It is created with mode 0o666 filtered by the umask, like a plain ``open``, and
given that mode back before publishing if the writer replaced it, so published files get the
usual permissions (``tempfile.mkstemp`` or safetensors alone would leave them 0o600).
The temporary path keeps no suffix of the target; pass ``suffix`` if a library picks the format
from the file name (e.g. ``suffix=".png"`` for ``cv2.imwrite``).
"""

from __future__ import annotations

import errno
import logging
import os
import secrets
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from ladderseg_ros.errors import LadderSegError

_LOG = logging.getLogger(__name__)

# link(2) errors meaning "this file system has no hard links", not "the target exists".
_NO_LINKS = {errno.EPERM, errno.EOPNOTSUPP, errno.ENOTSUP, errno.EMLINK, errno.ENOSYS}


class OutputExistsError(LadderSegError, FileExistsError):
    """The output file exists and ``overwrite`` was not asked for."""


class InputFileError(LadderSegError, ValueError):
    """An input file cannot be read (missing, a directory, unreadable, not UTF-8 text)."""


def one_line(exc: BaseException) -> str:
    """An exception as one line: a YAML error as "line L, column C: problem", others as
    their message's first line (parsers print the offending text on the lines after)."""
    mark = getattr(exc, "problem_mark", None)
    problem = getattr(exc, "problem", None)
    if mark is not None and problem:
        return f"line {mark.line + 1}, column {mark.column + 1}: {problem}"
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


def read_text(path: str | Path, what: str) -> str:
    """The UTF-8 text of the input file ``path``.

    Args:
        path: the file.
        what: what the file is, for the message (e.g. "KITTI calibration").

    Raises:
        InputFileError: one line naming ``what`` and ``path``: not found, a directory,
            unreadable, or not UTF-8 (with the byte offset).
    """
    path = Path(path)
    try:
        return path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise InputFileError(f"{what} {path} not found") from None
    except IsADirectoryError:
        raise InputFileError(f"{what} {path} is a directory, expected a file") from None
    except UnicodeDecodeError as exc:
        raise InputFileError(
            f"{what} {path}: not UTF-8 text (byte {exc.start}: {exc.reason})"
        ) from None
    except OSError as exc:
        raise InputFileError(f"cannot read {what} {path}: {exc.strerror or exc}") from None


def _create_temp(folder: Path, name: str, suffix: str) -> Path:
    """Creates an empty, new temporary file in ``folder`` (mode 0o666 & ~umask)."""
    for _ in range(100):
        tmp = folder / f".{name}.{secrets.token_hex(4)}.tmp{suffix}"
        try:
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
        except FileExistsError:
            continue
        os.close(fd)
        return tmp
    raise FileExistsError(f"{folder}: cannot create a unique temporary file for {name}")


def _publish_new(tmp: Path, path: Path) -> None:
    """Links ``tmp`` to ``path``, failing if ``path`` exists (the check and the write are one)."""
    try:
        os.link(tmp, path)
    except FileExistsError:
        raise OutputExistsError(f"{path} exists already, not overwriting") from None
    except OSError as exc:
        if exc.errno not in _NO_LINKS:
            raise
        _LOG.debug("%s: no hard links on this file system, using check + replace", path.parent)
        if os.path.lexists(path):
            raise OutputExistsError(f"{path} exists already, not overwriting") from None
        os.replace(tmp, path)


@contextmanager
def atomic_output(path: str | Path, overwrite: bool = False, suffix: str = "") -> Iterator[Path]:
    """Yields a temporary path next to ``path``; publishes it as ``path`` when the block ends.

    Args:
        path: the file to produce; missing parent folders are created.
        overwrite: replace an existing ``path`` (else it is an error, checked atomically at
            publication and, to fail before any work, once on entry).
        suffix: ending of the temporary name, for writers that choose the format by it.

    Yields:
        The temporary file's path (it exists, empty); write the whole content there.

    Raises:
        OutputExistsError: ``path`` exists and ``overwrite`` is False.

    On any exception inside the block (KeyboardInterrupt included) the temporary file is
    deleted, ``path`` is left as it was, and the exception propagates.
    """
    path = Path(path)
    if not overwrite and os.path.lexists(path):
        raise OutputExistsError(f"{path} exists already, not overwriting")
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = _create_temp(path.parent, path.name, suffix)
    mode = tmp.stat().st_mode & 0o777  # 0o666 & ~umask, as os.open made it
    try:
        yield tmp
        # Some writers (safetensors) replace the file with their own 0o600 one: restore.
        if tmp.stat().st_mode & 0o777 != mode:
            os.chmod(tmp, mode)
        if overwrite:
            os.replace(tmp, path)
        else:
            _publish_new(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


def write_bytes_atomic(path: str | Path, data: bytes, overwrite: bool = False) -> Path:
    """Writes ``data`` as ``path`` through ``atomic_output``; returns ``path``."""
    path = Path(path)
    with atomic_output(path, overwrite=overwrite) as tmp:
        tmp.write_bytes(data)
    return path
