"""The README's example runs as printed."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import concert

README = Path(__file__).resolve().parents[1] / "README.md"


def example_code() -> str:
    text = README.read_text()
    block = re.search(r"<!-- example:begin -->\n```python\n(.*?)```\n<!-- example:end -->",
                      text, re.S)
    assert block, "README example block not found"
    return block.group(1)


def test_readme_example_runs_twice(tmp_path: Path) -> None:
    env = dict(os.environ)
    env["PYTHONPATH"] = str(README.parent)
    env["CONCERT_LIBRARY"] = os.path.abspath(concert.library_path())
    runs = []
    for _ in range(2):   # the second run finds the catalog loaded and takes the next seat
        proc = subprocess.run([sys.executable, "-c", example_code()], cwd=tmp_path, env=env,
                              capture_output=True, text=True, timeout=60)
        assert proc.returncode == 0, proc.stderr
        runs.append(proc.stdout)
    assert "50 seats free, taking 1 (R)" in runs[0]
    assert "paid 80000 points, balance 120000" in runs[0]
    assert "49 seats free, taking 2 (R)" in runs[1]
    assert "paid 80000 points, balance 40000" in runs[1]
    assert "ledger: [('PAYMENT', -80000), ('PAYMENT', -80000), ('CHARGE', 200000)]" in runs[1]
