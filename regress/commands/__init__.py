"""One module per ``regress`` subcommand: ``add_parser(sub, common)`` and ``run(args) -> int``."""
