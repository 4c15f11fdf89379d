"""One module per subcommand; each exposes a typed `run(...) -> int` (the exit code)."""
