"""Helpers for the fgc.ops tests: run an op recorded on symbolic tensors (through the compiler and
onnxruntime), and check its gradient against central finite differences."""
import numpy as np
import onnxruntime as ort
import pytest

import fgc
from fgc.compiler import inference_graph
from fgc.export.onnx import to_onnx
from fgc.ir import verify
from fgc.passes import PassManager, lowering_pipeline
from fgc.passes.autodiff import gradients
from fgc.primitives import Builder


def _symbolic_model(fn, arrays):
    """A model whose inputs have exactly the arrays' shapes and dtypes, and whose outputs are fn(*inputs)."""
    inputs = [fgc.Input(batch_shape=a.shape, dtype=a.dtype.name, name=f"in{i}") for i, a in enumerate(arrays)]
    out = fn(*inputs)
    outs = list(out) if isinstance(out, (list, tuple)) else [out]
    return fgc.Model(inputs, outs), inputs


def _session(graph):
    return ort.InferenceSession(to_onnx(graph).SerializeToString(), providers=["CPUExecutionProvider"])


@pytest.fixture
def run_symbolic():
    """fn recorded on Inputs shaped like ``arrays``, compiled, exported and run on them."""
    def run(fn, *arrays):
        arrays = [np.asarray(a) for a in arrays]
        model, _ = _symbolic_model(fn, arrays)
        graph = inference_graph(model)
        results = _session(graph).run(None, {f"in{i}": a for i, a in enumerate(arrays)})
        return results
    return run


@pytest.fixture
def gradcheck():
    """d/dx of sum(fn(x...) * R) from the primitives' vjps against central finite differences (float64)."""
    def check(fn, *arrays, wrt=None, h=1e-6, rtol=1e-5, seed=0):
        rng = np.random.default_rng(seed)
        arrays = [np.asarray(a) for a in arrays]
        wrt = [i for i, a in enumerate(arrays) if a.dtype.kind == "f"] if wrt is None else list(wrt)
        model, _ = _symbolic_model(fn, arrays)
        graph = PassManager(lowering_pipeline(training=False)).run(model.to_graph())
        b = Builder(graph, "check")
        loss = None
        for out in graph.outputs:
            t = graph.type_of(out)
            weight = rng.standard_normal(t.shape).astype(t.dtype)
            term = b.ReduceSum(b.Mul(out, weight), keepdims=0)
            loss = term if loss is None else b.Add(loss, term)
        grads = gradients(graph, loss, [graph.inputs[i] for i in wrt])
        assert all(g is not None for g in grads), "no gradient reached an input the output depends on"
        graph.outputs, graph.output_names = [loss, *grads], ["loss", *[f"g{i}" for i in wrt]]
        verify(graph)
        sess = _session(graph)
        feeds = {f"in{i}": a for i, a in enumerate(arrays)}
        loss_value, *grad_values = sess.run(None, feeds)
        for i, grad in zip(wrt, grad_values):
            x = arrays[i]
            assert grad.shape == x.shape
            direction = rng.standard_normal(x.shape)
            plus = sess.run(["loss"], {**feeds, f"in{i}": (x + h * direction).astype(x.dtype)})[0]
            minus = sess.run(["loss"], {**feeds, f"in{i}": (x - h * direction).astype(x.dtype)})[0]
            numeric = (float(plus) - float(minus)) / (2 * h)
            analytic = float(np.sum(grad * direction))
            assert abs(numeric - analytic) <= rtol * (abs(numeric) + 1.0), \
                f"input {i}: finite difference {numeric} vs vjp {analytic}"
    return check
