"""Real-code evaluation of ``waba-migrate rewrite``: the mechanical checks, per file and in total.

Runs the installed ``waba-migrate`` exactly as a user would, on a copy of
CORPUS_DIR (a directory of ``.py`` files; when an INDEX.tsv names a file's
repository and path, the copy puts it back at ``<owner>__<repo>/<path>`` so
that path-based rules such as "test files are report-only" see the real
path), in each of the four modes
(``--target 360dialog|meta`` x ``--strategy native|shim``):

1. ``scan --format json`` (the findings, with line and fix applicability);
2. ``rewrite --check`` (must exit 1 when something would change, else 0);
3. ``rewrite --diff`` (saved per file under OUT/<mode>/diffs/ for a person to read);
4. ``rewrite --write``, then ``--check`` again (must exit 0), a second
   ``--write`` (must change nothing) and a ``scan`` of the result.

Per file it then checks what a machine can check: the output parses; it is
idempotent; the ``--diff`` output names the same files ``--write`` changes;
each finding is either gone after the rewrite (applied) or its statement
carries a ``# waba-migrate: WMxxx`` marker; every held-back site (an
``unsafe`` fix not applied, or a ``manual`` item) carries a marker (its own, or
the one its request's call carries); a safe fix whose own comment stays on the
applied edit (WM201/WM202: the header's secret must now be a Cloud credential)
counts as applied, with a note, and leaves the file's hint F, since what is
left is configuration, not code; findings in test files count as reported
(the tool does not write them without ``--include-tests``); and no
line changes outside the statements that hold a finding (added imports and
marker comments excepted).

What it does NOT measure: whether an edit is *correct* (that the rewritten
request does what the old one did, that a marker's advice is right, that a
file with no finding really has no On-Prem call). Those need a person to
read the diffs and classify each file F/P/M/B/W; this tool only points at
where to look. It also does not time anything. The corpus itself (public
third-party code) must live outside the repository; so must OUT.

Exit status 1 when a hard invariant breaks (output does not parse, second
write changes something, wrong ``--check`` exit code, the tool crashes);
with ``--strict`` also when a soft check fails (unmarked leftover,
missing held-back marker, change outside a finding).

    python bench/codemods_realcode.py CORPUS_DIR [--out DIR] [--index INDEX.tsv]
        [--mode TARGET/STRATEGY ...] [--jobs N] [--tool-arg ARG ...] [--quick] [--strict]
"""

from __future__ import annotations

import argparse
import ast
import difflib
import json
import re
import shutil
import subprocess
import sys
import tempfile
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

MODES: tuple[tuple[str, str], ...] = (
    ("360dialog", "native"), ("360dialog", "shim"), ("meta", "native"), ("meta", "shim"),
)
QUICK_MODES: tuple[tuple[str, str], ...] = (("360dialog", "native"), ("meta", "shim"))
QUICK_FILES = 12
MARKER = re.compile(r"#\s*waba-migrate:\s*(WM\d+)")
IMPORT_LINE = re.compile(r"^\s*(from\s+\S+\s+import\b|import\s+\S)")
TOOL = [sys.executable, "-m", "shim.cli"]


@dataclass
class FileReport:
    name: str
    findings: list[dict[str, Any]] = field(default_factory=list)
    changed: bool = False
    in_diff: bool = False
    parses: bool = True
    idempotent: bool = True
    applied: int = 0
    marked: int = 0
    unmarked: list[str] = field(default_factory=list)
    held_unmarked: list[str] = field(default_factory=list)
    outside: list[int] = field(default_factory=list)
    markers_added: int = 0
    #: safe fixes applied with their own note (WM201/WM202: the secret the header sends
    #: must now be a Cloud credential): configuration left to do, not code held back
    noted: int = 0
    #: findings in a test file: reported, not written (the tool's rule)
    reported: int = 0
    after_findings: int = 0
    error: str = ""

    def fixes(self) -> Counter[str]:
        return Counter(str(f["fix"]) for f in self.findings)

    def hint(self) -> str:
        """A first guess at the F/P/M class; a person confirms it (B and W need reading)."""
        if self.error:
            return "err"
        if not self.findings and not self.changed:
            return "M?"
        if self.findings and self.reported == len(self.findings):
            return "R"  # a test file: every finding reported, none written (by design)
        if self.findings and not self.changed:
            return "M!"  # findings reported but nothing written: not even a marker
        if self.unmarked or self.held_unmarked:
            return "P-unmarked"
        if self.marked or self.markers_added > self.noted:
            return "P"
        return "F"


