"""The fgc command (as `python -m fgc`): convert a Keras-written .keras file to ONNX and to a train step,
print its summary, --version and --help, and refuse a bad file with exit code 1 and the reason."""
from __future__ import annotations

import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np
import onnxruntime as ort

import fgc

FIXTURES = Path(__file__).resolve().parent / "fixtures"


def _fgc(*args, timeout=300):
    # run outside the checkout: there `python -m` would import the source folder, not the installed package
    return subprocess.run([sys.executable, "-m", "fgc", *map(str, args)], capture_output=True, text=True,
                          timeout=timeout, cwd=tempfile.gettempdir())


def test_convert_a_keras_file_to_onnx_that_predicts_keras_numbers(tmp_path):
    done = _fgc("convert", FIXTURES / "keras_small.keras", tmp_path / "m.onnx")
    assert done.returncode == 0, done.stderr
    assert "checked in onnxruntime" in done.stdout
    with np.load(FIXTURES / "keras_small_io.npz") as f:
        io = {k: f[k] for k in f.files}
    sess = ort.InferenceSession(str(tmp_path / "m.onnx"), providers=["CPUExecutionProvider"])
    feeds = {"vec": io["vec"], "ids": io["ids"].astype(np.int64), "image": io["image"]}
    score, label = sess.run(None, feeds)
    np.testing.assert_allclose(score, io["score"], rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(label, io["label"], rtol=1e-5, atol=1e-5)


def test_convert_training_writes_the_train_step(tmp_path):
    done = _fgc("convert", "--training", FIXTURES / "keras_small.keras", tmp_path / "step.onnx")
    assert done.returncode == 0, done.stderr
    names = {i.name for i in ort.InferenceSession(str(tmp_path / "step.onnx"),
                                                  providers=["CPUExecutionProvider"]).get_inputs()}
    assert {"lr", "step", "y/score", "sw/label"} <= names


def test_summary_version_help_and_refusals(tmp_path):
    summary = _fgc("summary", FIXTURES / "keras_small.keras")
    assert summary.returncode == 0 and "shared (Dense)" in summary.stdout and "Total params" in summary.stdout
    assert _fgc("--version").stdout.strip() == f"fgc {fgc.__version__}"
    help_text = _fgc("--help").stdout
    assert all(word in help_text for word in ("demo", "convert", "summary"))
    bad = tmp_path / "bad.keras"
    bad.write_text("not a model")
    done = _fgc("convert", bad, tmp_path / "x.onnx")
    assert done.returncode == 1 and "bad.keras" in done.stderr and "not a .keras file" in done.stderr
    assert not (tmp_path / "x.onnx").exists()
