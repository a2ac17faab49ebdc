"""Command-line entry points.

Every ``ladderseg`` subcommand's and node executable's argument parsing lives here.
"""
