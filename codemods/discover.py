"""Which files a run looks at: explicit files always, directories walked.

Walking skips version-control and build directories, virtualenvs (any
directory holding ``pyvenv.cfg``), whatever ``.gitignore`` files (from the
repository root down) and ``.git/info/exclude`` ignore, and ``--exclude``
patterns (gitignore syntax, matched relative to the PATH argument; explicit
files are matched relative to the working directory).
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Final

import pathspec

SKIP_DIRS: Final = frozenset({
    ".git", ".hg", ".svn", ".venv", "venv", ".tox", ".nox", "node_modules", "__pycache__",
    "build", "dist", "site-packages", ".eggs", ".mypy_cache", ".ruff_cache", ".pytest_cache",
    "__pypackages__", ".direnv", ".idea", ".vscode",
})


@dataclass(frozen=True, slots=True)
class Found:
    path: Path
    display: str  # relative to the working directory when below it, with "/"


@dataclass(slots=True)
class Discovery:
    files: list[Found] = field(default_factory=list)
    missing: list[str] = field(default_factory=list)


def display_path(path: Path, cwd: Path) -> str:
    try:
        return path.resolve().relative_to(cwd).as_posix()
    except ValueError:
        return path.resolve().as_posix()


def _load_spec(directory: Path) -> pathspec.GitIgnoreSpec | None:
    lines: list[str] = []
    for f in (directory / ".gitignore", directory / ".git" / "info" / "exclude"):
        if f.is_file():
            with contextlib.suppress(OSError):
                lines += f.read_text(encoding="utf-8", errors="replace").splitlines()
    return pathspec.GitIgnoreSpec.from_lines(lines) if lines else None


def _repo_root(start: Path) -> Path | None:
    for d in (start, *start.parents):
        if (d / ".git").exists():
            return d
    return None


def _specs_above(top: str) -> list[tuple[str, pathspec.GitIgnoreSpec]]:
    """The .gitignore files from the repository root down to ``top``'s parent."""
    root = _repo_root(Path(top))
    if root is None:
        return []
    out: list[tuple[str, pathspec.GitIgnoreSpec]] = []
    directory = root
    for part in Path(top).relative_to(root).parts:
        spec = _load_spec(directory)
        if spec is not None:
            out.append((str(directory), spec))
        directory = directory / part
    return out


def _ignored(specs: list[tuple[str, pathspec.GitIgnoreSpec]], full: str, is_dir: bool) -> bool:
    for base, spec in specs:
        rel = full[len(base) + 1:].replace(os.sep, "/") + ("/" if is_dir else "")
        if spec.match_file(rel):
            return True
    return False


def discover(paths: Sequence[str], excludes: Iterable[str] = (), *,
             cwd: Path | None = None) -> Discovery:
    cwd = (cwd or Path.cwd()).resolve()
    cwd_s = str(cwd)
    exclude = pathspec.GitIgnoreSpec.from_lines(list(excludes))
    out = Discovery()
    seen: set[str] = set()

    def add(full: str) -> None:
        if full in seen:
            return
        seen.add(full)
        rel = os.path.relpath(full, cwd_s)
        display = full if rel.startswith("..") else rel
        out.files.append(Found(Path(full), display.replace(os.sep, "/")))

    for raw in paths:
        p = Path(raw)
        if p.is_file():
            full = str(p.resolve())
            if not exclude.match_file(display_path(p, cwd)):
                add(full)
            continue
        if not p.is_dir():
            out.missing.append(raw)
            continue
        top = str(p.resolve())
        # per directory: the .gitignore specs that apply below it
        stacks: dict[str, list[tuple[str, pathspec.GitIgnoreSpec]]] = {}
        above = _specs_above(top)
        for dirpath, dirnames, filenames in os.walk(top):
            parent = stacks.get(os.path.dirname(dirpath), above) if dirpath != top else above
            own = _load_spec(Path(dirpath)) if ".gitignore" in filenames or os.path.isdir(
                os.path.join(dirpath, ".git")) else None
            specs = [*parent, (dirpath, own)] if own is not None else parent
            stacks[dirpath] = specs
            rel_dir = os.path.relpath(dirpath, top)
            rel_dir = "" if rel_dir == "." else rel_dir.replace(os.sep, "/") + "/"
            keep = []
            for name in sorted(dirnames):
                sub = os.path.join(dirpath, name)
                if (name in SKIP_DIRS or name.endswith(".egg-info")
                        or os.path.exists(os.path.join(sub, "pyvenv.cfg"))
                        or exclude.match_file(rel_dir + name + "/")
                        or _ignored(specs, sub, True)):
                    continue
                keep.append(name)
            dirnames[:] = keep
            for name in sorted(filenames):
                if not name.endswith(".py"):
                    continue
                full = os.path.join(dirpath, name)
                if exclude.match_file(rel_dir + name) or _ignored(specs, full, False):
                    continue
                add(full)
    out.files.sort(key=lambda f: f.display)
    return out
