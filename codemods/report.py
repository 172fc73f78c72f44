"""What a run prints: findings, the pinned JSON document, diffs and the closing summary."""

from __future__ import annotations

import difflib
import io
import tokenize
from collections import Counter
from typing import Any

from codemods.discover import Skipped, Unreadable
from codemods.engine import FileError, Finding
from codemods.runner import FileResult, RunResult


def error_line(display: str, err: FileError) -> str:
    where = ""
    if err.line is not None:
        where = f":{err.line}" + (f":{err.column}" if err.column is not None else "")
    return f"{display}{where}: error: {err.type}: {err.message}"


def skipped_line(s: Skipped) -> str:
    return f"{s.display}: skipped: {s.type}: {s.message}"


def unreadable_line(u: Unreadable) -> str:
    return f"{u.display}: error: unreadable: {u.message}"


def finding_line(display: str, f: Finding) -> str:
    return f"{display}:{f.line}:{f.column}: {f.rule} [{f.fix}] {f.message}"


def scan_json(result: RunResult) -> dict[str, Any]:
    """``{"files": [{"path", "findings": [...]}], "summary": {...}}`` (pinned by issue 6).

    Only files with findings or errors are listed; a failed file carries an
    additional ``error`` object (type, message, line, column). A path that was
    not read on purpose (not a regular file, over ``--max-file-size``, part of
    waba-migrate) is listed with a ``skipped`` object (type, message) and
    counts neither as scanned nor as an error; a directory that could not be
    listed is an entry with an ``unreadable`` error and counts as an error.
    """
    files: list[dict[str, Any]] = []
    for fr in result.files:
        o = fr.outcome
        if not o.findings and o.error is None:
            continue
        entry: dict[str, Any] = {"path": fr.display,
                                 "findings": [f.as_json() for f in o.findings]}
        if o.error is not None:
            entry["error"] = o.error.as_json()
        files.append(entry)
    for missing in result.missing:
        files.append({"path": missing, "findings": [],
                      "error": FileError("not-found", "no such file or directory").as_json()})
    for u in result.unreadable:
        files.append({"path": u.display, "findings": [],
                      "error": FileError("unreadable", u.message).as_json()})
    for s in result.skipped:
        files.append({"path": s.display, "findings": [],
                      "skipped": {"type": s.type, "message": s.message}})
    return {
        "files": files,
        "summary": {
            "files_scanned": result.scanned,
            "files_with_findings": sum(1 for fr in result.files if fr.outcome.findings),
            "findings": sum(len(fr.outcome.findings) for fr in result.files),
            "errors": len(result.errors) + len(result.missing) + len(result.unreadable),
        },
    }


def scan_text(result: RunResult) -> list[str]:
    lines: list[str] = []
    for fr in result.files:
        if fr.outcome.error is not None:
            lines.append(error_line(fr.display, fr.outcome.error))
        for f in fr.outcome.findings:
            lines.append(finding_line(fr.display, f))
    for missing in result.missing:
        lines.append(f"{missing}: error: not-found: no such file or directory")
    lines.extend(unreadable_line(u) for u in result.unreadable)
    lines.extend(skipped_line(s) for s in result.skipped)
    doc = scan_json(result)["summary"]
    by_fix: Counter[str] = Counter(f.fix for fr in result.files for f in fr.outcome.findings)
    lines.append(
        f"Scanned {doc['files_scanned']} files: {doc['files_with_findings']} with findings, "
        f"{doc['findings']} findings (safe {by_fix['safe']}, unsafe {by_fix['unsafe']}, "
        f"manual {by_fix['manual']}), {doc['errors']} errors"
        + (f", {len(result.skipped)} skipped." if result.skipped else ".")
    )
    by_rule = _by_rule(result)
    if by_rule:
        lines.append("By rule: " + ", ".join(f"{code} {n}" for code, n in by_rule))
    return lines


def _by_rule(result: RunResult) -> list[tuple[str, int]]:
    counts: Counter[str] = Counter(f.rule for fr in result.files for f in fr.outcome.findings)
    return sorted(counts.items())


def _decode(data: bytes) -> str:
    """Text in the file's own encoding (PEP 263 cookie), for display."""
    try:
        encoding, _ = tokenize.detect_encoding(io.BytesIO(data).readline)
    except SyntaxError:
        encoding = "utf-8"
    return data.decode(encoding, errors="replace")


def unified_diff(fr: FileResult) -> str:
    assert fr.original is not None and fr.outcome.new_data is not None
    old = _decode(fr.original).splitlines(keepends=True)
    new = _decode(fr.outcome.new_data).splitlines(keepends=True)
    text = "".join(difflib.unified_diff(old, new, f"a/{fr.display}", f"b/{fr.display}"))
    return text if text.endswith("\n") else text + "\n"


def rewrite_summary(result: RunResult, *, mode: str, target: str, strategy: str) -> list[str]:
    changed = result.changed
    verb = {"diff": "would change", "check": "would change", "write": "changed"}[mode]
    candidates = sum(1 for fr in result.files if fr.candidate)
    lines = [
        f"waba-migrate rewrite ({target}, {strategy}): {result.scanned} files scanned, "
        f"{candidates} analysed, {len(changed)} {verb}, "
        f"{len(result.errors) + len(result.missing) + len(result.unreadable)} failed"
        + (f", {len(result.skipped)} skipped." if result.skipped else ".")
    ]
    applied: Counter[str] = Counter()
    held = 0
    for fr in result.files:
        applied.update(fr.outcome.applied)
        held += fr.outcome.held_unsafe
    if applied:
        lines.append("Fixes by rule: " + ", ".join(f"{c} {n}" for c, n in sorted(applied.items())))
    if held:
        lines.append(f"{held} unsafe fixes held back (apply them with --unsafe).")
    manual = [(fr.display, f) for fr in result.files for f in fr.outcome.findings
              if f.fix == "manual"]
    if manual:
        lines.append(f"Manual items ({len(manual)}):")
        lines.extend("  " + finding_line(d, f) for d, f in manual)
    return lines
