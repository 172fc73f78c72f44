"""``waba-migrate translate``: run the translators over JSON documents.

Every bad input (not UTF-8, malformed, nested too deep, lone surrogates, or
untranslatable) is an ``error:`` line on stderr and exit status 1, never a
traceback: the files fed to this command are often hand-edited captures.
"""

from __future__ import annotations

import json
import sys
from typing import IO, Any

import click

from shim.json_input import JSONInputError, read_json
from shim.translate import TranslationError
from shim.translate.documents import KINDS, Kind, translate_document


def _dump(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False)


def _parse(data: bytes) -> Any:
    return read_json(data, surrogates=False)


@click.command()
@click.argument("kind", type=click.Choice(KINDS))
@click.argument("source", type=click.File("rb"), default="-")
@click.option("--target", type=click.Choice(["360dialog", "meta"]), default="360dialog",
              show_default=True, help="Cloud backend the request is for.")
@click.option("--phone-number-id", help="Meta phone-number id for request paths.")
@click.option("--jsonl", is_flag=True, help="One document per line; one output line each.")
def translate(kind: Kind, source: IO[bytes], target: str, phone_number_id: str | None,
              jsonl: bool) -> None:
    """Translate KIND documents (request, response, webhook) from FILE or stdin.

    \b
    request:  {"method", "path", "body"}  (On-Prem)  -> {"method", "path", "body"} (Cloud)
    response: {"path", "status", "body"}  (Cloud)    -> {"status", "body"} (On-Prem)
    webhook:  a Cloud webhook body                   -> [On-Prem webhook bodies]
    """
    name = getattr(source, "name", "-")
    if name == "<stdin>":
        name = "-"
    if jsonl:
        failed = False
        for number, line in enumerate(source, start=1):
            if not line.strip():
                continue
            failed |= not _one_line(kind, line, number, target, phone_number_id)
        sys.exit(1 if failed else 0)
    try:
        doc = _parse(source.read())
    except JSONInputError as exc:
        click.echo(f"error: {name}: {exc.where}: {exc.reason}", err=True)
        sys.exit(1)
    try:
        output, warnings = translate_document(kind, doc, target=target,
                                              phone_number_id=phone_number_id)
    except TranslationError as exc:
        click.echo(f"error: {exc.path}: {exc.reason}", err=True)
        sys.exit(1)
    for warning in warnings:
        click.echo(f"warning: {warning.path}: {warning.message}", err=True)
    click.echo(json.dumps(output, indent=2, ensure_ascii=False))


def _one_line(kind: Kind, line: bytes, number: int, target: str,
              phone_number_id: str | None) -> bool:
    try:
        doc = _parse(line)
        output, warnings = translate_document(kind, doc, target=target,
                                              phone_number_id=phone_number_id)
    except JSONInputError as exc:
        where = exc.where.replace("line 1,", f"line {number},", 1) if exc.line else exc.where
        path = "$" if exc.line else exc.where
        message = f"{exc.reason} ({where})" if exc.line else f"{exc.reason} (line {number})"
        click.echo(_dump({"error": {"path": path, "message": message}}))
        click.echo(f"error: {path}: {message}", err=True)
        return False
    except TranslationError as exc:
        click.echo(_dump({"error": {"path": exc.path, "message": exc.reason}}))
        click.echo(f"error: {exc.path}: {exc.reason} (line {number})", err=True)
        return False
    for warning in warnings:
        click.echo(f"warning: {warning.path}: {warning.message} (line {number})", err=True)
    click.echo(_dump(output))
    return True
