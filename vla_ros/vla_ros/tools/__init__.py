"""Subcommands of the `vla-ros` command-line tool."""
