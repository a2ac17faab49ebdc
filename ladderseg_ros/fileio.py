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

A folder of outputs (a demo's results, a rendered dataset, numbered frames) is built the same
way with ``atomic_output_dir``: under a hidden ``.{name}.partial-{random}`` folder beside it,
renamed into place when complete. ``refuse_existing`` is the one "exists already" check.
"""

from __future__ import annotations

import errno
import logging
import os
import secrets
import shutil
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
    """An exception as one line, for a message that names the input at fault.

    A YAML error becomes "line L, column C: problem"; others their message's first line
    (parsers print the offending text on the lines after).
    """
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


def refuse_existing(
    path: str | Path, error: type[Exception] = OutputExistsError, hint: str = ""
) -> None:
    """The one "exists already" check of every output: outputs never replace anything.

    Args:
        path: the output about to be written (a file, folder or link, even a broken one).
        error: the exception class to raise (a component's own, e.g. ``BagError``).
        hint: appended to the message, e.g. ``" (--force replaces it)"``.

    Raises:
        error: ``path`` exists: "``{path} exists already, not overwriting{hint}``".
    """
    if os.path.lexists(path):
        raise error(_exists(path, hint))


def refuse_directory(path: str | Path, error: type[Exception] = OutputExistsError) -> None:
    """An output file never replaces a directory (``os.replace`` cannot, and it is not asked).

    Raises:
        error: ``path`` is a directory: "``{path} is a directory, expected an output file``".
    """
    if os.path.isdir(path):
        raise error(f"{path} is a directory, expected an output file")


def _exists(path: str | Path, hint: str = "", folder: bool = False) -> str:
    what = " and is not an empty directory" if folder else ""
    return f"{path} exists already{what}, not overwriting{hint}"


def _create_temp(folder: Path, name: str, suffix: str, directory: bool = False) -> Path:
    """Creates an empty, new temporary file (or folder) in ``folder``, as ``open`` would.

    The mode is 0o666 (0o777 for a folder) filtered by the umask.
    """
    for _ in range(100):
        if directory:
            tmp = folder / f".{name}.partial-{secrets.token_hex(4)}"
            try:
                tmp.mkdir()
            except FileExistsError:
                continue
            return tmp
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
        raise OutputExistsError(_exists(path)) from None
    except OSError as exc:
        if exc.errno not in _NO_LINKS:
            raise
        _LOG.debug("%s: no hard links on this file system, using check + replace", path.parent)
        if os.path.lexists(path):
            raise OutputExistsError(_exists(path)) from None
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
        OutputExistsError: ``path`` exists and ``overwrite`` is False, ``path`` is a
            directory (never replaced by a file, even with ``overwrite``), or a file stands
            where one of its folders should be.

    On any exception inside the block (KeyboardInterrupt included) the temporary file is
    deleted, ``path`` is left as it was, and the exception propagates.
    """
    path = Path(path)
    refuse_directory(path)
    if not overwrite:
        refuse_existing(path)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
    except (FileExistsError, NotADirectoryError):  # a file where a folder is needed
        raise OutputExistsError(
            f"{path}: a file stands where its folder should be, not overwriting it"
        ) from None
    tmp = _create_temp(path.parent, path.name, suffix)
    try:
        mode = tmp.stat().st_mode & 0o777  # 0o666 & ~umask, as os.open made it
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


def _is_empty_dir(path: Path) -> bool:
    return path.is_dir() and not path.is_symlink() and not any(path.iterdir())


def _refuse_dir_target(path: Path, replace: bool, error: type[Exception], hint: str) -> None:
    """Raises ``error`` unless ``path`` may become the output folder."""
    if not os.path.lexists(path) or _is_empty_dir(path):
        return
    if not path.is_dir() or path.is_symlink():
        raise error(f"{path} exists and is not a directory, not overwriting")
    if not replace:
        raise error(_exists(path, hint, folder=True))


def _publish_dir(work: Path, path: Path, replace: bool, error: type[Exception], hint: str) -> None:
    """Renames the finished ``work`` to ``path``; an old ``path`` goes only once ``work`` is in."""
    if replace and path.is_dir() and not _is_empty_dir(path):
        old = path.parent / f".{path.name}.old-{secrets.token_hex(4)}"
        path.rename(old)
        try:
            work.rename(path)
        except BaseException:
            old.rename(path)
            raise
        shutil.rmtree(old, ignore_errors=True)
        return
    try:
        # rename(2) replaces an empty folder and fails on a file or a non-empty folder:
        # the check and the publication are one step, as with ``atomic_output``.
        os.rename(work, path)
    except OSError as exc:
        if exc.errno not in (errno.ENOTEMPTY, errno.EEXIST, errno.ENOTDIR, errno.EISDIR):
            raise
        raise error(_exists(path, hint, folder=True)) from None


@contextmanager
def atomic_output_dir(
    path: str | Path,
    replace: bool = False,
    error: type[Exception] = OutputExistsError,
    hint: str = "",
) -> Iterator[Path]:
    """Yields a new empty folder beside ``path``; publishes it as ``path`` when the block ends.

    The folder is ``.{name}.partial-{random}`` (same file system, so publishing is a rename).
    An absent ``path`` or an empty folder there (nothing to lose) is taken; anything else is
    refused before any work, unless ``replace``: then the old folder is removed only once the
    new one is in place. On any exception in the block (KeyboardInterrupt included) the
    partial folder is deleted, ``path`` is left as it was, and the exception propagates.

    Args:
        path: the folder to produce; missing parent folders are created.
        replace: replace a non-empty folder ``path`` (never a file).
        error: the exception class to raise (a component's own, e.g. ``DemoError``).
        hint: appended to the refusal, e.g. ``"; use --force to replace it"``.

    Yields:
        The partial folder's path (it exists, empty); write the whole content there.

    Raises:
        error: ``path`` is a file, or a non-empty folder and ``replace`` is False (checked on
            entry and again, atomically, when publishing).
    """
    path = Path(path)
    _refuse_dir_target(path, replace, error, hint)
    path.parent.mkdir(parents=True, exist_ok=True)
    work = _create_temp(path.parent, path.name, "", directory=True)
    try:
        yield work
        _publish_dir(work, path, replace, error, hint)
    finally:
        if work.exists():
            shutil.rmtree(work, ignore_errors=True)
