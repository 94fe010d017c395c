"""What a newcomer reads first: the README walkthrough's key files, and the LICENSE."""

from __future__ import annotations

import re
import subprocess
import sys
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_the_readme_walkthrough_creates_every_key_file_before_using_it() -> None:
    readme = (ROOT / "README.md").read_text()
    blocks = re.findall(r"^```sh\n(.*?)^```", readme, re.MULTILINE | re.DOTALL)
    created = set()
    used_any = False
    for line in "\n".join(blocks).splitlines():
        command = line.split("#", 1)[0]
        if re.search(r"\bprovledger (--db \S+ )?init\b", command):
            created |= {"rings-keys/root.key", "rings-keys/log.key"}
        if made := re.search(r"\bprovledger key new (\S+)", command):
            created |= {f"{made.group(1)}.key", f"{made.group(1)}.pub"}
        for used in re.findall(r"([\w./-]+\.(?:key|pub))\b", command):
            used_any = True
            assert used in created, f"README uses {used} before creating it: {line.strip()}"
    assert used_any


def test_the_license_is_the_one_pyproject_names() -> None:
    meta = tomllib.loads((ROOT / "pyproject.toml").read_text())
    assert meta["project"]["license"] == "Apache-2.0"
    text = (ROOT / "LICENSE").read_text()
    assert text.split()[:5] == ["Apache", "License", "Version", "2.0,", "January"]
    assert "END OF TERMS AND CONDITIONS" in text
    assert len(text.splitlines()) >= 200


def test_the_readme_library_example_runs(tmp_path: Path) -> None:
    """The library section's example, as printed, with its committed text."""
    readme = (ROOT / "README.md").read_text()
    section = readme[readme.index("## A developer with the library"):]
    code = re.search(r"^```python\n(.*?)^```", section, re.MULTILINE | re.DOTALL)
    assert code is not None
    done = subprocess.run([sys.executable, "-c", code.group(1)], cwd=tmp_path,
                          capture_output=True, text=True, timeout=60, check=False)
    assert done.returncode == 0, done.stdout + done.stderr
    assert re.search(r"^2 [0-9a-f]{64} True$", done.stdout, re.MULTILINE), done.stdout
    assert "inscription='C & D 2026'" in done.stdout  # the ledger's own view fills it in
    assert b"C & D 2026" not in (tmp_path / "shop.db").read_bytes()
    assert b"C & D 2026" in (tmp_path / "shop.disclosures.db").read_bytes()
