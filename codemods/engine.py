"""One file in, findings and (optionally) new bytes out. Pure: no printing, no writing.

Pipeline: parse once -> analyse -> apply the enabled items -> verify that the
result parses (libcst and ``ast``) -> run again until nothing changes (at most
three passes). Any failure leaves the file as it was and says why.
"""

from __future__ import annotations

import ast
import difflib
import io
import tokenize
from collections import Counter
from dataclasses import dataclass, field, replace
from typing import Final, Literal

import libcst as cst

from codemods.analyze import Analysis, Item, Strategy, analyze
from codemods.focus import NOTHING, focus
from codemods.parsing import parse_module
from codemods.rules import RULES_BY_CODE
from codemods.transform import apply
from shim.mapping.hosts import Target

Fix = Literal["safe", "unsafe", "manual"]
MAX_PASSES: Final = 3


@dataclass(frozen=True, slots=True)
class Options:
    target: Target = Target.D360
    strategy: Strategy = "native"
    #: rule codes reported and applied (after --select/--ignore)
    codes: frozenset[str] = frozenset(RULES_BY_CODE)
    unsafe: bool = False
    #: compute the rewritten file (rewrite); scan only reports
    rewrite: bool = False
    prefilter: bool = True
    #: scan: parse only the top-level statements a rule can look at (codemods.focus)
    focus: bool = True
    #: rewrite test files too (by default their findings are reported, nothing is changed)
    include_tests: bool = False
    #: hosts the user declares On-Prem (--onprem-host, the config's legacy_base_url)
    onprem_hosts: frozenset[str] = frozenset()
    #: test hook for the revert guarantee: "invalid-output" or "crash"
    fault: str | None = None


@dataclass(frozen=True, slots=True)
class Finding:
    line: int
    column: int
    rule: str
    message: str
    fix: Fix

    def as_json(self) -> dict[str, object]:
        return {"line": self.line, "column": self.column, "rule": self.rule,
                "message": self.message, "fix": self.fix}


@dataclass(frozen=True, slots=True)
class FileError:
    type: str
    message: str
    line: int | None = None
    column: int | None = None

    def as_json(self) -> dict[str, object]:
        return {"type": self.type, "message": self.message, "line": self.line,
                "column": self.column}


@dataclass(slots=True)
class Outcome:
    findings: list[Finding] = field(default_factory=list)
    new_data: bytes | None = None  # set only when the file changes
    error: FileError | None = None
    applied: Counter[str] = field(default_factory=Counter)
    held_unsafe: int = 0


def enabled_items(analysis: Analysis, options: Options) -> frozenset[int]:
    out = set()
    markers = []
    for item in analysis.items:
        if item.code not in options.codes or item.held or item.silent:
            continue
        if item.when_held:
            markers.append(item)
        elif item.fix == "safe" or item.fix == "manual" or (item.fix == "unsafe"
                                                             and options.unsafe):
            out.add(item.id)
    selected = {it.id for it in analysis.items if it.code in options.codes}
    for marker in markers:  # held-back unsafe fixes leave a trace
        if not (marker.when_held & selected) <= out:
            out.add(marker.id)
    for item in analysis.items:  # notes about a rewrite that was not made are not written
        if item.when_applied and item.id in out and not (item.when_applied & selected) <= out:
            out.discard(item.id)
    return frozenset(out)


def _reported(item: Item) -> bool:
    return not item.when_held and not item.silent and not item.hidden


def _finding(analysis: Analysis, item: Item) -> Finding:
    line, col = analysis.facts.pos(item.node)
    return Finding(line, col, item.code, item.message, item.fix)


def is_test_path(path: str) -> bool:
    """``test_*.py``, ``*_test.py``, ``conftest.py``, a Django ``tests.py`` or anything under a
    ``tests/`` folder."""
    parts = path.replace("\\", "/").split("/")
    name = parts[-1]
    return (name.startswith("test_") or name.endswith("_test.py")
            or name in ("conftest.py", "tests.py") or "tests" in parts[:-1])


def process_source(data: bytes, options: Options, path: str = "") -> Outcome:
    """Findings for ``data`` and, with ``options.rewrite``, the new bytes.

    ``path`` (as the user sees it) only decides whether the file is a test file:
    tests are reported but not rewritten unless ``options.include_tests``.
    """
    if path and options.rewrite and not options.include_tests and is_test_path(path):
        options = replace(options, rewrite=False)
    try:
        return _process(data, options)
    except cst.ParserSyntaxError as exc:
        return Outcome(error=FileError("syntax-error", _parser_message(exc), exc.raw_line,
                                       exc.raw_column + 1))
    except RecursionError:
        return Outcome(error=FileError("too-deep", "the file nests too deeply to analyse"))
    except Exception as exc:  # one bad file never stops the run
        return Outcome(error=FileError("internal-error", f"{type(exc).__name__}: {exc}"))


def _parser_message(exc: cst.ParserSyntaxError) -> str:
    return " ".join(exc.message.split()) or "invalid syntax"


