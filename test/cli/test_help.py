"""Command-line help reads as plain text."""

from __future__ import annotations


def test_no_help_text_shows_rest_markup() -> None:
    """Every command's and subcommand's --help reads as plain text (docstrings are reST)."""
    import argparse

    from ladderseg_ros.cli.main import build_parser

    pending, helps = [build_parser()], []
    while pending:
        parser = pending.pop()
        helps.append(parser.format_help())
        for action in parser._actions:
            if isinstance(action, argparse._SubParsersAction):
                pending.extend(action.choices.values())
    assert len(helps) > 12  # every command was reached
    marked = [text.splitlines()[0] for text in helps if "``" in text or ":func:" in text]
    assert marked == []