@dataclass
class ModeReport:
    target: str
    strategy: str
    files: dict[str, FileReport]
    hard: list[str] = field(default_factory=list)

    @property
    def key(self) -> str:
        return f"{self.target}/{self.strategy}"


def _run(args: list[str], cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*TOOL, *args], cwd=cwd, capture_output=True, text=True,
                          timeout=900, check=False)


def _statement_spans(source: bytes) -> list[tuple[int, int]]:
    """(first, last) line of every statement, innermost last for equal starts."""
    try:
        tree = ast.parse(source)
    except (SyntaxError, ValueError):
        return []
    spans = []
    for node in ast.walk(tree):
        if isinstance(node, ast.stmt):
            first = min([node.lineno, *(d.lineno for d in getattr(node, "decorator_list", []))])
            spans.append((first, node.end_lineno or node.lineno))
    return spans


def _enclosing(spans: list[tuple[int, int]], line: int) -> tuple[int, int]:
    best = (line, line)
    size = None
    for first, last in spans:
        if first <= line <= last and (size is None or last - first < size):
            best, size = (first, last), last - first
    return best


def _marker_codes_near(lines: list[str], span: tuple[int, int]) -> set[str]:
    """Marker codes in the comment block right above a statement, or inside it."""
    first, last = span
    codes: set[str] = set()
    i = first - 2
    while i >= 0 and lines[i].lstrip().startswith("#"):
        codes.update(MARKER.findall(lines[i]))
        i -= 1
    for text in lines[first - 1:last]:
        codes.update(MARKER.findall(text))
    return codes


def _line_map(old: list[str], new: list[str]) -> dict[int, int]:
    """Old line number -> new line number for lines kept or replaced in place."""
    mapping: dict[int, int] = {}
    matcher = difflib.SequenceMatcher(a=old, b=new, autojunk=False)
    for tag, i1, i2, j1, j2 in matcher.get_opcodes():
        if tag == "equal" or tag == "replace":
            for k in range(i2 - i1):
                mapping[i1 + k + 1] = min(j1 + k, max(j2 - 1, j1)) + 1
        elif tag == "delete":
            for k in range(i1, i2):
                mapping[k + 1] = j1 + 1
    return mapping


def _outside_changes(old: list[str], new: list[str], spans: list[tuple[int, int]],
                     lines_with_findings: list[int]) -> list[int]:
    """Old line numbers changed (or inserted after) outside every finding's statement."""
    allowed: set[int] = set()
    for line in lines_with_findings:
        first, last = _enclosing(spans, line)
        allowed.update(range(first, last + 1))
    outside: list[int] = []
    matcher = difflib.SequenceMatcher(a=old, b=new, autojunk=False)
    for tag, i1, i2, j1, j2 in matcher.get_opcodes():
        if tag == "equal":
            continue
        added = new[j1:j2]
        if tag == "insert" and all(not t.strip() or t.lstrip().startswith("#")
                                   or IMPORT_LINE.match(t) for t in added):
            continue
        if tag == "insert":
            if (i1 + 1) not in allowed and i1 not in allowed:
                outside.append(i1 + 1)
            continue
        for k in range(i1 + 1, i2 + 1):
            if k not in allowed and not IMPORT_LINE.match(old[k - 1]):
                outside.append(k)
    return outside


def _parses(data: bytes) -> bool:
    try:
        ast.parse(data)
    except (SyntaxError, ValueError):
        return False
    return True


