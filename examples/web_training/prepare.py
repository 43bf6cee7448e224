"""The Python half of the web-training example: build and compile a small model, export its train
step, and write everything the Node.js half (train.mjs) needs as plain files.

    python examples/web_training/prepare.py                       # MLP classifier into ./data
    python examples/web_training/prepare.py --model conv1d --out /tmp/conv --samples 64

Written to --out:
    train_step.onnx      the step, from model.export(path, training=True)
    manifest.json        names, shapes, dtypes and files of every tensor below, the step's layout
                         (read from the exported file's doc string), the learning rate of each step,
                         and fgc's own train_on_batch losses for the same batches (the reference)
    *.bin                raw little-endian, row-major tensors: float32, or int64 for integer ids

The tensors are the initial weights in Keras layout (get_weights order), the feeds of each batch
(model inputs, y/<output>, sw/<output>: exactly what fgc's fit feeds its own step) and, as a
reference, the weights fgc holds after training on those batches.
"""
from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np
import onnx

import fgc
from fgc import layers
from fgc.training.loop import make_batches   # fgc's own feed builder: the files hold what fit feeds

NUM_CLASSES = 4
MODEL_KINDS = ("mlp", "embedding", "conv1d", "lstm")


def build_model(kind: str) -> fgc.Model:
    """The worked example is the MLP; the other two check which ops onnxruntime-web trains."""
    if kind == "mlp":
        x = fgc.Input((12,), name="features")
        h = layers.Dense(32, activation="relu", name="hidden1")(x)
        h = layers.Dense(16, activation="relu", name="hidden2")(h)
    elif kind == "embedding":
        x = fgc.Input((6,), dtype="int64", name="tokens")
        h = layers.Embedding(20, 8, name="embed")(x)
        h = layers.GlobalAveragePooling1D(name="pool")(h)
    elif kind == "conv1d":
        x = fgc.Input((10, 3), name="signal")
        h = layers.Conv1D(8, 3, activation="relu", name="conv")(x)
        h = layers.GlobalMaxPooling1D(name="pool")(h)
    elif kind == "lstm":   # trains through ONNX Scan loops, forward and backward
        x = fgc.Input((5, 3), name="sequence")
        h = layers.LSTM(6, name="lstm")(x)
    else:
        raise ValueError(f"model kind must be one of {', '.join(MODEL_KINDS)}; got {kind!r}")
    return fgc.Model(x, layers.Dense(NUM_CLASSES, activation="softmax", name="probs")(h), name=f"web_{kind}")


def make_data(model: fgc.Model, samples: int, rng: np.random.Generator):
    """A learnable toy task: the class is the argmax of a fixed random projection of the input."""
    shape = (samples,) + tuple(model.inputs[0].shape[1:])
    if model.inputs[0].dtype.startswith("int"):
        x = rng.integers(0, 20, shape).astype(np.int64)
        scores = np.eye(20)[x].sum(axis=1) @ rng.standard_normal((20, NUM_CLASSES))
    else:
        x = rng.standard_normal(shape).astype(np.float32)
        scores = x.reshape(samples, -1) @ rng.standard_normal((x[0].size, NUM_CLASSES))
    return x, np.eye(NUM_CLASSES, dtype=np.float32)[scores.argmax(axis=1)]


class TensorWriter:
    """Writes each array as a raw little-endian .bin and returns its manifest entry."""

    DTYPES = {np.dtype(np.float32): "float32", np.dtype(np.int64): "int64"}

    def __init__(self, folder: Path):
        self.folder = folder

    def __call__(self, filename: str, array: np.ndarray) -> dict:
        array = np.asarray(array)
        if array.dtype not in self.DTYPES:
            raise TypeError(f"{filename}: only float32 and int64 tensors are written, got {array.dtype}")
        little = array.astype(array.dtype.newbyteorder("<"), copy=False)
        (self.folder / filename).write_bytes(np.ascontiguousarray(little).tobytes())
        return {"file": filename, "dtype": self.DTYPES[array.dtype], "shape": list(array.shape)}


def step_layout(proto: onnx.ModelProto) -> dict:
    """The JSON layout fgc puts at the end of the step's doc string (see the README's protocol)."""
    doc = proto.doc_string
    return json.loads(doc[doc.index("{"):])


def graph_inputs(proto: onnx.ModelProto) -> dict:
    """Every input of the step with its element type and shape (a symbolic dim as its name)."""
    names = {onnx.TensorProto.FLOAT: "float32", onnx.TensorProto.INT64: "int64"}
    found = {}
    for value in proto.graph.input:
        tensor = value.type.tensor_type
        dims = [d.dim_param if d.HasField("dim_param") else d.dim_value for d in tensor.shape.dim]
        found[value.name] = {"dtype": names.get(tensor.elem_type, str(tensor.elem_type)), "shape": dims}
    return found


def prepare(kind: str, out: Path, samples: int, batch_size: int, epochs: int, seed: int) -> dict:
    out.mkdir(parents=True, exist_ok=True)
    fgc.utils.set_random_seed(seed)
    model = build_model(kind)
    model.compile(fgc.optimizers.Adam(0.01), "categorical_crossentropy", metrics=["accuracy"])
    x, y = make_data(model, samples, np.random.default_rng(seed))
    write = TensorWriter(out)

    # export before any training: the step file plus the state it starts from
    model.export(str(out / "train_step.onnx"), training=True)
    proto = onnx.load(str(out / "train_step.onnx"))
    names = [v.path for v in model.weights]
    initial = [write(f"weight{i}.bin", w) for i, w in enumerate(model.get_weights())]

    batches = []
    for b, (feeds, _) in enumerate(make_batches(model, x, y).chunks(batch_size)):
        batches.append({name: write(f"batch{b}_{i}.bin", a) for i, (name, a) in enumerate(feeds.items())})

    # the reference: fgc trains on the same batches, in the same order, from the same state
    losses, rates = [], []
    for _ in range(epochs):
        for start in range(0, samples, batch_size):
            rates.append(model.optimizer.current_lr())
            result = model.train_on_batch(x[start:start + batch_size], y[start:start + batch_size])
            losses.append(float(result[0] if isinstance(result, list) else result))
    final = [write(f"fgc_final{i}.bin", w) for i, w in enumerate(model.get_weights())]

    manifest = {
        "model": "train_step.onnx",
        "model_kind": kind,
        "layout": step_layout(proto),
        "inputs": graph_inputs(proto),
        "weights": [dict(name=n, **entry) for n, entry in zip(names, initial)],
        "batches": batches,
        "epochs": epochs,
        "learning_rates": rates,
        "fgc_losses": losses,
        "fgc_final_weights": [dict(name=n, **entry) for n, entry in zip(names, final)],
    }
    (out / "manifest.json").write_text(json.dumps(manifest, indent=1))
    return manifest


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="mlp", choices=MODEL_KINDS)
    parser.add_argument("--out", type=Path, default=Path(__file__).parent / "data")
    parser.add_argument("--samples", type=int, default=256)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    manifest = prepare(args.model, args.out, args.samples, args.batch_size, args.epochs, args.seed)
    print(f"wrote {args.out}/: {len(manifest['batches'])} batches x {args.epochs} epochs; fgc's losses:")
    print(" ".join(f"{v:.6f}" for v in manifest["fgc_losses"]))


if __name__ == "__main__":
    main()
