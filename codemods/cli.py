"""``waba-migrate scan`` and ``waba-migrate rewrite``: thin click front over the runner.

Exit codes: scan 0, or 2 when a file could not be read or parsed; rewrite
--diff/--write 0, --check 1 when a file would change; 2 beats 1 whenever a
file failed (that file is left byte-identical).
"""

from __future__ import annotations

import json
import os
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import click

from codemods.engine import Options
from codemods.reading import parse_size
from codemods.report import (
    error_line,
    rewrite_summary,
    scan_json,
    scan_text,
    skipped_line,
    unified_diff,
    unreadable_line,
)
from codemods.rules import UnknownRuleError, select_codes
from codemods.runner import Progress, RunResult, run, write_file
from shim.mapping.hosts import Target

TARGETS = [Target.D360.value, Target.META.value]


class _Bar:
    """A rich progress bar on stderr (no refresh thread, so the pool can fork safely)."""

    def __init__(self) -> None:
        from rich.console import Console
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn

        self.progress = Progress(TextColumn("{task.description}"), BarColumn(),
                                 MofNCompleteColumn(), console=Console(stderr=True),
                                 transient=True, auto_refresh=False)
        self.task: Any = None
        self.last = 0.0

    def start(self, phase: str, total: int) -> None:
        if self.task is not None:
            self.progress.remove_task(self.task)
        self.task = self.progress.add_task(phase, total=total)
        self.progress.refresh()

    def advance(self, n: int = 1) -> None:
        self.progress.advance(self.task, n)
        now = time.monotonic()
        if now - self.last > 0.1:
            self.last = now
            self.progress.refresh()


@contextmanager
def _progress(enabled: bool) -> Iterator[Progress | None]:
    if not enabled or not sys.stderr.isatty():
        yield None
        return
    bar = _Bar()
    bar.progress.start()
    try:
        yield bar
    finally:
        bar.progress.stop()


class _SizeParam(click.ParamType):  # type: ignore[type-arg,unused-ignore]  # generic from 8.3
    name = "size"

    def convert(self, value: Any, param: click.Parameter | None,
                ctx: click.Context | None) -> int:
        if isinstance(value, int):
            return value
        try:
            return parse_size(str(value))
        except ValueError:
            self.fail(f"{value!r} is not a size such as 2MB, 500k or 1500000", param, ctx)
def _hosts(given: tuple[str, ...], config_path: str | None) -> frozenset[str]:
    """Declared On-Prem hosts: --onprem-host plus the config's legacy_base_url hosts."""
    from urllib.parse import urlsplit

    from shim.config import CONFIG_ENV_VAR, ConfigError, load_config

    hosts: set[str] = set()
    for raw in given:
        for part in raw.split(","):
            part = part.strip()
            if not part:
                continue
            name = urlsplit(part if "://" in part else f"//{part}").hostname
            if not name:
                raise click.BadParameter(f"{part!r} is not a host name",
                                         param_hint="--onprem-host")
            hosts.add(name.lower())
    if config_path is not None or os.environ.get(CONFIG_ENV_VAR):
        try:
            config = load_config(config_path)
        except ConfigError as exc:
            raise click.BadParameter(str(exc), param_hint="--config") from None
        for ch in config.channels.values():
            if ch.legacy_base_url:
                name = urlsplit(ch.legacy_base_url).hostname
                if name:
                    hosts.add(name.lower())
    return frozenset(hosts)


def _codes(select: tuple[str, ...], ignore: tuple[str, ...]) -> frozenset[str]:
    try:
        return select_codes(select, ignore)
    except UnknownRuleError as exc:
        raise click.BadParameter(str(exc), param_hint="--select/--ignore") from None


def _common(f: Any) -> Any:
    options = [
        click.option("--select", multiple=True, metavar="CODES",
                     help="Only these rule codes or prefixes (comma-separated, e.g. "
                     "WM1,WM301)."),
        click.option("--ignore", multiple=True, metavar="CODES",
                     help="Leave out these rule codes or prefixes."),
        click.option("--exclude", "excludes", multiple=True, metavar="GLOB",
                     help="Skip paths matching this gitignore-style pattern (repeatable)."),
        click.option("-j", "--jobs", type=click.IntRange(min=1), default=None,
                     help="Worker processes (default: CPU count)."),
        click.option("--no-prefilter", is_flag=True,
                     help="Parse every file, not only those the byte prefilter picks."),
        click.option("--max-file-size", type=_SizeParam(), default="2MB", show_default=True,
                     metavar="SIZE",
                     help="Skip (and report) files bigger than this (e.g. 500k, 8MB; 0: no "
                     "limit)."),
        click.option("--onprem-host", "onprem_hosts", multiple=True, metavar="HOST",
                     help="A host your On-Prem API runs on (e.g. wa-node.internal:9090); "
                     "repeatable. The legacy_base_url of every channel in --config counts "
                     "too."),
        click.option("--config", "config_path", type=click.Path(dir_okay=False),
                     default=None, metavar="FILE",
                     help="The project's waba-migrate config (default: $WABA_MIGRATE_CONFIG, "
                     "if set); its legacy_base_url hosts are On-Prem hosts."),
        click.option("--include-tests", is_flag=True,
                     help="Rewrite test files too (test_*.py, *_test.py, conftest.py, tests/); "
                     "by default they are reported, not changed."),
    ]
    for option in reversed(options):  # click lists the last decorator applied first
        f = option(f)
    return f