def _scan(root: Path, target: str, strategy: str, extra: list[str], jobs: int,
          names: dict[str, str]) -> tuple[dict[str, list[dict[str, Any]]], dict[str, str], str]:
    proc = _run(["scan", "--format", "json", "--target", target, "--strategy", strategy,
                 "-j", str(jobs), *extra, "."], root)
    try:
        doc = json.loads(proc.stdout)
    except json.JSONDecodeError:
        return {}, {}, f"scan exit {proc.returncode}: {proc.stderr.strip()[-300:]}"
    findings: dict[str, list[dict[str, Any]]] = {}
    errors: dict[str, str] = {}
    for entry in doc.get("files", []):
        name = names.get(Path(entry["path"]).as_posix().removeprefix("./"),
                         Path(entry["path"]).name)
        findings[name] = entry.get("findings", [])
        if entry.get("error"):
            errors[name] = f"{entry['error'].get('type')}: {entry['error'].get('message')}"
    return findings, errors, ""


def _split_diff(text: str, names: dict[str, str]) -> dict[str, str]:
    out: dict[str, list[str]] = {}
    current: str | None = None
    for line in text.splitlines(keepends=True):
        if line.startswith("--- a/"):
            rel = Path(line[6:].strip()).as_posix().removeprefix("./")
            current = names.get(rel, Path(rel).name)
            out[current] = []
        if current is not None:
            out[current].append(line)
    return {k: "".join(v) for k, v in out.items()}


def run_mode(corpus: list[Path], target: str, strategy: str, out: Path, extra: list[str],
             jobs: int, layout: dict[str, str]) -> ModeReport:
    report = ModeReport(target, strategy, {p.name: FileReport(p.name) for p in corpus})
    mode_dir = out / f"{target}-{strategy}"
    shutil.rmtree(mode_dir, ignore_errors=True)
    (mode_dir / "diffs").mkdir(parents=True)
    (mode_dir / "after").mkdir()
    with tempfile.TemporaryDirectory(prefix="realcode-") as tmp:
        root = Path(tmp)
        # each file goes back to its own path (test-file rules, package layout need it)
        rel = {p.name: layout.get(p.name, p.name) for p in corpus}
        names = {r: n for n, r in rel.items()}
        for p in corpus:
            (root / rel[p.name]).parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(p, root / rel[p.name])
        before = {p.name: p.read_bytes() for p in corpus}
        rewrite = ["rewrite", "--target", target, "--strategy", strategy, "-j", str(jobs),
                   *extra, "."]

        findings, scan_errors, err = _scan(root, target, strategy, extra, jobs, names)
        if err:
            report.hard.append(err)
        for name, fr in report.files.items():
            fr.findings = findings.get(name, [])
            fr.error = scan_errors.get(name, "")

        diff = _run([*rewrite[:5], "--diff", *rewrite[5:]], root)
        if diff.returncode not in (0, 2):
            report.hard.append(f"--diff exit {diff.returncode}: {diff.stderr.strip()[-300:]}")
        diffs = _split_diff(diff.stdout, names)
        for name, text in diffs.items():
            (mode_dir / "diffs" / f"{name}.diff").write_text(text)
            if name in report.files:
                report.files[name].in_diff = True

        check = _run([*rewrite[:5], "--check", *rewrite[5:]], root)
        want = 1 if diffs else 0
        if check.returncode != want and check.returncode != 2:
            report.hard.append(f"--check before --write exited {check.returncode}, want {want}")

        write = _run([*rewrite[:5], "--write", *rewrite[5:]], root)
        if write.returncode not in (0, 2):
            report.hard.append(f"--write exit {write.returncode}: {write.stderr.strip()[-300:]}")
        after = {name: (root / rel[name]).read_bytes() for name in before}
        for name, data in after.items():
            (mode_dir / "after" / name).write_bytes(data)

        check2 = _run([*rewrite[:5], "--check", *rewrite[5:]], root)
        if check2.returncode not in (0, 2):
            report.hard.append(f"--check after --write exited {check2.returncode}, want 0")
        write2 = _run([*rewrite[:5], "--write", *rewrite[5:]], root)
        if write2.returncode not in (0, 2):
            report.hard.append(f"second --write exit {write2.returncode}")
        again = {name: (root / rel[name]).read_bytes() for name in before}
        rescan, _, err = _scan(root, target, strategy, extra, jobs, names)
        if err:
            report.hard.append("rescan: " + err)

    for name, fr in report.files.items():
        _check_file(fr, before[name], after[name], again[name], rescan.get(name, []),
                    unsafe_applied="--unsafe" in extra,
                    report_only=is_test_path(rel[name]) and "--include-tests" not in extra)
        if fr.changed != fr.in_diff:
            report.hard.append(f"{name}: --diff and --write disagree "
                               f"(diff {fr.in_diff}, write changed {fr.changed})")
        if not fr.parses:
            report.hard.append(f"{name}: output does not parse")
        if not fr.idempotent:
            report.hard.append(f"{name}: second --write changed the file")
    return report


