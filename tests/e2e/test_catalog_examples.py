"""The catalogue examples (Transformer classifier, U-Net) run as scripts at reduced size: they train,
beat the trivial baseline, and their ONNX export run by plain onnxruntime equals predict()."""
import os
import re
import subprocess
import sys
from pathlib import Path

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"


def _run(name, *args):
    env = {**os.environ, "PYTHONWARNINGS": "default", "OMP_NUM_THREADS": os.environ.get("OMP_NUM_THREADS", "2")}
    proc = subprocess.run([sys.executable, str(EXAMPLES / name), *args], capture_output=True, text=True,
                          timeout=300, cwd=EXAMPLES.parent, env=env)
    output = proc.stdout + proc.stderr
    assert proc.returncode == 0, f"{name} exited {proc.returncode}:\n{output[-4000:]}"
    return output


def _number(pattern, output):
    match = re.search(pattern, output)
    assert match, f"missing {pattern!r} in:\n{output[-4000:]}"
    return [float(g) for g in match.groups()]


def test_transformer_classifier_learns_and_exports():
    output = _run("transformer_classifier.py", "--small")
    first, last = _number(r"training loss: first epoch ([\d.]+), last epoch ([\d.]+)", output)
    assert last < first
    accuracy, majority = _number(r"test accuracy ([\d.]+) \(always guessing the majority class: ([\d.]+)\)", output)
    assert accuracy > majority + 0.05
    assert "ONNX export run by plain onnxruntime matches predict: True" in output


def test_unet_segments_and_exports():
    output = _run("unet.py", "--small")
    first, last = _number(r"training loss: first epoch ([\d.]+), last epoch ([\d.]+)", output)
    assert last < first
    iou, baseline = _number(r"test mean IoU ([\d.]+) \(all background: ([\d.]+)\)", output)
    assert iou > baseline
    assert "the metric equals numpy's mean IoU: True" in output
    assert "ONNX export run by plain onnxruntime matches predict: True" in output
