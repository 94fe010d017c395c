"""Regenerate docs/status-page.png: the first screen of a certified ring's status
page on a 390 x 844 phone, as headless chromium shows it.

It runs the browser test of the active ring with PROVLEDGER_SCREENSHOT set, so
the picture is of exactly the page that test checks. Needs Debian's chromium
and chromium-driver (sudo apt-get install chromium chromium-driver).

    .venv/bin/python docs/make_screenshot.py
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "docs" / "status-page.png"


def main() -> int:
    OUT.unlink(missing_ok=True)
    env = {**os.environ, "PROVLEDGER_SCREENSHOT": str(OUT)}
    test = "tests/test_status_page_browser.py::test_a_phone_shows_the_verdict_first[ring]"
    done = subprocess.run([sys.executable, "-m", "pytest", "-q", "-rs", test], cwd=ROOT,
                          env=env, check=False)
    if done.returncode != 0 or not OUT.exists():
        print(f"no screenshot written (pytest exit {done.returncode})", file=sys.stderr)
        return 1
    print(f"wrote {OUT.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
