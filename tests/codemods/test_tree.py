"""Whole trees: every fixture in one project, rewritten in one run (pool and inline)."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from click.testing import CliRunner

from codemods.engine import Options
from codemods.runner import run
from shim.cli import main
from shim.mapping.hosts import Target
from tests.codemods.conftest import FIXTURES, case_id, cases, expected_path

BROKEN = 'URL = "https://waba.360dialog.io/v1/messages"\nprint "old python"\n'
ONPREM = 'URL = "https://waba.360dialog.io/v1/messages"  # whatsapp\n'


@pytest.fixture
def project(tmp_path: Path) -> Path:
    root = tmp_path / "proj"
    for case in cases():
        dest = root / case_id(case)
        dest.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(case, dest)
    (root / ".git").mkdir()
    (root / ".gitignore").write_text("vendor/\n")
    for junk in ("vendor/lib.py", ".venv/lib/site.py", "build/lib/gen.py", "dist/x/y.py"):
        (root / junk).parent.mkdir(parents=True, exist_ok=True)
        (root / junk).write_text(ONPREM)
    (root / "broken.py").write_text(BROKEN)
    return root


def _snapshot(root: Path) -> dict[str, bytes]:
    return {p.relative_to(root).as_posix(): p.read_bytes()
            for p in sorted(root.rglob("*.py"))}


@pytest.mark.parametrize("target", ["360dialog", "meta"])
def test_write_the_whole_tree(project: Path, target: str) -> None:
    before = _snapshot(project)
    runner = CliRunner()
    result = runner.invoke(main, ["rewrite", str(project), "--target", target, "--write",
                                  "-j", "2"], catch_exceptions=False)
    assert result.exit_code == 2  # broken.py
    after = _snapshot(project)
    assert after["broken.py"] == before["broken.py"]
    for junk in ("vendor/lib.py", ".venv/lib/site.py", "build/lib/gen.py", "dist/x/y.py"):
        assert after[junk] == before[junk]
    for case in cases():
        rel = case_id(case)
        exp = expected_path(case, target)
        assert after[rel] == (exp.read_bytes() if exp.exists() else before[rel]), rel
    (project / "broken.py").unlink()
    check = runner.invoke(main, ["rewrite", str(project), "--target", target, "--check"],
                          catch_exceptions=False)
    assert check.exit_code == 0, check.stderr


def test_pool_inline_and_prefilter_agree(project: Path) -> None:
    opts = Options(target=Target.META, rewrite=True)
    results = [
        run([str(project)], opts, jobs=2),  # pool, prefilter on
        run([str(project)], Options(target=Target.META, rewrite=True, prefilter=False),
            jobs=1),  # inline, every file parsed
    ]
    views = [
        {fr.display: (fr.outcome.new_data, [(f.line, f.rule, f.message) for f in
                                            fr.outcome.findings],
                      fr.outcome.error.type if fr.outcome.error else None)
         for fr in r.files}
        for r in results
    ]
    assert views[0] == views[1]
    assert len(views[0]) == len(cases()) + 1  # fixtures + broken.py; junk skipped
    skipped = [fr for fr in results[0].files if not fr.candidate]
    assert skipped, "the prefilter let every file through"
    assert all(not fr.outcome.findings for fr in skipped)


def test_fixture_dir_is_not_collected_by_pytest() -> None:
    assert (FIXTURES / "snippets" / "s1.py").exists()


MEMORY_PROBE = """
import resource, sys
from pathlib import Path
from codemods.engine import Options
from codemods.runner import _one, _resident

warm, big = Path(sys.argv[1]), Path(sys.argv[2])
_one(warm, str(warm), warm.stat().st_size, Options(), 0)
before = _resident()
done = _one(big, str(big), big.stat().st_size, Options(), 0)
after = _resident()
peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
print(before, after, peak, len(done.outcome.findings))
"""


@pytest.mark.skipif(not Path("/proc/self/statm").exists(), reason="reads /proc (Linux)")
def test_a_worker_returns_the_memory_of_a_mid_sized_file(tmp_path: Path) -> None:
    """A 70 kB module kept whole (below the size that always triggers a release) takes tens
    of MB while it is analysed; the worker hands them back once it is done."""
    import subprocess
    import sys

    def module(n: int) -> str:
        return "import requests\n" + "".join(
            f'\n\ndef send_{i}(url, key, to):\n    return requests.post(url, json={{"to": to, '
            f'"type": "text", "text": {{"body": "{i}"}}}},\n'
            f'                         headers={{"D360-API-KEY": key}})\n' for i in range(n))
    warm, big = tmp_path / "warm.py", tmp_path / "big.py"
    warm.write_text(module(5))
    big.write_text(module(300))
    assert 50_000 < big.stat().st_size < 100_000
    out = subprocess.run([sys.executable, "-c", MEMORY_PROBE, str(warm), str(big)],
                         capture_output=True, text=True, check=True, cwd=Path(__file__).parents[2])
    before, after, peak, findings = map(int, out.stdout.split())
    assert findings
    assert peak - before > 20 * 2**20, (before, peak)  # the file did take memory
    assert after - before < 12 * 2**20, (before, after, peak)
