"""Property test (hypothesis): random functional DAGs of Dense / activations / add / concatenate with
one or two inputs and outputs. For each: predict equals a numpy evaluation built alongside the
graph, the exported file passes the ONNX checker and plain onnxruntime reproduces predict, and a
small SGD step on an MSE loss moves the loss down (first order)."""
import numpy as np
import onnx
import onnxruntime as ort
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import fgc
from fgc import Input, Model, layers

ACTS = {"relu": lambda z: np.maximum(z, 0), "tanh": np.tanh, "sigmoid": lambda z: 1 / (1 + np.exp(-z)),
        "linear": lambda z: z}


@st.composite
def dags(draw):
    n_inputs = draw(st.integers(1, 2))
    widths = [draw(st.integers(1, 4)) for _ in range(n_inputs)]
    steps = draw(st.lists(st.tuples(st.sampled_from(["dense", "act", "add", "concat"]), st.integers(0, 99),
                                    st.integers(0, 99), st.integers(1, 5), st.sampled_from(sorted(ACTS))),
                          min_size=1, max_size=7))
    return widths, steps, draw(st.integers(1, 2))


def build(widths, steps, n_outputs, rng):
    fgc.utils.set_random_seed(int(rng.integers(1 << 30)))
    inputs = [Input(shape=(w,)) for w in widths]
    xs = [rng.normal(size=(3, w)) for w in widths]
    nodes = list(zip(inputs, xs))  # (symbolic tensor, numpy value)
    for kind, i, j, units, act in steps:
        (a, va), (b, vb) = nodes[i % len(nodes)], nodes[j % len(nodes)]
        if kind == "dense":
            layer = layers.Dense(units, activation=act)
            t = layer(a)
            k, bias = layer.get_weights()
            nodes.append((t, ACTS[act](va @ k + bias)))
        elif kind == "act":
            nodes.append((layers.Activation(act)(a), ACTS[act](va)))
        elif kind == "add" and a.shape == b.shape and a is not b:
            nodes.append((layers.add([a, b]), va + vb))
        elif kind == "concat" and a is not b:
            nodes.append((layers.concatenate([a, b]), np.concatenate([va, vb], axis=-1)))
    outs = nodes[-n_outputs:] if len(nodes) - len(inputs) >= n_outputs else nodes[-1:]
    return Model(inputs, [t for t, _ in outs]), xs, [v for _, v in outs]


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(dags())
def test_random_dag_predict_export_and_training_step(tmp_path_factory, spec):
    widths, steps, n_outputs = spec
    rng = np.random.default_rng(len(steps) * 7 + sum(widths))
    model, xs, want = build(widths, steps, n_outputs, rng)
    got = model.predict(xs)
    got = got if isinstance(got, list) else [got]
    for g, w in zip(got, want):
        np.testing.assert_allclose(g, w, rtol=1e-4, atol=1e-5)

    path = str(tmp_path_factory.mktemp("dag") / "model.onnx")
    proto = model.export(path)
    onnx.checker.check_model(proto, full_check=True)
    sess = ort.InferenceSession(path, providers=["CPUExecutionProvider"])
    plain = sess.run(None, {i.name: x.astype(np.float32) for i, x in zip(sess.get_inputs(), xs)})
    for p, g in zip(plain, got):
        np.testing.assert_allclose(p, g, rtol=1e-6, atol=1e-6)

    if not model.trainable_weights:
        return
    model.compile(fgc.optimizers.SGD(learning_rate=1e-3), "mse")
    targets = [np.zeros_like(w) for w in want]
    before = model.evaluate(xs, targets, verbose=0)
    model.train_on_batch(xs, targets)
    after = model.evaluate(xs, targets, verbose=0)
    before = before[0] if isinstance(before, list) else before
    after = after[0] if isinstance(after, list) else after
    assert after <= before + 1e-6
