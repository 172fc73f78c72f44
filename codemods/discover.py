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


class _GitIgnores:
    """The .gitignore files of one walk, each read once."""

    def __init__(self, top: Path) -> None:
        self.root = _repo_root(top) or top
        self.specs: dict[Path, pathspec.GitIgnoreSpec | None] = {}

    def spec(self, directory: Path) -> pathspec.GitIgnoreSpec | None:
        if directory not in self.specs:
            self.specs[directory] = _load_spec(directory)
        return self.specs[directory]

    def ignored(self, path: Path, is_dir: bool) -> bool:
        """Does a .gitignore between the repository root (or the walk's top) ignore ``path``?"""
        return _ignored(self, path, is_dir)


def _ignored(ig: _GitIgnores, path: Path, is_dir: bool) -> bool:
    root = ig.root
    try:
        rel_parts = path.relative_to(root).parts
    except ValueError:
        return False
    directory = root
    for i in range(len(rel_parts)):
        spec = ig.spec(directory)
        if spec is not None:
            rel = "/".join(rel_parts[i:]) + ("/" if is_dir else "")
            if spec.match_file(rel):
                return True
        directory = directory / rel_parts[i]
    return False


def discover(paths: Sequence[str], excludes: Iterable[str] = (), *,
             cwd: Path | None = None) -> Discovery:
    cwd = (cwd or Path.cwd()).resolve()
    exclude = pathspec.GitIgnoreSpec.from_lines(list(excludes))
    out = Discovery()
    seen: set[Path] = set()

    def add(p: Path) -> None:
        rp = p.resolve()
        if rp not in seen:
            seen.add(rp)
            out.files.append(Found(p, display_path(p, cwd)))

    for raw in paths:
        p = Path(raw)
        if p.is_file():
            if not exclude.match_file(display_path(p, cwd)):
                add(p)
            continue
        if not p.is_dir():
            out.missing.append(raw)
            continue
        top = p.resolve()
        ig = _GitIgnores(top)
        for dirpath, dirnames, filenames in os.walk(top):
            d = Path(dirpath)
            rel_dir = d.relative_to(top)
            keep = []
            for name in sorted(dirnames):
                sub = d / name
                rel = (rel_dir / name).as_posix() + "/"
                if (name in SKIP_DIRS or name.endswith(".egg-info")
                        or (sub / "pyvenv.cfg").exists() or exclude.match_file(rel)
                        or ig.ignored(sub, True)):
                    continue
                keep.append(name)
            dirnames[:] = keep
            for name in sorted(filenames):
                if not name.endswith(".py"):
                    continue
                f = d / name
                rel = (rel_dir / name).as_posix()
                if exclude.match_file(rel) or ig.ignored(f, False):
                    continue
                add(f)
    out.files.sort(key=lambda f: f.display)
    return out
