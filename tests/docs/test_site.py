"""The docs site builds with --strict, and the commands it shows exist."""

from __future__ import annotations

import re
import shlex
import subprocess
import sys
from pathlib import Path

import click
import pytest

from shim.cli import COMMANDS, main

ROOT = Path(__file__).resolve().parents[2]
PAGES = [ROOT / "README.md", ROOT / "MIGRATION.md", *sorted((ROOT / "docs").rglob("*.md"))]


def test_mkdocs_build_strict(tmp_path: Path) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "mkdocs", "build", "--strict", "--quiet",
         "-f", str(ROOT / "mkdocs.yml"), "-d", str(tmp_path / "site")],
        capture_output=True, text=True, timeout=120, cwd=ROOT,
    )
    assert result.returncode == 0, result.stderr + result.stdout
    assert (tmp_path / "site" / "index.html").is_file()
    assert (tmp_path / "site" / "reference" / "endpoints" / "index.html").is_file()


def _shell_lines(text: str) -> list[str]:
    """``waba-migrate ...`` invocations inside fenced code blocks (continuations joined)."""
    lines: list[str] = []
    in_block = False
    pending = ""
    for raw in text.splitlines():
        if raw.lstrip().startswith("```"):
            in_block = not in_block
            continue
        if not in_block:
            continue
        line = pending + raw.strip()
        if line.endswith("\\"):
            pending = line[:-1] + " "
            continue
        pending = ""
        line = line.split("#", 1)[0].strip()
        for part in re.split(r"&&|;|\|", line):
            part = part.strip()
            if part.startswith("waba-migrate "):
                lines.append(part)
    return lines


def _invocations() -> list[tuple[str, str]]:
    out = []
    for page in PAGES:
        for line in _shell_lines(page.read_text(encoding="utf-8")):
            out.append((str(page.relative_to(ROOT)), line))
    return out


def _resolve(words: list[str]) -> tuple[click.Command, list[str]] | None:
    ctx = click.Context(main)
    command: click.Command = main
    rest = words
    while isinstance(command, click.Group) and rest and not rest[0].startswith("-"):
        sub = command.get_command(ctx, rest[0])
        if sub is None:
            if command is main and rest[0] in COMMANDS:
                return None  # registered, module not importable in this build
            raise AssertionError(f"unknown command {rest[0]!r}")
        command, rest = sub, rest[1:]
    return command, rest


@pytest.mark.parametrize(("page", "line"), _invocations())
def test_documented_command_lines_use_real_options(page: str, line: str) -> None:
    words = shlex.split(line)[1:]
    resolved = _resolve(words)
    if resolved is None:
        pytest.skip(f"{words[0]} is not part of this build yet")
    command, rest = resolved
    known = {opt for p in command.params for opt in (*p.opts, *p.secondary_opts)}
    known |= {"--help", "-h"}
    for word in rest:
        if word.startswith("--"):
            name = word.split("=", 1)[0]
            assert name in known, f"{page}: `{line}` uses {name}, not an option of the command"


def test_readme_keeps_the_two_setup_commands() -> None:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    setup = readme.split("## Set-up", 1)[1].split("\n## ", 1)[0]
    blocks = re.findall(r"```sh\n(.*?)\n```", setup, flags=re.S)
    assert blocks == [
        "pip install . && waba-migrate demo",
        "pip install '.[test]' && python -m pytest -q",
    ]
