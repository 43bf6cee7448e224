"""model.export(path, training=True): a standard-ONNX train step that a bare onnxruntime session can drive.

The protocol is the one fgc/training/export.py documents: inputs x, y/<out>, sw/<out> (each
sample's weight divided by the batch's loss-element count), params (trainable weights flattened in
the layout the doc string gives), optimizer state (filled with its initial value), lr and step;
outputs loss, ..., new/<input>.
"""
import json

import numpy as np
import onnx
import onnxruntime as ort
import pytest

import fgc
from fgc import layers
from fgc.optimizers import SGD, Adam, Nadam

rng = np.random.default_rng(0)
X = rng.standard_normal((6, 4)).astype(np.float32)
IDS = rng.integers(0, 3, 6)
Y = np.eye(3, dtype=np.float32)[IDS]


def _model(hidden=5):
    x = fgc.Input((4,), name="x")
    h = layers.Dense(hidden, activation="relu", name="hidden")(x)
    return fgc.Model(x, layers.Dense(3, activation="softmax", name="probs")(h))


def _all_nodes(graph):
    for node in graph.node:
        yield node
        for attr in node.attribute:
            if attr.type == onnx.AttributeProto.GRAPH:
                yield from _all_nodes(attr.g)


def _layout(proto):
    doc = proto.doc_string
    return json.loads(doc[doc.index("{"):])


def _bare_steps(path, weights, names, steps, lr, x, y):
    """Drive the exported file with plain onnxruntime, as a user without fgc would."""
    proto = onnx.load(path)
    layout = _layout(proto)
    sess = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    inputs = {i.name: i for i in sess.get_inputs()}
    feeds = {"x": x, "y/probs": y, "sw/probs": np.full(len(x), 1.0 / len(x), np.float32),
             "lr": np.array(lr, np.float32)}
    perms = layout["weight_layouts"]
    by_name = {n: np.transpose(w, perms[n]) if n in perms else w for n, w in zip(names, weights)}
    if "params" in inputs:
        offsets = [layout["flat_params"][n][0] for n in names if n in layout["flat_params"]]
        assert offsets == sorted(offsets)                           # flattened in get_weights order
        flat = np.zeros(sum(v[1] for v in layout["flat_params"].values()), np.float32)
        for name, (offset, size, shape) in layout["flat_params"].items():
            assert tuple(shape) == by_name[name].shape
            flat[offset:offset + size] = by_name[name].reshape(-1)
        feeds["params"] = flat
    feeds.update({n: by_name[n] for n in names if n in inputs})     # weights outside the flat buffer
    for name, fill in layout["state_init"].items():
        shape = inputs[name].shape             # optimizer state has the static shape of what it tracks
        feeds[name] = np.full(shape, fill, np.float32)
    out_names = [o.name for o in sess.get_outputs()]
    losses = []
    for step in range(steps):
        feeds["step"] = np.array(step, np.float32)
        outs = dict(zip(out_names, sess.run(None, feeds)))
        losses.append(float(outs["loss"]))
        for inp, out in layout["updates"].items():
            feeds[inp] = outs[out]
    flat = layout["flat_params"]
    stored = [feeds["params"][flat[n][0]:flat[n][0] + flat[n][1]].reshape(flat[n][2]) if n in flat else feeds[n]
              for n in names]
    return [np.transpose(w, np.argsort(perms[n])) if n in perms else w for n, w in zip(names, stored)], losses


def _weight_names(model):
    return [v.path for v in model.weights]


@pytest.mark.parametrize("optimizer, hidden", [(lambda: Adam(0.05), 5), (lambda: SGD(0.1, momentum=0.9), 5),
                                               (lambda: Nadam(0.02), 5), (lambda: SGD(0.1, clipnorm=0.5), 5),
                                               (lambda: Adam(0.05), 66000)],
                         ids=["adam", "sgd_momentum", "nadam", "sgd_clipnorm_unflat", "adam_big_kernel_alone"])
def test_exported_train_step_reproduces_train_on_batch(tmp_path, optimizer, hidden):
    fgc.utils.set_random_seed(3)
    exported, trained = _model(hidden), _model(hidden)
    w0 = exported.get_weights()
    trained.set_weights(w0)
    exported.compile(optimizer(), "categorical_crossentropy", metrics=["acc"])
    trained.compile(optimizer(), "categorical_crossentropy", metrics=["acc"])
    path = tmp_path / "step.onnx"
    exported.export(str(path), training=True)

    proto = onnx.load(str(path))
    assert {n.domain for n in _all_nodes(proto.graph)} <= {""}      # standard ops only
    assert {o.domain for o in proto.opset_import} <= {"", "ai.onnx"}
    onnx.checker.check_model(proto, full_check=True)
    inputs = {i.name for i in proto.graph.input}
    if hidden > 5:  # 264,000 elements: over FLAT_LIMIT, an input of its own; the rest stays flat
        assert {"params", "hidden/kernel", "opt/momentum/hidden/kernel"} <= inputs and "hidden/bias" not in inputs

    losses = [trained.train_on_batch(X, Y) for _ in range(3)]
    names = _weight_names(exported)
    assert len(names) == len(w0)
    got, bare_losses = _bare_steps(path, w0, names, 3, exported.optimizer.current_lr(), X, Y)
    for g, w in zip(got, trained.get_weights()):
        np.testing.assert_allclose(g, w, rtol=1e-5, atol=1e-6)
    loss_values = [v[0] if isinstance(v, list) else v for v in losses]
    np.testing.assert_allclose(bare_losses, loss_values, rtol=1e-5)


def test_exported_conv_step_stores_kernels_in_onnx_layout(tmp_path):
    # a Conv1D kernel is read through Transpose(2, 1, 0): the step stores it as (O, C, k) and says so
    fgc.utils.set_random_seed(4)
    rng = np.random.default_rng(4)
    x, y = rng.standard_normal((5, 7, 3)).astype(np.float32), np.eye(2, dtype=np.float32)[rng.integers(0, 2, 5)]

    def conv_model():
        i = fgc.Input((7, 3), name="x")
        h = layers.Conv1D(4, 3, activation="relu", name="conv")(i)
        return fgc.Model(i, layers.Dense(2, activation="softmax", name="probs")(layers.GlobalMaxPooling1D()(h)))

    exported, trained = conv_model(), conv_model()
    w0 = exported.get_weights()
    trained.set_weights(w0)
    for m in (exported, trained):
        m.compile(SGD(0.1, momentum=0.9), "categorical_crossentropy")
    path = tmp_path / "conv_step.onnx"
    exported.export(str(path), training=True)
    layout = _layout(onnx.load(str(path)))
    assert layout["weight_layouts"] == {"conv/kernel": [2, 1, 0]}
    assert layout["flat_params"]["conv/kernel"][2] == [4, 3, 3]
    losses = [trained.train_on_batch(x, y) for _ in range(3)]
    got, bare_losses = _bare_steps(path, w0, _weight_names(exported), 3, 0.1, x, y)
    for g, w in zip(got, trained.get_weights()):
        assert g.shape == w.shape
        np.testing.assert_allclose(g, w, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(bare_losses, losses, rtol=1e-5)


def test_export_training_needs_compile(tmp_path):
    with pytest.raises(RuntimeError, match="compile"):
        _model().export(str(tmp_path / "step.onnx"), training=True)
