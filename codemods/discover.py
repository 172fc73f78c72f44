"""Which files a run looks at: explicit files always, directories walked.

Walking skips version-control and build directories, virtualenvs (any
directory holding ``pyvenv.cfg``), whatever ``.gitignore`` files (from the
repository root down) and ``.git/info/exclude`` ignore, ``--exclude``
patterns (gitignore syntax, matched relative to the PATH argument; explicit
files are matched relative to the working directory), and waba-migrate's own
packages wherever they are installed (their tables hold On-Prem URLs on
purpose). Only regular files are read: a FIFO, socket or device named
``*.py`` is skipped with a reason (opening a FIFO would block the run), and a
directory that cannot be listed is an error, never a silent gap.
"""

from __future__ import annotations

import contextlib
import os
import stat
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Final

import pathspec

import codemods
import shim

SKIP_DIRS: Final = frozenset({
    ".git", ".hg", ".svn", ".venv", "venv", ".tox", ".nox", "node_modules", "__pycache__",
    "build", "dist", "site-packages", ".eggs", ".mypy_cache", ".ruff_cache", ".pytest_cache",
    "__pypackages__", ".direnv", ".idea", ".vscode",
})


#: Files that, next to the package's ``__init__.py``, identify a copy of our own packages.
OWN_PACKAGES: Final = {
    "shim": ("mapping/hosts.py", "compat/__init__.py", "translate/__init__.py"),
    "codemods": ("prefilter.py", "rules.py", "transform.py"),
}
_LOADED: Final = frozenset(os.path.realpath(os.path.dirname(m.__file__ or "."))
                           for m in (shim, codemods))


@dataclass(frozen=True, slots=True)
class Found:
    path: Path
    display: str  # relative to the working directory when below it, with "/"
    size: int = 0


@dataclass(frozen=True, slots=True)
class Skipped:
    """A path that is not read, and why (reported, but not an error)."""

    display: str
    type: str
    message: str


@dataclass(frozen=True, slots=True)
class Unreadable:
    """A directory (or path) that could not be listed or examined: an error."""

    display: str
    message: str


@dataclass(slots=True)
class Discovery:
    files: list[Found] = field(default_factory=list)
    missing: list[str] = field(default_factory=list)
    skipped: list[Skipped] = field(default_factory=list)
    unreadable: list[Unreadable] = field(default_factory=list)


def kind_of(mode: int) -> str | None:
    """What a non-regular file is, in words (None for a regular file)."""
    if stat.S_ISREG(mode):
        return None
    if stat.S_ISFIFO(mode):
        return "a FIFO (named pipe)"
    if stat.S_ISSOCK(mode):
        return "a socket"
    if stat.S_ISCHR(mode) or stat.S_ISBLK(mode):
        return "a device"
    if stat.S_ISDIR(mode):
        return "a directory"
    return "not a regular file"


def is_own_package(directory: str) -> bool:
    """Is ``directory`` waba-migrate's ``shim`` or ``codemods`` package (any installed copy)?"""
    name = os.path.basename(directory.rstrip(os.sep))
    marks = OWN_PACKAGES.get(name)
    if marks is None:
        return False
    if os.path.realpath(directory) in _LOADED:
        return True
    return os.path.isfile(os.path.join(directory, "__init__.py")) and all(
        os.path.exists(os.path.join(directory, m)) for m in marks)


def _inside_own_package(path: Path) -> bool:
    return any(is_own_package(str(d)) for d in (path, *path.parents)
               if d.name in OWN_PACKAGES)


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

    def shown(full: str) -> str:
        rel = os.path.relpath(full, cwd_s)
        return (full if rel.startswith("..") else rel).replace(os.sep, "/")

    def add(full: str, st: os.stat_result | OSError) -> None:
        if full in seen:
            return
        seen.add(full)
        if isinstance(st, FileNotFoundError):
            out.skipped.append(Skipped(shown(full), "not-a-regular-file",
                                       "a symbolic link to nothing"))
            return
        if isinstance(st, OSError):
            out.unreadable.append(Unreadable(shown(full), st.strerror or str(st)))
            return
        kind = kind_of(st.st_mode)
        if kind is not None:
            out.skipped.append(Skipped(shown(full), "not-a-regular-file",
                                       f"{kind}; only regular files are read"))
            return
        out.files.append(Found(Path(full), shown(full), st.st_size))

    def unlistable(exc: OSError) -> None:
        where = shown(os.path.abspath(exc.filename)) if exc.filename else "?"
        out.unreadable.append(Unreadable(where, f"cannot list the directory: "
                                         f"{exc.strerror or exc}"))

    for raw in paths:
        p = Path(raw)
        try:
            st = p.stat()
        except FileNotFoundError:
            out.missing.append(raw)
            continue
        except OSError as exc:
            out.unreadable.append(Unreadable(raw, exc.strerror or str(exc)))
            continue
        full_top = os.path.abspath(raw)
        if _inside_own_package(Path(full_top) if stat.S_ISDIR(st.st_mode)
                               else Path(full_top).parent):
            out.skipped.append(Skipped(shown(full_top), "own-package",
                                       "part of waba-migrate itself"))
            continue
        if not stat.S_ISDIR(st.st_mode):
            if not exclude.match_file(display_path(p, cwd)):
                add(str(p.resolve()), st)
            continue
        _walk(str(p.resolve()), exclude, add, unlistable)
    out.files.sort(key=lambda f: f.display)
    out.skipped.sort(key=lambda f: f.display)
    return out


def _walk(top: str, exclude: pathspec.GitIgnoreSpec,
          add: Callable[[str, os.stat_result | OSError], None],
          unlistable: Callable[[OSError], None]) -> None:
    # per directory: the .gitignore specs that apply below it
    stacks: dict[str, list[tuple[str, pathspec.GitIgnoreSpec]]] = {}
    above = _specs_above(top)
    for dirpath, dirnames, filenames in os.walk(top, onerror=unlistable):
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
                    or _ignored(specs, sub, True)
                    or (name in OWN_PACKAGES and is_own_package(sub))):
                continue
            keep.append(name)
        dirnames[:] = keep
        for name in sorted(filenames):
            if not name.endswith(".py"):
                continue
            full = os.path.join(dirpath, name)
            if exclude.match_file(rel_dir + name) or _ignored(specs, full, False):
                continue
            try:
                st: os.stat_result | OSError = os.stat(full)
            except OSError as exc:  # a dangling symlink, or gone meanwhile
                st = exc
            add(full, st)
