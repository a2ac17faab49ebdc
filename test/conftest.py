"""Fixtures shared by the whole suite."""

from __future__ import annotations

import signal
import subprocess
import sys
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[1]
# test helpers shared across folders (``from waiting import spin_until``)
sys.path.insert(0, str(Path(__file__).resolve().parent))


@pytest.fixture(scope="session")
def repo_root() -> Path:
    return REPO_ROOT


def _interrupt_when_logged(
    proc: subprocess.Popen,
    log: Path,
    marker: str,
    start_timeout: float,
    stop_timeout: float,
    signum: int = signal.SIGINT,
) -> tuple[int, str]:
    """Send ``signum`` (SIGINT) to ``proc`` as soon as ``marker`` is in its ``log`` (the work
    it names has begun); return its exit code and log. The process is killed if it outlives
    the test."""
    from waiting import spin_until

    def logged() -> bool:
        assert proc.poll() is None, log.read_text()
        return marker in log.read_text()

    try:
        spin_until(logged, start_timeout, f"{marker!r} in {log}")
        proc.send_signal(signum)
        code = proc.wait(stop_timeout)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    return code, log.read_text()


@pytest.fixture
def interrupt_when_logged():
    """``interrupt_when_logged(proc, log, marker, start_timeout, stop_timeout[, signum])``."""
    return _interrupt_when_logged