def is_test_path(rel: str) -> bool:
    """The tool's test-file rule (``test_*.py``, ``*_test.py``, ``conftest.py``, ``tests.py``,
    anything under ``tests/``): such files are reported, not rewritten."""
    parts = rel.replace("\\", "/").split("/")
    name = parts[-1]
    return (name.startswith("test_") or name.endswith("_test.py")
            or name in ("conftest.py", "tests.py") or "tests" in parts[:-1])


def _check_file(fr: FileReport, old_b: bytes, new_b: bytes, again_b: bytes,
                after_findings: list[dict[str, Any]], unsafe_applied: bool = False,
                report_only: bool = False) -> None:
    fr.changed = old_b != new_b
    fr.parses = _parses(new_b)
    fr.idempotent = new_b == again_b
    fr.after_findings = len(after_findings)
    old = old_b.decode("utf-8", "replace").splitlines()
    new = new_b.decode("utf-8", "replace").splitlines()
    fr.markers_added = (sum(len(MARKER.findall(t)) for t in new)
                        - sum(len(MARKER.findall(t)) for t in old))
    old_spans = _statement_spans(old_b)
    new_spans = _statement_spans(new_b)
    mapping = _line_map(old, new)
    remaining = {(int(f["line"]), str(f["rule"])) for f in after_findings}
    file_codes = {c for t in new for c in MARKER.findall(t)}
    for f in fr.findings:
        line, rule, fix = int(f["line"]), str(f["rule"]), str(f["fix"])
        where = f"{rule}@{line}"
        new_line = mapping.get(line, line)
        span = _enclosing(new_spans, new_line)
        codes = _marker_codes_near(new, span) if new else set()
        still_there = any(r == rule and span[0] <= ln <= span[1] for ln, r in remaining)
        held = fix == "manual" or (fix == "unsafe" and not unsafe_applied)
        # a part held back because its request needs another item (the message names that
        # item's code) is covered by the request's marker, if its own line is untouched
        blockers = set(re.findall(r"WM\d{3}", str(f.get("message", "")))) - {rule}
        untouched = 0 < line <= len(old) and 0 < new_line <= len(new) \
            and old[line - 1] == new[new_line - 1]
        if report_only:
            fr.reported += 1  # a test file: reported, never written (without --include-tests)
        elif fix == "safe" and not still_there and rule in codes:
            fr.applied += 1  # applied; its marker is the fix's own note
            fr.noted += 1
        elif rule in codes or (held and untouched and (blockers | {rule}) & file_codes):
            # its own marker, or (a part of a held request, line untouched) the marker the
            # request's call carries: the item it waits for, or its own code there
            fr.marked += 1
        elif still_there or held:
            (fr.held_unmarked if fix in ("unsafe", "manual") else fr.unmarked).append(where)
        else:
            fr.applied += 1
    covered = {(int(f["line"]), str(f["rule"])) for f in after_findings
               if (set(re.findall(r"WM\d{3}", str(f.get("message", ""))))
                   - {str(f["rule"])}) & file_codes
               or (str(f.get("fix")) in ("unsafe", "manual") and str(f["rule"]) in file_codes)}
    for ln, rule in sorted(() if report_only else remaining - covered):
        span = _enclosing(new_spans, ln)
        if rule not in _marker_codes_near(new, span):
            tag = f"{rule}@{ln}(after)"
            if not any(u.startswith(rule + "@") for u in fr.unmarked + fr.held_unmarked):
                fr.unmarked.append(tag)
    if fr.changed:
        fr.outside = _outside_changes(old, new, old_spans, [int(f["line"]) for f in fr.findings])


