"""The on-disk cache of exported ONNX files and TensorRT engines: optional and untrusted.

A cache only saves time, so it never stops a start: a cache folder that cannot be written
(read-only, a file in its place, no home) is replaced, with one warning, by a private
temporary folder removed at exit, and a cached file that does not load (zero-length,
truncated, not ladderseg's) is rebuilt in its place, written atomically
(``fileio.atomic_output``), with one warning naming it.
"""

from __future__ import annotations

import atexit
import logging
import shutil
import tempfile
import threading
from collections.abc import Callable
from pathlib import Path

from ladderseg_ros.errors import LadderSegError

_LOG = logging.getLogger(__name__)
_LOCK = threading.Lock()
_FALLBACK: list[Path] = []  # this process's private temporary cache folder, once made
_WARNED: set[Path] = set()  # cache folders already warned about


class CacheError(LadderSegError):
    """Neither the cache folder nor a private temporary folder can hold a cached file."""


def cache_root(root: Path | None = None) -> Path:
    """``root``, else ``$LADDERSEG_CACHE`` or ``~/.cache/ladderseg`` (``default_cache_dir``).

    A home that cannot be found gives the private temporary folder (``fallback_root``).
    """
    if root is not None:
        return Path(root)
    from ladderseg_ros.inference.backends import default_cache_dir

    try:
        return default_cache_dir()
    except RuntimeError as exc:  # Path.home(): no $HOME and no passwd entry
        return _fall_back(Path("~/.cache/ladderseg"), str(exc))


def fallback_root() -> Path:
    """This process's private temporary cache folder (mode 0o700), made on first use.

    It is removed when the process exits normally or after Ctrl-C/SIGTERM handled as one.
    """
    with _LOCK:
        if not _FALLBACK:
            folder = Path(tempfile.mkdtemp(prefix="ladderseg-cache-"))
            atexit.register(shutil.rmtree, folder, ignore_errors=True)
            _FALLBACK.append(folder)
        return _FALLBACK[0]


def _fall_back(folder: Path, reason: str) -> Path:
    """``fallback_root()``, with one warning per unusable ``folder`` naming it and why."""
    fallback = fallback_root()
    with _LOCK:
        warn = folder not in _WARNED
        _WARNED.add(folder)
    if warn:
        _LOG.warning(
            "cache folder %s cannot be written (%s): caching in %s for this run only "
            "(set LADDERSEG_CACHE to a writable folder to keep exports between runs)",
            folder,
            reason,
            fallback,
        )
    return fallback


def _writable_error(folder: Path) -> str | None:
    """None when ``folder`` exists (made if missing) and a file can be created in it; else why."""
    try:
        folder.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryFile(dir=folder):
            pass
    except OSError as exc:
        return exc.strerror or str(exc)
    return None


def cache_folder(name: str, root: Path | None = None) -> Path:
    """The writable cache subfolder ``name`` (e.g. ``trt``), made if missing.

    Args:
        name: the subfolder of the cache root.
        root: the cache root (None: ``cache_root()``).

    Returns:
        ``root / name``, or the same subfolder of the private temporary folder (one warning)
        when that cannot be written.

    Raises:
        CacheError: the temporary folder cannot be written either.
    """
    folder = cache_root(root) / name
    reason = _writable_error(folder)
    if reason is None:
        return folder
    fallback = _fall_back(folder, reason) / name
    reason = _writable_error(fallback)
    if reason is not None:
        raise CacheError(f"no writable cache folder: {folder} nor {fallback} ({reason})")
    return fallback


def onnx_file_error(path: Path) -> str | None:
    """None when ``path`` is an ONNX model with ladderseg metadata that ONNX's checker passes.

    Returns:
        One line saying what is wrong with the file, else None.
    """
    import onnx

    from ladderseg_ros.inference.export import METADATA_KEY

    try:
        if path.stat().st_size == 0:
            return "an empty file"
        proto = onnx.load(str(path))
        onnx.checker.check_model(proto)
    except Exception as exc:  # protobuf DecodeError, ValidationError, OSError: all unusable
        text = str(exc).strip()
        return text.splitlines()[0] if text else type(exc).__name__
    if not any(prop.key == METADATA_KEY for prop in proto.metadata_props):
        return "no ladderseg metadata"
    return None


def cached_file(
    folder: str,
    name: str,
    build: Callable[[Path], object],
    usable: Callable[[Path], str | None] = onnx_file_error,
    root: Path | None = None,
) -> Path:
    """The cached file ``folder/name``: reused when ``usable``, else (re)built by ``build``.

    Args:
        folder: subfolder of the cache (e.g. ``onnx``).
        name: the file's name; it must say everything the content depends on (a digest of
            the inputs and of the code that makes it).
        build: writes the file at the path it is given, atomically (replacing an unusable
            one); it may raise, and nothing is left behind then.
        usable: None when a file can be used, else one line saying why not
            (default: ``onnx_file_error``).
        root: the cache root (None: ``cache_root()``).

    Returns:
        The path of a usable file: in the cache root, or in the private temporary folder
        when the cache cannot be written (``cache_folder``).

    Raises:
        CacheError: no writable folder, or ``build`` made a file that is not usable.
        Whatever ``build`` raises.
    """
    path = cache_root(root) / folder / name
    if path.is_file():
        problem = usable(path)
        if problem is None:
            return path
        _LOG.warning("cached %s is unusable (%s): rebuilding it", path, problem)
    path = cache_folder(folder, root) / name
    if path.is_file() and usable(path) is None:  # a fallback's file, made earlier this run
        return path
    build(path)
    problem = usable(path)
    if problem is not None:
        raise CacheError(f"{path}: the file just built is unusable ({problem})")
    return path
