"""``waba-migrate translate``: run the translators over JSON documents."""

from __future__ import annotations

import json
import sys
from typing import IO, Any

import click

from shim.translate import TranslationError
from shim.translate.documents import KINDS, Kind, translate_document


def _dump(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False)


def _malformed(exc: json.JSONDecodeError) -> str:
    return f"malformed JSON at line {exc.lineno}, column {exc.colno}: {exc.msg}"


@click.command()
@click.argument("kind", type=click.Choice(KINDS))
@click.argument("source", type=click.File("r", encoding="utf-8"), default="-")
@click.option("--target", type=click.Choice(["360dialog", "meta"]), default="360dialog",
              show_default=True, help="Cloud backend the request is for.")
@click.option("--phone-number-id", help="Meta phone-number id for request paths.")
@click.option("--jsonl", is_flag=True, help="One document per line; one output line each.")
def translate(kind: Kind, source: IO[str], target: str, phone_number_id: str | None,
              jsonl: bool) -> None:
    """Translate KIND documents (request, response, webhook) from FILE or stdin.

    \b
    request:  {"method", "path", "body"}  (On-Prem)  -> {"method", "path", "body"} (Cloud)
    response: {"path", "status", "body"}  (Cloud)    -> {"status", "body"} (On-Prem)
    webhook:  a Cloud webhook body                   -> [On-Prem webhook bodies]
    """
    name = getattr(source, "name", "-")
    if jsonl:
        failed = False
        for number, line in enumerate(source, start=1):
            if not line.strip():
                continue
            failed |= not _one_line(kind, line, number, target, phone_number_id)
        sys.exit(1 if failed else 0)
    text = source.read()
    try:
        doc = json.loads(text)
    except json.JSONDecodeError as exc:
        click.echo(f"error: {name}: {_malformed(exc)}", err=True)
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


def _one_line(kind: Kind, line: str, number: int, target: str,
              phone_number_id: str | None) -> bool:
    try:
        doc = json.loads(line)
        output, warnings = translate_document(kind, doc, target=target,
                                              phone_number_id=phone_number_id)
    except json.JSONDecodeError as exc:
        message = f"malformed JSON at line {number}, column {exc.colno}: {exc.msg}"
        click.echo(_dump({"error": {"path": "$", "message": message}}))
        click.echo(f"error: $: {message}", err=True)
        return False
    except TranslationError as exc:
        click.echo(_dump({"error": {"path": exc.path, "message": exc.reason}}))
        click.echo(f"error: {exc.path}: {exc.reason} (line {number})", err=True)
        return False
    for warning in warnings:
        click.echo(f"warning: {warning.path}: {warning.message} (line {number})", err=True)
    click.echo(_dump(output))
    return True