def _load_index(path: Path | None) -> tuple[dict[str, str], dict[str, str]]:
    """(file -> category, file -> repository/path) from an INDEX.tsv, if there is one."""
    if path is None or not path.is_file():
        return {}, {}
    cats: dict[str, str] = {}
    layout: dict[str, str] = {}
    for line in path.read_text().splitlines()[1:]:
        cols = line.split("\t")
        if len(cols) >= 5:
            cats[cols[0]] = cols[4]
            layout[cols[0]] = f"{cols[1].replace('/', '__')}/{cols[2]}"
    return cats, layout


def _print_mode(rep: ModeReport, cats: dict[str, str]) -> None:
    print(f"\n== {rep.key} ==")
    print(f"{'file':80} {'cat':10} {'find s/u/m':>10} chg parse idem applied marked "
          f"unmarked held-unmarked outside  hint")
    for name in sorted(rep.files):
        fr = rep.files[name]
        fx = fr.fixes()
        print(f"{name[:80]:80} {cats.get(name, '-')[:10]:10} "
              f"{fx['safe']:>3}/{fx['unsafe']}/{fx['manual']:<3} "
              f"{'y' if fr.changed else '-':>3} {'y' if fr.parses else 'NO':>5} "
              f"{'y' if fr.idempotent else 'NO':>4} {fr.applied:>7} {fr.marked:>6} "
              f"{len(fr.unmarked):>8} {len(fr.held_unmarked):>13} {len(fr.outside):>7}  "
              f"{fr.hint()}{f' ({fr.noted} notes)' if fr.noted else ''}"
              f"{'  ' + fr.error if fr.error else ''}")
        for label, items in (("unmarked", fr.unmarked), ("held-unmarked", fr.held_unmarked)):
            if items:
                print(f"    {label}: {', '.join(items)}")
        if fr.outside:
            print(f"    changed outside a finding, old lines: {fr.outside[:12]}")
    for problem in rep.hard:
        print(f"  HARD: {problem}")


