"""Codemod test helpers: the fixture corpus and one engine call per rewrite mode."""

from __future__ import annotations

import json
from functools import cache
from pathlib import Path
from typing import Any

from codemods.engine import Options, Outcome, process_source
from shim.mapping.hosts import Target

# before/after pairs are data, not tests
collect_ignore_glob = ["fixtures/*"]

FIXTURES = Path(__file__).parent / "fixtures"
MODES: dict[str, tuple[Target, str]] = {
    "360dialog": (Target.D360, "native"),
    "meta": (Target.META, "native"),
    "shim": (Target.D360, "shim"),
    "meta-shim": (Target.META, "shim"),
}


def cases() -> list[Path]:
    """Every ``before`` file (expected files are ``<case>.after-<mode>.py``)."""
    return sorted(p for p in FIXTURES.glob("*/*.py") if ".after-" not in p.name)


def case_id(path: Path) -> str:
    return path.relative_to(FIXTURES).as_posix()


def expected_path(case: Path, mode: str) -> Path:
    return case.with_name(f"{case.stem}.after-{mode}.py")


def manifest() -> dict[str, Any]:
    data: dict[str, Any] = json.loads((FIXTURES / "expected_findings.json").read_text())
    return data


def options(mode: str, **kw: Any) -> Options:
    target, strategy = MODES[mode]
    return Options(target=target, strategy=strategy, rewrite=True, **kw)  # type: ignore[arg-type]


def rewrite(source: bytes | str, mode: str = "360dialog", **kw: Any) -> Outcome:
    data = source.encode() if isinstance(source, str) else source
    return process_source(data, options(mode, **kw))


@cache
def outcome(case: Path, mode: str) -> Outcome:
    """The engine's result for a fixture (pure, so computed once per session)."""
    return process_source(case.read_bytes(), options(mode))
