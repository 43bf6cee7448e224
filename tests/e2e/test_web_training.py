"""examples/web_training: fgc's exported train step driven by onnxruntime-web (WASM) in Node.js.

Skips when node or npm is missing, or when `npm ci` cannot install the pinned onnxruntime-web (no
network). The install stays in the example's git-ignored node_modules, so reruns skip it.
"""
import importlib.util
import json
import re
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import onnx
import pytest

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "web_training"
STEPS = 6            # 48 samples in batches of 16, two epochs
LOSS_LINE = re.compile(r"^step (\d+) loss (\S+)", re.M)

pytestmark = pytest.mark.skipif(shutil.which("node") is None or shutil.which("npm") is None,
                                reason="node and npm are needed to run the onnxruntime-web example")


def _pinned_version() -> str:
    return json.loads((EXAMPLE / "package.json").read_text())["dependencies"]["onnxruntime-web"]


@pytest.fixture(scope="module")
def node_modules():
    installed = EXAMPLE / "node_modules" / "onnxruntime-web" / "package.json"
    if installed.exists() and json.loads(installed.read_text())["version"] == _pinned_version():
        return
    try:
        proc = subprocess.run(["npm", "ci", "--no-audit", "--no-fund"], cwd=EXAMPLE, capture_output=True,
                              text=True, timeout=600)
    except subprocess.TimeoutExpired:
        pytest.skip("npm ci did not finish in 10 minutes")
    if proc.returncode != 0:
        pytest.skip(f"npm ci could not install onnxruntime-web (offline?): {proc.stderr.strip()[-300:]}")


def _run(args, what, timeout=300):
    proc = subprocess.run(args, cwd=EXAMPLE, capture_output=True, text=True, timeout=timeout)
    assert proc.returncode == 0, f"{what} failed:\n{proc.stdout[-2000:]}\n{proc.stderr[-2000:]}"
    return proc.stdout


@pytest.fixture(scope="module")
def prepared(tmp_path_factory):
    """prepare.py's output folder per model kind, written once per test module."""
    folders = {}

    def get(kind):
        if kind not in folders:
            out = tmp_path_factory.mktemp(kind)
            _run([sys.executable, "prepare.py", "--model", kind, "--out", str(out), "--samples", "48",
                  "--batch-size", "16", "--epochs", "2", "--seed", "1"], "prepare.py")
            folders[kind] = out
        return folders[kind]

    return get


def _train(data, *options):
    """Runs train.mjs; returns {step: loss} as printed."""
    out = _run(["node", "train.mjs", str(data), *map(str, options)], "train.mjs")
    return {int(step): float(loss) for step, loss in LOSS_LINE.findall(out)}


@pytest.fixture(scope="module")
def trained(node_modules, prepared, tmp_path_factory):
    """One uninterrupted train.mjs run over all prepared steps per model kind: (losses, checkpoint)."""
    runs = {}

    def get(kind):
        if kind not in runs:
            checkpoint = tmp_path_factory.mktemp(f"{kind}_state") / "state"
            runs[kind] = _train(prepared(kind), "--save", checkpoint), checkpoint
        return runs[kind]

    return get


def _manifest(data):
    return json.loads((data / "manifest.json").read_text())


def _tensor(data, entry):
    return np.fromfile(data / entry["file"], np.dtype(entry["dtype"]).newbyteorder("<")).reshape(entry["shape"])


def _restore_module():
    spec = importlib.util.spec_from_file_location("web_training_restore", EXAMPLE / "restore.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.parametrize("kind", ["mlp", "embedding", "conv1d", "lstm"])
def test_node_losses_equal_fgc_train_on_batch(prepared, trained, kind):
    data = prepared(kind)
    losses, _ = trained(kind)
    assert sorted(losses) == list(range(STEPS))
    np.testing.assert_allclose([losses[s] for s in range(STEPS)], _manifest(data)["fgc_losses"], rtol=1e-5)


def _softmax_crossentropy(logits, onehot):
    shifted = logits - logits.max(axis=1, keepdims=True)
    log_probs = shifted - np.log(np.exp(shifted).sum(axis=1, keepdims=True))
    return float(-(onehot * np.clip(log_probs, np.log(1e-7), np.log(1 - 1e-7))).sum(axis=1).mean())


def test_first_node_loss_is_the_crossentropy_of_the_initial_weights(prepared, trained):
    # independent of fgc's runtime: a numpy forward pass of the MLP from the exported initial weights
    data = prepared("mlp")
    manifest = _manifest(data)
    w = [_tensor(data, e).astype(np.float64) for e in manifest["weights"]]
    batch = {name: _tensor(data, e).astype(np.float64) for name, e in manifest["batches"][0].items()}
    h = np.maximum(batch["features"] @ w[0] + w[1], 0)
    h = np.maximum(h @ w[2] + w[3], 0)
    expected = _softmax_crossentropy(h @ w[4] + w[5], batch["y/probs"])
    assert trained("mlp")[0][0] == pytest.approx(expected, rel=1e-5)


def test_resuming_from_the_saved_state_continues_the_same_run(prepared, trained, tmp_path):
    data = prepared("mlp")
    whole, whole_checkpoint = trained("mlp")
    first = _train(data, "--steps", STEPS // 2, "--save", tmp_path / "half")
    rest = _train(data, "--resume", tmp_path / "half", "--save", tmp_path / "resumed")
    assert sorted(first) == list(range(STEPS // 2)) and sorted(rest) == list(range(STEPS // 2, STEPS))
    assert {**first, **rest} == whole          # same WASM kernels, same state: the same numbers
    restore = _restore_module()
    resumed, resumed_steps = restore.read_checkpoint(tmp_path / "resumed")
    straight, straight_steps = restore.read_checkpoint(whole_checkpoint)
    assert resumed_steps == straight_steps == STEPS
    assert resumed.keys() == straight.keys() == {"params", "opt/momentum/params", "opt/velocity/params"}
    for name in straight:
        np.testing.assert_array_equal(resumed[name], straight[name], err_msg=name)


@pytest.mark.parametrize("kind", ["mlp", "conv1d"])   # conv1d: a kernel stored transposed in the step
def test_saved_weights_come_back_to_fgc_as_its_trained_weights(prepared, trained, kind):
    data = prepared(kind)
    manifest = _manifest(data)
    restore = _restore_module()
    state, _ = restore.read_checkpoint(trained(kind)[1])
    got = restore.keras_weights(data, manifest, state)
    for entry, weight in zip(manifest["fgc_final_weights"], got):
        np.testing.assert_allclose(weight, _tensor(data, entry), rtol=1e-5, atol=1e-6, err_msg=entry["name"])


def test_restore_script_exports_an_inference_model_with_those_weights(prepared, trained):
    data = prepared("mlp")
    _run([sys.executable, "restore.py", "--data", str(data), "--checkpoint", str(trained("mlp")[1])], "restore.py")
    initializers = {i.name: onnx.numpy_helper.to_array(i) for i in onnx.load(data / "trained.onnx").graph.initializer}
    for entry in _manifest(data)["fgc_final_weights"]:
        np.testing.assert_allclose(initializers[entry["name"]], _tensor(data, entry), rtol=1e-5, atol=1e-6)


def test_a_checkpoint_of_another_model_is_refused_by_name(prepared, trained):
    proc = subprocess.run(["node", "train.mjs", str(prepared("mlp")), "--resume", str(trained("conv1d")[1])],
                          cwd=EXAMPLE, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 2
    assert re.search(r"tensor 'params' is \[116\] float32, but the step's input of that name is \[1012\] float32",
                     proc.stderr), proc.stderr