@click.command(context_settings={"help_option_names": ["-h", "--help"]})
@click.argument("paths", nargs=-1, required=True, type=click.Path())
@click.option("--format", "fmt", type=click.Choice(["text", "json"]), default="text",
              show_default=True)
@click.option("--target", type=click.Choice(TARGETS), default=Target.D360.value,
              show_default=True, help="Cloud target the fix applicability refers to.")
@click.option("--strategy", type=click.Choice(["native", "shim"]), default="native",
              show_default=True)
@_common
def scan(paths: tuple[str, ...], fmt: str, target: str, strategy: str,
         excludes: tuple[str, ...], select: tuple[str, ...], ignore: tuple[str, ...],
         jobs: int | None, no_prefilter: bool, max_file_size: int,
         onprem_hosts: tuple[str, ...], config_path: str | None, include_tests: bool) -> None:
    """Report every On-Prem call site and webhook handler with a rule code and fix applicability."""
    options = Options(target=Target(target), strategy=strategy,  # type: ignore[arg-type]
                      codes=_codes(select, ignore), prefilter=not no_prefilter,
                      include_tests=include_tests,
                      onprem_hosts=_hosts(onprem_hosts, config_path))
    with _progress(fmt == "text") as bar:
        result = run(paths, options, excludes=excludes, jobs=jobs, progress=bar,
                     max_file_size=max_file_size)
    if fmt == "json":
        click.echo(json.dumps(scan_json(result), indent=2))
    else:
        for line in scan_text(result):
            click.echo(line)
    sys.exit(2 if result.failed else 0)


@click.command(context_settings={"help_option_names": ["-h", "--help"]})
@click.argument("paths", nargs=-1, required=True, type=click.Path())
@click.option("--target", type=click.Choice(TARGETS), required=True,
              help="The Cloud API to move to.")
@click.option("--strategy", type=click.Choice(["native", "shim"]), default="native",
              show_default=True,
              help="native: rewrite to Cloud API code; shim: import requests/httpx from "
              "shim.compat and keep the On-Prem code.")
@click.option("--diff", "mode", flag_value="diff", default=True,
              help="Print a unified diff and change nothing (default).")
@click.option("--check", "mode", flag_value="check",
              help="Exit 1 if any file would change (CI, pre-commit).")
@click.option("--write", "mode", flag_value="write", help="Rewrite the files in place.")
@click.option("--unsafe", is_flag=True, help="Also apply fixes marked unsafe.")
@_common
def rewrite(paths: tuple[str, ...], target: str, strategy: str, mode: str, unsafe: bool,
            excludes: tuple[str, ...], select: tuple[str, ...], ignore: tuple[str, ...],
            jobs: int | None, no_prefilter: bool, max_file_size: int,
            onprem_hosts: tuple[str, ...], config_path: str | None,
            include_tests: bool) -> None:
    """Rewrite On-Prem API code for a Cloud target (diff by default)."""
    options = Options(target=Target(target), strategy=strategy,  # type: ignore[arg-type]
                      codes=_codes(select, ignore), unsafe=unsafe, rewrite=True,
                      prefilter=not no_prefilter, include_tests=include_tests,
                      onprem_hosts=_hosts(onprem_hosts, config_path))
    with _progress(True) as bar:
        result = run(paths, options, excludes=excludes, jobs=jobs, progress=bar,
                     max_file_size=max_file_size)
    _finish_rewrite(result, mode=mode, target=target, strategy=strategy)


def _finish_rewrite(result: RunResult, *, mode: str, target: str, strategy: str) -> None:
    for fr in result.changed:
        if mode == "diff":
            click.echo(unified_diff(fr), nl=False)
        elif mode == "check":
            click.echo(f"would rewrite {fr.display}", err=True)
        else:
            err = write_file(fr)
            if err is not None:
                fr.outcome.error = err
                fr.outcome.new_data = None
            else:
                click.echo(f"rewrote {fr.display}", err=True)
    for fr in result.errors:
        assert fr.outcome.error is not None
        click.echo(error_line(fr.display, fr.outcome.error), err=True)
    for missing in result.missing:
        click.echo(f"{missing}: error: not-found: no such file or directory", err=True)
    for u in result.unreadable:
        click.echo(unreadable_line(u), err=True)
    for s in result.skipped:
        click.echo(skipped_line(s), err=True)
    for line in rewrite_summary(result, mode=mode, target=target, strategy=strategy):
        click.echo(line, err=True)
    if result.failed:
        sys.exit(2)
    if mode == "check" and result.changed:
        sys.exit(1)
    sys.exit(0)
