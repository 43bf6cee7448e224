"""Data-parallel split step: the update graph applies the constraints the fused step applies."""
import numpy as np
import onnxruntime as ort

import fgc
from fgc import Input, Model, constraints, layers, regularizers
from fgc.export.onnx import to_onnx
from fgc.training.step import build_step_graph, build_update_graph


def _session(graph):
    return ort.InferenceSession(to_onnx(graph, params_as_inputs=True).SerializeToString(),
                                providers=["CPUExecutionProvider"])


def test_split_update_applies_constraints_like_the_fused_step():
    fgc.utils.set_random_seed(0)
    inp = Input(shape=(4,))
    hidden = layers.Dense(5, kernel_constraint=constraints.MaxNorm(0.3), kernel_regularizer=regularizers.L2(0.1))
    model = Model(inp, layers.Dense(3, bias_constraint=constraints.NonNeg())(hidden(inp)))
    model.compile(optimizer=fgc.optimizers.SGD(0.5), loss="mse")
    fused_graph, fused_spec = build_step_graph(model, model._compiled)
    grad_graph, grad_spec = build_step_graph(model, model._compiled, gradients_only=True)
    update_graph, update_spec = build_update_graph(grad_graph, grad_spec, model._compiled.optimizer)
    rng = np.random.default_rng(1)
    feeds = dict(zip(grad_spec.data_inputs + grad_spec.target_inputs,
                     [rng.normal(size=(6, 4)).astype(np.float32), rng.normal(size=(6, 3)).astype(np.float32),
                      np.full(6, 1 / 6, np.float32)]))
    by_name = {w.path: w.numpy() for w in model.weights}
    feeds["params"] = np.concatenate([by_name[name].ravel() for name in grad_spec.slices]).astype(np.float32)
    clock = {"lr": np.array(0.5, np.float32), "step": np.array(0, np.float32)}
    expected = _session(fused_graph).run(["new/params"], {**feeds, **clock})[0]
    grad = _session(grad_graph).run(["grad/params"], feeds)[0]
    got = _session(update_graph).run(["new/params"], {"params": feeds["params"], "grad/params": grad, **clock})[0]
    np.testing.assert_allclose(got, expected, rtol=1e-6, atol=1e-7)
    offset, size, shape = grad_spec.slices[hidden.kernel.path]
    kernel = got[offset:offset + size].reshape(shape)
    free = (feeds["params"] - 0.5 * grad)[offset:offset + size].reshape(shape)
    norms = np.sqrt((free.astype(np.float64) ** 2).sum(0, keepdims=True))
    np.testing.assert_allclose(kernel, free * np.clip(norms, 0, 0.3) / (1e-7 + norms), rtol=1e-5, atol=1e-7)
    assert norms.max() > 0.3   # the constraint had something to do
