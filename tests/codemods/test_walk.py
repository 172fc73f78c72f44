"""The tree walk on hostile trees: FIFOs, sockets, devices, locked directories, huge and
undecodable files, ignored paths and waba-migrate's own packages."""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

import shim
from codemods.reading import NotRead, parse_size, read_source
from shim.cli import main

ONPREM = '''import requests

URL = "https://waba.360dialog.io/v1/messages"


def send(key, to, text):
    return requests.post(URL, headers={"D360-API-KEY": key},
                         json={"to": to, "type": "text", "text": {"body": text}})
'''


def _scan(*args: str) -> Result:
    return CliRunner().invoke(main, ["scan", "--format", "json", *args],
                              catch_exceptions=False)


def _entries(result: Result) -> dict[str, dict[str, object]]:
    return {Path(str(f["path"])).name: f for f in json.loads(result.stdout)["files"]}


def test_a_fifo_named_py_is_skipped_not_opened(tmp_path: Path) -> None:
    (tmp_path / "a.py").write_text(ONPREM)
    os.mkfifo(tmp_path / "x.py")
    # a real process: if the FIFO were opened for reading it would wait for a writer forever
    proc = subprocess.run([sys.executable, "-m", "shim.cli", "scan", "--format", "json",
                           str(tmp_path)], capture_output=True, text=True, timeout=120,
                          check=False)
    assert proc.returncode == 0, proc.stderr
    doc = json.loads(proc.stdout)
    by_name = {Path(f["path"]).name: f for f in doc["files"]}
    assert by_name["x.py"]["skipped"] == {
        "type": "not-a-regular-file",
        "message": "a FIFO (named pipe); only regular files are read"}
    assert by_name["x.py"]["findings"] == []
    assert {f["rule"] for f in by_name["a.py"]["findings"]} == {"WM101", "WM301"}
    assert doc["summary"] == {"files_scanned": 1, "files_with_findings": 1, "findings": 2,
                              "errors": 0}


def test_a_fifo_given_explicitly_and_the_reader_itself(tmp_path: Path) -> None:
    fifo = tmp_path / "x.py"
    os.mkfifo(fifo)
    result = _scan(str(fifo))
    assert result.exit_code == 0
    assert _entries(result)["x.py"]["skipped"] == {
        "type": "not-a-regular-file",
        "message": "a FIFO (named pipe); only regular files are read"}
    # the read is non-blocking too (a file swapped for a FIFO after the walk)
    with pytest.raises(NotRead) as err:
        read_source(fifo, 2_000_000)
    assert err.value.type == "not-a-regular-file"


def test_sockets_and_devices_are_skipped(tmp_path: Path) -> None:
    sock_dir = Path(tempfile.mkdtemp(prefix="wm-", dir="/tmp"))  # AF_UNIX paths are short
    try:
        with socket.socket(socket.AF_UNIX) as srv:
            srv.bind(str(sock_dir / "s.py"))
            (sock_dir / "dev.py").symlink_to("/dev/null")
            (sock_dir / "gone.py").symlink_to(sock_dir / "nowhere.py")
            result = _scan(str(sock_dir))
        assert result.exit_code == 0, result.output
        got = {name: e["skipped"] for name, e in _entries(result).items()}
        assert got == {
            "s.py": {"type": "not-a-regular-file",
                     "message": "a socket; only regular files are read"},
            "dev.py": {"type": "not-a-regular-file",
                       "message": "a device; only regular files are read"},
            "gone.py": {"type": "not-a-regular-file", "message": "a symbolic link to nothing"},
        }
    finally:
        shutil.rmtree(sock_dir)


@pytest.fixture
def locked_tree() -> Iterator[Path]:
    """A tree with one directory nobody may list (outside pytest's root-only tmp dir)."""
    root = Path(tempfile.mkdtemp(prefix="wm-walk-", dir="/tmp"))
    root.chmod(0o755)
    (root / "ok").mkdir(mode=0o755)
    (root / "ok" / "a.py").write_text(ONPREM)
    (root / "ok" / "a.py").chmod(0o644)
    (root / "locked").mkdir()
    (root / "locked" / "b.py").write_text(ONPREM)
    (root / "locked").chmod(0)
    try:
        yield root
    finally:
        (root / "locked").chmod(0o755)
        shutil.rmtree(root)


def test_an_unlistable_directory_is_an_error(locked_tree: Path) -> None:
    cmd = [sys.executable, "-m", "shim.cli", "scan", "--format", "json", "."]
    if os.geteuid() == 0:  # root lists anything: drop the capabilities that allow it
        caps = "-dac_override,-dac_read_search"
        cmd = ["setpriv", f"--inh-caps={caps}", f"--bounding-set={caps}", "--", *cmd]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=120, check=False,
                          cwd=locked_tree)
    assert proc.returncode == 2, proc.stderr
    doc = json.loads(proc.stdout)
    by_path = {f["path"]: f for f in doc["files"]}
    locked = by_path["locked"]
    assert locked["error"]["type"] == "unreadable"
    assert locked["error"]["message"] == "cannot list the directory: Permission denied"
    assert by_path["ok/a.py"]["findings"]
    assert doc["summary"]["errors"] == 1 and doc["summary"]["files_scanned"] == 1


