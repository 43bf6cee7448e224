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
    """Every file goes under ``out_dir``; without one, under a temporary folder removed at exit."""
    if out_dir is None:
        with tempfile.TemporaryDirectory(prefix="fgc-demo-") as scratch:
            return _run(scratch, quick)
    os.makedirs(out_dir, exist_ok=True)
    code = _run(out_dir, quick)
    print(f"the files are in {out_dir}")
    return code


def _run(out_dir: str, quick: bool) -> int:
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
    path = os.path.join(out_dir, "mlp.onnx")
    model.export(path)
    x = np.random.default_rng(0).random((256, 64))
    sess = ort.InferenceSession(path, providers=["CPUExecutionProvider"])
    plain = sess.run(None, {sess.get_inputs()[0].name: x.astype(np.float32)})[0]
    ours = model.predict(x, batch_size=256, verbose=0)
    same_as_seq = np.allclose(seq.predict(x, verbose=0), ours, atol=1e-6)
    diff = float(np.max(np.abs(plain - ours)))
    print(f"wrote mlp.onnx ({os.path.getsize(path):,} bytes); inputs {[i.name for i in sess.get_inputs()]}, "
          f"outputs {[o.name for o in sess.get_outputs()]}")
    print(f"max |onnxruntime - predict()| = {diff:.2e}; Sequential and functional agree: {same_as_seq}")
    ok = diff <= 1e-6 and same_as_seq
    ok = _train_section(model, out_dir, quick) and ok
    ok = _qa_section(out_dir, quick) and ok
    print("\ndemo " + ("passed" if ok else "FAILED"))
    return 0 if ok else 1


def _train_section(model, out_dir: str, quick: bool) -> bool:
    import fgc

    _section("Training: 10 classes of points around 10 centres (rmsprop, categorical_crossentropy)")
    rng = np.random.default_rng(1)
    centres = rng.normal(0.0, 1.0, (10, 64))
    labels = rng.integers(0, 10, 1000)
    x = centres[labels] + rng.normal(0.0, 2.5, (1000, 64))   # overlapping clusters: accuracy climbs over epochs
    y = np.eye(10)[labels]
    model.compile(optimizer="rmsprop", loss="categorical_crossentropy", metrics=["accuracy"])
    history = model.fit(x, y, epochs=4 if quick else 10, batch_size=128, validation_split=0.2, verbose=2)
    acc = history.history["accuracy"]
    print(f"accuracy: {acc[0]:.3f} -> {acc[-1]:.3f} (validation {history.history['val_accuracy'][-1]:.3f}); "
          f"chance is 0.100")
    _section("Save and load (Keras 3's .keras format)")
    path = os.path.join(out_dir, "mlp.keras")
    model.save(path)
    again = fgc.models.load_model(path)
    same = np.array_equal(again.predict(x[:64], verbose=0), model.predict(x[:64], verbose=0))
    print(f"wrote mlp.keras ({os.path.getsize(path):,} bytes: config, weights, optimizer state); the loaded model "
          f"predicts the same numbers: {same}; Keras 3 reads this file with keras.models.load_model")
    return acc[-1] > acc[0] + 0.1 and same


def _qa_section(out_dir: str, quick: bool) -> bool:
    """Seed 000's two-input question-answering model: Embedding + LSTM per input, concatenated."""
    import onnxruntime as ort

    import fgc
    from fgc import Input, Model, layers
    from fgc.utils import to_categorical

    _section("Question answering (seed 000: two inputs, Embedding + LSTM)")
    text_input = Input(shape=(None,), dtype="int32", name="text")
    encoded_text = layers.LSTM(32)(layers.Embedding(10000, 64)(text_input))
    question_input = Input(shape=(None,), dtype="int32", name="question")
    encoded_question = layers.LSTM(16)(layers.Embedding(10000, 32)(question_input))
    concatenated = layers.concatenate([encoded_text, encoded_question], axis=-1)
    answer = layers.Dense(500, activation="softmax")(concatenated)
    model = Model([text_input, question_input], answer)
    model.compile(optimizer=fgc.optimizers.RMSprop(0.01), loss="categorical_crossentropy", metrics=["acc"])
    model.summary()
    rng = np.random.default_rng(2)
    n, length = (512, 20) if quick else (1000, 100)
    text = rng.integers(1, 10000, size=(n, length))
    question = rng.integers(1, 10000, size=(n, length))
    question[:, -1] = rng.integers(1, 11, n)        # learnable: the question's last word names one of 10 answers
    answers = to_categorical(question[:, -1] - 1, 500)
    history = model.fit({"text": text, "question": question}, answers, epochs=6, batch_size=128, verbose=2)
    acc = history.history["acc"]
    print(f"accuracy: {acc[0]:.3f} -> {acc[-1]:.3f} (the answer is the question's last word; chance is 0.100)")
    path = os.path.join(out_dir, "qa.onnx")
    proto = model.export(path)
    ops = sorted({node.op_type for node in proto.graph.node})
    sess = ort.InferenceSession(path, providers=["CPUExecutionProvider"])
    feed = {"text": text[:32], "question": question[:32]}  # exported integer inputs take int64
    diff = float(np.max(np.abs(sess.run(None, feed)[0] - model.predict(feed, verbose=0))))
    print(f"wrote qa.onnx: native ops {[op for op in ops if op in ('LSTM', 'GRU', 'RNN')]}; "
          f"max |onnxruntime - predict()| = {diff:.2e}")
    try:
        model.predict({"text": text[:2] + 10000, "question": question[:2]})
    except ValueError as e:
        print(f"an out-of-range id is caught before it reaches onnxruntime:\n  {e}")
    return acc[-1] > acc[0] + 0.1 and diff <= 1e-5
