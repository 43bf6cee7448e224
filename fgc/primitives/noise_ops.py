"""RandomNormalLike: Gaussian noise shaped like its input (ONNX ``RandomNormalLike``), seeded per op
from the layer's seed as Dropout's masks are (random_ops.op_seed), so runs are reproducible. The
noise is a constant of the step for autodiff: no gradient flows to the tensor it takes its shape from."""
from __future__ import annotations

from .random_ops import op_seed
from .registry import primitive


def _onnx_attrs(attrs):
    return {"mean": float(attrs.get("mean", 0.0)), "scale": float(attrs.get("scale", 1.0)), "seed": float(attrs["seed"])}


primitive("RandomNormalLike", lambda types, attrs: [types[0]], nondiff="random noise, independent of its input's values",
          onnx_attrs=_onnx_attrs)


def normal_like(b, like, mean: float, stddev: float, layer_seed: int):
    """Noise ~ N(mean, stddev^2) shaped like ``like``; the k-th such op of a layer gets the k-th seed."""
    graph = b.graph
    index = sum(1 for name in graph.nodes_with_op("RandomNormalLike")
                if graph.node(name)["attrs"].get("layer_seed") == layer_seed)
    return b.RandomNormalLike(like, mean=float(mean), scale=float(stddev), layer_seed=layer_seed,
                              seed=op_seed(layer_seed, 1000 + index))
