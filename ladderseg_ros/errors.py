"""The package's exception root: the CLI prints any ``LadderSegError`` as one clear line."""

from __future__ import annotations


class LadderSegError(Exception):
    """Base of every error the package raises on bad input; the message names the input."""
