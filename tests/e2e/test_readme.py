"""Every ```python block of the README runs as written (in order, sharing one namespace, in a scratch
folder), and `fgc demo --quick` passes, shows learning and leaves no files behind."""
from __future__ import annotations

import os
import re
import subprocess
import sys
import tempfile
from pathlib import Path

README = Path(__file__).resolve().parents[2] / "README.md"


def test_readme_python_blocks_run_as_written(tmp_path, monkeypatch):
    blocks = re.findall(r"```python\n(.*?)```", README.read_text(), re.S)
    assert len(blocks) >= 2
    monkeypatch.chdir(tmp_path)
    namespace: dict = {}
    for i, block in enumerate(blocks):
        try:
            exec(compile(block, f"README.md python block {i}", "exec"), namespace)
        except Exception as e:  # noqa: BLE001 - say which block failed
            raise AssertionError(f"README python block {i} failed: {type(e).__name__}: {e}\n{block}") from e


def test_demo_shows_learning_and_cleans_up():
    before = set(os.listdir(tempfile.gettempdir()))
    done = subprocess.run([sys.executable, "-m", "fgc", "demo", "--quick"], capture_output=True, text=True,
                          timeout=600, env={**os.environ, "TMPDIR": tempfile.gettempdir()},
                          cwd=tempfile.gettempdir())   # outside the checkout, so the installed fgc is imported
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    assert "demo passed" in done.stdout
    accuracies = re.findall(r"accuracy: ([0-9.]+) -> ([0-9.]+)", done.stdout)
    assert len(accuracies) == 2 and all(float(b) > float(a) + 0.1 for a, b in accuracies)
    left = {n for n in set(os.listdir(tempfile.gettempdir())) - before if n.startswith("fgc-demo-")}
    assert not left, f"the demo left {left} behind"
