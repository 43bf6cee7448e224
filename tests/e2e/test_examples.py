"""Every seed example runs as a script at its small default sizes and prints what it is about."""
import os
import subprocess
import sys
from pathlib import Path

import pytest

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"

# example file -> lines (substrings) its output must contain
EXPECTED = {
    "seed_000_mlp.py": [
        "Sequential and functional models agree: 3466 parameters each",
        "Epoch 2/2",
        "history keys: ['loss']",
        "evaluate loss:",
    ],
    "seed_000_qa_model.py": [
        "fgc warned about the seed's answers: every target row for output 'dense' is all zeros",
        "to_categorical(ids, 500)",
        "list inputs, history keys: ['acc', 'loss']",
        "dict inputs, history keys: ['acc', 'loss']",
    ],
    "seed_000_siamese_lstm.py": [
        "shared LSTM: 3 weight arrays, 20608 parameters, 2 nodes; model parameters: 20673",
        "history keys: ['accuracy', 'loss']",
        "both branches encode identically",
    ],
    "seed_000_three_heads.py": [
        "list form, history keys: ['age_loss', 'gender_loss', 'income_loss', 'loss']",
        "dict form, history keys: ['age_loss', 'gender_loss', 'income_loss', 'loss']",
    ],
    "seed_001_lstm_heads.py": [
        "[stacked LSTM] raised ValueError:",
        "Layer 'lstm_1' (LSTM), call 0: LSTM expects a 3-D input (batch, timesteps, features), got shape (None, 256)",
        "give the layer before it return_sequences=True",
        "[Dense(1, softmax)] UserWarning: Dense layer 'income' has 1 unit and a softmax activation",
        "history keys: ['age_loss', 'gender_loss', 'income_loss', 'loss']",
    ],
    "seed_002_graph_disconnected.py": [
        "[error 1] Model(unrelated_input, output_tensor) raised ValueError:",
        "Graph disconnected: the output needs Input 'input_layer_1' (shape (None, 64))",
        "[error 2] fit with the list of inputs raised ValueError:",
        "[error 2] fit with the dict of inputs raised ValueError:",
        "Embedding layer 'embedding' (input_dim=64) got id",
        "the arguments look swapped. The signature is Embedding(input_dim, output_dim): use Embedding(10000, 64)",
        "corrected QA model trains: history keys ['acc', 'loss']",
    ],
    "seed_003_headline_model.py": [
        "list form, history keys: ['aux_output_loss', 'loss', 'main_output_loss']",
        "dict form, history keys: ['aux_output_loss', 'loss', 'main_output_loss']",
        "+ 0.2 * aux_output_loss",
        # the Keras 1 spellings work, each with a DeprecationWarning naming the Keras 3 one
        "merge(mode='concat') is the Keras 1 spelling",
        "Model(input=..., output=...) is the Keras 1 spelling",
        "fit(nb_epoch=...) is the Keras 1 spelling",
    ],
    "seed_003_inception.py": [
        "seed 003 module: (2, 3, 32, 32) -> (2, 192, 32, 32)",
        "seeds 000/004 as printed:",
        "seeds 000/004 module: (2, 32, 32, 64) -> (2, 16, 16, 512)",
    ],
    "seed_000_residual.py": [
        "identity residual: (32, 16, 16, 128) -> (32, 16, 16, 128)",
        "Epoch 2/2",
        "linear residual: (2, 16, 16, 64) -> (2, 8, 8, 128)",
        "Keras 1 residual: (1, 3, 32, 32) -> (1, 3, 32, 32)",
    ],
    "seed_003_shared_vision.py": [
        "VQA answer distribution: (2, 50)",
        "video QA answer distribution: (8, 50)",
        "trained through TimeDistributed: True",
    ],
    "seed_000_xception_siamese.py": [
        "Xception base weights: 20,861,480; two-camera model weights: 20,861,480",
        "merged features: (1, 3, 3, 4096); identical cameras give identical halves: True",
    ],
    "seed_004_typos.py": [
        "[seed 004] loss='categorical_cross_entropy' raised ValueError:",
        "unknown loss 'categorical_cross_entropy'; did you mean 'categorical_crossentropy'?",
        "[seed 001] compile(optmizer=...) raised TypeError:",
        "compile() got an unexpected keyword argument 'optmizer'; did you mean 'optimizer'?",
        "(unknown: ['incom']) (missing: ['income'])",
        "corrected compile trains: history keys ['age_loss', 'gender_loss', 'income_loss', 'loss']",
    ],
}


def _run(name):
    env = {**os.environ, "PYTHONWARNINGS": "default", "OMP_NUM_THREADS": os.environ.get("OMP_NUM_THREADS", "2")}
    return subprocess.run([sys.executable, str(EXAMPLES / name)], capture_output=True, text=True, timeout=240,
                          cwd=EXAMPLES.parent, env=env)


def test_every_seed_example_is_listed_and_exists():
    assert set(EXPECTED) == {p.name for p in EXAMPLES.glob("seed_*.py")}


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_example_runs(name):
    proc = _run(name)
    output = proc.stdout + proc.stderr
    assert proc.returncode == 0, f"{name} exited {proc.returncode}:\n{output[-4000:]}"
    for line in EXPECTED[name]:
        assert line in output, f"{name}: missing {line!r} in:\n{output[-4000:]}"

