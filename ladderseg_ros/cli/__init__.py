"""Command-line entry points: every ``ladderseg`` subcommand and node executable's argument parsing."""