def test_max_file_size(tmp_path: Path) -> None:
    big = ONPREM + "\n# padding " + "x" * 2_400_000 + "\n"  # 2.4 MB, quick to parse
    (tmp_path / "big.py").write_text(big)
    (tmp_path / "small.py").write_text(ONPREM)
    default = _scan(str(tmp_path))
    assert default.exit_code == 0
    entries = _entries(default)
    assert entries["big.py"]["skipped"] == {
        "type": "too-large",
        "message": "2.4 MB is over the --max-file-size limit (2.0 MB)"}
    assert entries["small.py"]["findings"]
    assert json.loads(default.stdout)["summary"]["files_scanned"] == 1
    text = CliRunner().invoke(main, ["scan", str(tmp_path), "--max-file-size", "1k"])
    assert "big.py: skipped: too-large: 2.4 MB is over the --max-file-size limit (1 kB)" \
        in text.stdout
    assert "small.py: skipped: too-large" not in text.stdout
    assert "1 skipped." in text.stdout
    unlimited = _entries(_scan(str(tmp_path), "--max-file-size", "0"))
    assert unlimited["big.py"]["findings"] == unlimited["small.py"]["findings"]
    assert _scan(str(tmp_path), "--max-file-size", "lots").exit_code == 2
    rewrite = CliRunner().invoke(main, ["rewrite", str(tmp_path), "--target", "360dialog",
                                        "--max-file-size", "1k"])
    assert rewrite.exit_code == 0
    assert "big.py: skipped: too-large" in rewrite.stderr


def test_parse_size() -> None:
    assert [parse_size(s) for s in ("2MB", "500k", "1500000", "0", "1.5 M", "3G")] == [
        2_000_000, 500_000, 1_500_000, 0, 1_500_000, 3_000_000_000]
    for bad in ("", "-1", "two"):
        with pytest.raises(ValueError):
            parse_size(bad)


def test_undecodable_file_is_a_decode_error_with_the_offset(tmp_path: Path) -> None:
    latin = ONPREM.replace("def send", "# café\ndef send").encode("latin-1")
    (tmp_path / "latin.py").write_bytes(latin)
    (tmp_path / "declared.py").write_bytes(b"# -*- coding: latin-1 -*-\n" + latin)
    result = _scan(str(tmp_path))
    assert result.exit_code == 2
    entries = _entries(result)
    offset = latin.index(b"\xe9")
    assert entries["latin.py"]["error"] == {
        "type": "decode-error",
        "message": f"byte 0xe9 at offset {offset} is not valid utf-8 and no coding line "
                   "declares another encoding",
        "line": 6, "column": 6}
    assert "error" not in entries["declared.py"]
    assert entries["declared.py"]["findings"]


def test_gitignore_negation_and_info_exclude(tmp_path: Path) -> None:
    (tmp_path / ".git" / "info").mkdir(parents=True)
    (tmp_path / ".git" / "info" / "exclude").write_text("scratch/\n")
    (tmp_path / ".gitignore").write_text("gen_*.py\n!gen_keep.py\n")
    for name in ("gen_a.py", "gen_keep.py", "scratch/s.py", "app.py"):
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_text(ONPREM)
    assert sorted(_entries(_scan(str(tmp_path)))) == ["app.py", "gen_keep.py"]


def test_our_own_packages_are_never_reported(tmp_path: Path) -> None:
    own = Path(shim.__file__).parent
    site = tmp_path / "lib" / "python3" / "site-packages"
    shutil.copytree(own, site / "shim", ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copytree(own, tmp_path / "vendor" / "shim",
                    ignore=shutil.ignore_patterns("__pycache__"))
    (tmp_path / "app.py").write_text(ONPREM)
    # a user's own package called shim is still scanned
    (tmp_path / "theirs" / "shim").mkdir(parents=True)
    (tmp_path / "theirs" / "shim" / "__init__.py").write_text(ONPREM)
    found = _scan(str(tmp_path))
    assert sorted(Path(f["path"]).relative_to(tmp_path).as_posix()
                  for f in json.loads(found.stdout)["files"]) == [
        "app.py", "theirs/shim/__init__.py"]
    for tree in (own, site, site / "shim", own / "mapping"):
        doc = json.loads(_scan(str(tree)).stdout)
        assert doc["summary"]["findings"] == 0, tree
    explicit = _scan(str(own / "mapping" / "hosts.py"))
    assert explicit.exit_code == 0
    assert [f.get("skipped") for f in json.loads(explicit.stdout)["files"]] == [
        {"type": "own-package", "message": "part of waba-migrate itself"}]
