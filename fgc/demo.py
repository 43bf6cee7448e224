"""``fgc demo``: the seed 000 MLP from model definition to a deployable ONNX file, then training."""
from __future__ import annotations

import os
import tempfile

import numpy as np


def _section(title: str) -> None:
    print(f"\n=== {title} " + "=" * max(0, 70 - len(title)))


def build_mlp_models():
    from fgc import Input, Model, Sequential, layers

    seq = Sequential()
    seq.add(layers.Dense(32, activation="relu", input_shape=(64,)))
    seq.add(layers.Dense(32, activation="relu"))
    seq.add(layers.Dense(10, activation="softmax"))

    inputs = Input(shape=(64,))
    x = layers.Dense(32, activation="relu")(inputs)
    x = layers.Dense(32, activation="relu")(x)
    outputs = layers.Dense(10, activation="softmax")(x)
    return seq, Model(inputs, outputs)


def run_demo(out_dir: str | None = None, quick: bool = False) -> int:
    import onnxruntime as ort

    import fgc

    fgc.utils.set_random_seed(0)
    print(f"fgc {fgc.__version__} on {fgc.get_device()} (onnxruntime {ort.__version__})")
    seq, model = build_mlp_models()

    _section("Sequential model")
    seq.summary()
    _section("Functional model")
    model.summary()
    model.set_weights(seq.get_weights())

    _section("IR after the inference pipeline")
    print(model.ir())

    _section("Export and check with plain onnxruntime")
    out_dir = out_dir or tempfile.mkdtemp(prefix="fgc-demo-")
    os.makedirs(out_dir, exist_ok=True)
    path = os.path.join(out_dir, "mlp.onnx")
    model.export(path)
    x = np.random.default_rng(0).random((256, 64))
    sess = ort.InferenceSession(path, providers=["CPUExecutionProvider"])
    plain = sess.run(None, {sess.get_inputs()[0].name: x.astype(np.float32)})[0]
    ours = model.predict(x, batch_size=256)
    same_as_seq = np.allclose(seq.predict(x), ours, atol=1e-6)
    diff = float(np.max(np.abs(plain - ours)))
    print(f"wrote {path} ({os.path.getsize(path):,} bytes); inputs {[i.name for i in sess.get_inputs()]}, "
          f"outputs {[o.name for o in sess.get_outputs()]}")
    print(f"max |onnxruntime - predict()| = {diff:.2e}; Sequential and functional agree: {same_as_seq}")
    ok = diff <= 1e-6 and same_as_seq
    ok = _train_section(model, quick) and ok
    print("\ndemo " + ("passed" if ok else "FAILED"))
    return 0 if ok else 1


def _train_section(model, quick: bool) -> bool:
    _section("Training (seed 000: rmsprop, categorical_crossentropy)")
    rng = np.random.default_rng(1)
    x = rng.random((1000, 64))
    labels = (x[:, :10] @ rng.random((10, 10))).argmax(1)  # a learnable rule
    y = np.eye(10)[labels]
    model.compile(optimizer="rmsprop", loss="categorical_crossentropy", metrics=["accuracy"])
    history = model.fit(x, y, epochs=3 if quick else 10, batch_size=128, verbose=2)
    losses = history.history["loss"]
    print(f"loss: {losses[0]:.4f} -> {losses[-1]:.4f}")
    return losses[-1] < losses[0]
