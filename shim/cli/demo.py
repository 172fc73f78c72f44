"""``waba-migrate demo``: the library's demo run, printed with rich."""

from __future__ import annotations

from pathlib import Path

import click
from rich.console import Console

from shim.demo import DemoError, run_demo

__all__ = ["demo"]


@click.command(context_settings={"help_option_names": ["-h", "--help"]})
@click.option(
    "--example-dir",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    help="The On-Prem bot to rewrite (default: examples/legacy_bot of the source checkout).",
)
def demo(example_dir: Path | None) -> None:
    """Show the migration end to end, offline: no account, no credentials, a few seconds.

    Starts the sandbox (360dialog Cloud and Meta), sends On-Prem messages through the
    shim for two channels, relays a Cloud webhook into On-Prem shape, shows the 24 h
    window error as On-Prem 470, then prints the codemods' diff for examples/legacy_bot.
    """
    try:
        run_demo(Console(), example_dir=example_dir)
    except DemoError as exc:
        raise click.ClickException(f"demo step failed: {exc}") from None
