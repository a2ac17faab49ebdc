"""Fixtures shared by the whole suite."""

from __future__ import annotations

import signal
import subprocess
import sys
import time
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
    settle: float,
    stop_timeout: float,
) -> tuple[int, str]:
    """Send SIGINT to ``proc`` once ``marker`` is in its ``log`` (plus ``settle`` s); return its
    exit code and log. The process is killed if it outlives the test."""
    try:
        deadline = time.monotonic() + start_timeout
        while marker not in log.read_text() and time.monotonic() < deadline:
            assert proc.poll() is None, log.read_text()
            time.sleep(0.05)
        time.sleep(settle)
        proc.send_signal(signal.SIGINT)
        code = proc.wait(stop_timeout)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    return code, log.read_text()


@pytest.fixture
def interrupt_when_logged():
    """``interrupt_when_logged(proc, log, marker, start_timeout, settle, stop_timeout)``."""
    return _interrupt_when_logged
