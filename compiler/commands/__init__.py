"""One module per ``netc`` subcommand: ``add_parser(subparsers)`` and ``run(args) -> int``."""