def decode_error(data: bytes) -> FileError | None:
    """Why ``data`` cannot be decoded as the source it claims to be, with the first bad byte."""
    try:
        encoding, _ = tokenize.detect_encoding(io.BytesIO(data).readline)
    except SyntaxError as exc:  # an unknown or conflicting coding line
        return FileError("decode-error", " ".join(str(exc.msg).split()), exc.lineno)
    try:
        data.decode(encoding)
    except UnicodeDecodeError as exc:
        line = data.count(b"\n", 0, exc.start) + 1
        column = exc.start - (data.rfind(b"\n", 0, exc.start) + 1) + 1
        declared = encoding != "utf-8" and encoding != "utf-8-sig"
        return FileError("decode-error", f"byte 0x{data[exc.start]:02x} at offset {exc.start} "
                         f"is not valid {encoding}"
                         + ("" if declared else " and no coding line declares another "
                            "encoding"), line, column)
    return None


def _process(data: bytes, options: Options) -> Outcome:
    if options.fault == "crash":
        raise RuntimeError("injected fault")
    source = data
    if options.focus and not options.rewrite:
        reduced = focus(data, options.onprem_hosts)
        if reduced == NOTHING:
            return Outcome()  # no statement a rule can look at
        source = reduced or data
    try:
        module = parse_module(source)
    except (SyntaxError, UnicodeDecodeError):  # libcst could not decode it: say where
        error = decode_error(data)
        if error is None:
            raise
        return Outcome(error=error)
    # the word tests read the whole file; positions come from the (same-lined) parsed source
    analysis = analyze(module, options.target, options.strategy, _text(data, module), source,
                       onprem_hosts=options.onprem_hosts)
    out = Outcome()
    out.findings = sorted(
        (_finding(analysis, it) for it in analysis.items
         if it.code in options.codes and _reported(it)),
        key=lambda f: (f.line, f.column, f.rule),
    )
    if not options.rewrite:
        return out
    round_trip = module.bytes
    current_bytes = round_trip
    new_bytes = round_trip
    for n in range(MAX_PASSES):
        enabled = enabled_items(analysis, options)
        if n == 0:
            for it in analysis.items:
                if it.code not in options.codes or not _reported(it):
                    continue
                if it.id in enabled and it.fix != "manual":
                    out.applied[it.code] += 1
                elif it.fix == "unsafe":
                    out.held_unsafe += 1
        if not enabled:
            break
        candidate = apply(analysis, enabled).bytes
        if candidate == current_bytes:
            break
        if options.fault == "invalid-output":
            candidate += b"\n)\n"
        problem, reparsed = _verify(candidate)
        if problem is not None or reparsed is None:
            codes = sorted({it.code for it in analysis.items if it.id in enabled})
            out.error = FileError("invalid-output", f"the rewrite ({', '.join(codes)}) "
                                  f"produced code that does not parse: {problem}; file left "
                                  "unchanged")
            out.applied.clear()
            return out
        new_bytes = current_bytes = candidate
        analysis = analyze(reparsed, options.target, options.strategy,
                           _text(candidate, reparsed), onprem_hosts=options.onprem_hosts)
    else:
        out.error = FileError("did-not-converge", f"the rewrite still changed the file after "
                              f"{MAX_PASSES} passes; file left unchanged")
        out.applied.clear()
        return out
    if new_bytes == round_trip:
        return out
    mapped = _onto_original(data, round_trip, new_bytes)
    if mapped is None:
        out.error = FileError("round-trip", "libcst does not reproduce this file byte for byte "
                              "and the rewrite touches an affected line; file left unchanged")
        out.applied.clear()
        return out
    out.new_data = mapped
    return out


def _text(data: bytes, module: cst.Module) -> str:
    return data.decode(module.encoding, errors="replace")


def _verify(data: bytes) -> tuple[str | None, cst.Module | None]:
    """Does the rewritten file parse with both ``ast`` and libcst? (and its new tree)"""
    try:
        compile(data, "<rewritten>", "exec", flags=ast.PyCF_ONLY_AST, dont_inherit=True)
        return None, parse_module(data)
    except SyntaxError as exc:
        return f"line {exc.lineno}: {exc.msg}", None
    except cst.ParserSyntaxError as exc:
        return f"line {exc.raw_line}: {_parser_message(exc)}", None


def _onto_original(original: bytes, round_trip: bytes, new: bytes) -> bytes | None:
    """``new`` expressed against the real original (libcst may alter a line, LibCST#1457)."""
    if original == round_trip:
        return new
    orig = original.splitlines(keepends=True)
    rt = round_trip.splitlines(keepends=True)
    if len(orig) != len(rt):
        return None
    altered = {i for i, (a, b) in enumerate(zip(orig, rt, strict=True)) if a != b}
    out: list[bytes] = []
    lines = new.splitlines(keepends=True)
    for tag, i1, i2, j1, j2 in difflib.SequenceMatcher(None, rt, lines, autojunk=False
                                                       ).get_opcodes():
        if tag == "equal":
            out.extend(orig[i1:i2])
            continue
        if any(i in altered for i in range(i1, i2)):
            return None
        out.extend(lines[j1:j2])
    return b"".join(out)
