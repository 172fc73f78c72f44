"""The ``waba-migrate`` command: a thin click front over the library.

Sub-commands are imported only when invoked so ``waba-migrate --help`` and
``translate`` start fast and one broken optional dependency cannot take the
whole CLI down.
"""

from __future__ import annotations

import importlib

import click

from shim import __version__

# name -> "module:attribute"; each module owns one command (or group).
COMMANDS: dict[str, str] = {
    "translate": "shim.cli.translate:translate",
    "sandbox": "shim.cli.sandbox:sandbox",
    "config": "shim.cli.config:config",
    "keys": "shim.cli.keys:keys",
    "serve": "shim.cli.serve:serve",
    "relay": "shim.cli.relay:relay",
    "outcomes": "shim.cli.state:outcomes",
    "scan": "codemods.cli:scan",
    "rewrite": "codemods.cli:rewrite",
    "demo": "shim.cli.demo:demo",
}


class LazyGroup(click.Group):
    """A group whose commands live in their own modules and load on demand."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted(set(super().list_commands(ctx)) | set(COMMANDS))

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        if cmd_name in COMMANDS:
            module_name, attr = COMMANDS[cmd_name].split(":")
            try:
                module = importlib.import_module(module_name)
            except ModuleNotFoundError as exc:
                if exc.name and module_name.startswith(exc.name):
                    return None
                raise
            command = getattr(module, attr)
            assert isinstance(command, click.Command)
            return command
        return super().get_command(ctx, cmd_name)


@click.group(cls=LazyGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="waba-migrate")
def main() -> None:
    """Move WhatsApp On-Premise API v1 integrations onto the Cloud API."""