def _totals(rep: ModeReport, cats: dict[str, str]) -> dict[str, Any]:
    files = list(rep.files.values())
    onprem = [f for f in files if cats.get(f.name, "onprem") != "negative"]
    negative = [f for f in files if cats.get(f.name) == "negative"]
    hints = Counter(f.hint() for f in onprem)
    return {
        "mode": rep.key,
        "files": len(files),
        "parses": sum(f.parses for f in files),
        "idempotent": sum(f.idempotent for f in files),
        "changed": sum(f.changed for f in files),
        "with_findings": sum(bool(f.findings) for f in files),
        "onprem_found": sum(bool(f.findings) or f.changed for f in onprem),
        "onprem_files": len(onprem),
        "findings": sum(len(f.findings) for f in files),
        "applied": sum(f.applied for f in files),
        "marked": sum(f.marked for f in files),
        "noted": sum(f.noted for f in files),
        "unmarked_leftovers": sum(len(f.unmarked) for f in files),
        "held_back_unmarked": sum(len(f.held_unmarked) for f in files),
        "files_changed_outside_findings": sum(bool(f.outside) for f in files),
        "negative_files_touched": sum(bool(f.findings) or f.changed for f in negative),
        "hints": dict(sorted(hints.items())),
        "hard_failures": len(rep.hard),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("corpus", type=Path, help="directory of .py files (not recursed)")
    parser.add_argument("--out", type=Path, default=None,
                        help="where diffs, rewritten files and summary.json go "
                        "(default: a new temp dir; keep it outside the repository)")
    parser.add_argument("--index", type=Path, default=None,
                        help="INDEX.tsv (file, repository, path, commit, category); default "
                        "CORPUS_DIR/../INDEX.tsv when present")
    parser.add_argument("--mode", action="append", default=None, metavar="TARGET/STRATEGY",
                        help="only this mode (repeatable), e.g. meta/shim")
    parser.add_argument("--jobs", type=int, default=2)
    parser.add_argument("--flat", action="store_true",
                        help="run on the flat file names, not on each file's repository/path "
                        "from the index")
    parser.add_argument("--tool-arg", action="append", default=[], metavar="ARG",
                        help="extra argument for scan and rewrite (repeatable)")
    parser.add_argument("--quick", action="store_true",
                        help=f"two modes, first {QUICK_FILES} files (smoke test)")
    parser.add_argument("--strict", action="store_true",
                        help="exit 1 on soft failures too (unmarked leftovers, changes "
                        "outside findings)")
    args = parser.parse_args(argv)

    if not args.corpus.is_dir():
        print(f"{args.corpus}: error: not a directory", file=sys.stderr)
        return 2
    corpus = sorted(p for p in args.corpus.iterdir() if p.suffix == ".py" and p.is_file())
    modes = QUICK_MODES if args.quick else MODES
    if args.mode:
        try:
            modes = tuple((m.split("/")[0], m.split("/")[1]) for m in args.mode)
        except IndexError:
            print("--mode takes TARGET/STRATEGY, e.g. meta/shim", file=sys.stderr)
            return 2
    if args.quick:
        corpus = corpus[:QUICK_FILES]
    if not corpus:
        print(f"{args.corpus}: error: no .py files", file=sys.stderr)
        return 2
    out = args.out or Path(tempfile.mkdtemp(prefix="realcode-out-"))
    out.mkdir(parents=True, exist_ok=True)
    cats, layout = _load_index(args.index or args.corpus.parent / "INDEX.tsv")
    if args.flat:
        layout = {}

    reports = [run_mode(corpus, t, s, out, args.tool_arg, args.jobs, layout) for t, s in modes]
    totals = [_totals(r, cats) for r in reports]
    for rep in reports:
        _print_mode(rep, cats)
    print("\n== totals ==")
    for t in totals:
        print(f"{t['mode']:20} files {t['files']}, parse {t['parses']}/{t['files']}, "
              f"idempotent {t['idempotent']}/{t['files']}, changed {t['changed']}, "
              f"on-prem found {t['onprem_found']}/{t['onprem_files']}, findings "
              f"{t['findings']} (applied {t['applied']}, of them with a note {t['noted']}, "
              f"marked {t['marked']}, unmarked "
              f"{t['unmarked_leftovers']}, held-back unmarked {t['held_back_unmarked']}), "
              f"files changed outside findings {t['files_changed_outside_findings']}, "
              f"negative files touched {t['negative_files_touched']}, hints {t['hints']}, "
              f"hard failures {t['hard_failures']}")
    doc = {"totals": totals, "files": {
        r.key: {n: {**vars(f),
                    "fixes": dict(f.fixes()), "hint": f.hint(),
                    "category": cats.get(n, "")}
                for n, f in sorted(r.files.items())} for r in reports}}
    (out / "summary.json").write_text(json.dumps(doc, indent=2))
    print(f"\ndiffs and rewritten files: {out}")
    hard = sum(len(r.hard) for r in reports)
    soft = sum(t["unmarked_leftovers"] + t["held_back_unmarked"]
               + t["files_changed_outside_findings"] for t in totals)
    print(f"hard failures: {hard}; soft failures: {soft}")
    return 1 if hard or (args.strict and soft) else 0


if __name__ == "__main__":
    sys.exit(main())
