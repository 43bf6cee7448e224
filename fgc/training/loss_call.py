"""A loss called on arrays, as Keras' ``loss(y_true, y_pred, sample_weight)``: the per-sample
values come from the same graph fragment the train step uses (run once through onnxruntime),
then Keras 3's ``reduce_weighted_values`` runs on the host."""
from __future__ import annotations

import numpy as np

from .losses import Loss


def _same_rank(first: np.ndarray, second: np.ndarray):
    """Keras' squeeze_or_expand_to_same_rank: ranks differing by one meet on a trailing axis of size 1."""
    if first.ndim == second.ndim + 1 and first.shape[-1] == 1:
        return (first, second[..., None]) if second.ndim == 1 else (first[..., 0], second)
    if second.ndim == first.ndim + 1 and second.shape[-1] == 1:
        return (first[..., None], second) if first.ndim == 1 else (first, second[..., 0])
    return first, second


def _elementwise(loss: Loss, y_true: np.ndarray, y_pred: np.ndarray):
    """(values, valid mask or None) of ``loss`` on concrete arrays, run through onnxruntime."""
    import onnxruntime as ort

    from fgc.export.onnx import to_onnx
    from fgc.ir import Graph, TensorType
    from fgc.primitives import Builder

    g = Graph(f"{loss.name}_call")
    t = g.add_input("y_true", TensorType(y_true.shape, y_true.dtype.name))
    p = g.add_input("y_pred", TensorType(y_pred.shape, "float32"))
    b = Builder(g, loss.name)
    outs = [loss.values(b, t, p)]
    mask = loss.valid_mask(b, t, p)
    if mask is not None:
        outs.append(mask)
    g.outputs, g.output_names = outs, [f"out{i}" for i in range(len(outs))]
    session = ort.InferenceSession(to_onnx(g).SerializeToString(), providers=["CPUExecutionProvider"])
    results = session.run(None, {"y_true": y_true, "y_pred": y_pred})
    return results[0], (results[1] if mask is not None else None)


def reduce_weighted(values: np.ndarray, sample_weight, mask, reduction) -> np.ndarray:
    """Keras 3's reduce_weighted_values on arrays: masked elements carry no weight, and the
    sum_over_batch_size mean then runs over the elements that count."""
    values = values.astype(np.float32)
    weight = None if sample_weight is None else np.asarray(sample_weight, np.float32)
    if mask is not None:
        keep = mask.astype(np.float32)
        if reduction in ("sum_over_batch_size", "mean"):   # weight total/valid: the mean over valid elements
            valid = keep.sum()
            keep = keep * (np.float32(keep.size) / valid if valid else np.float32(0.0))
        weight = keep if weight is None else np.multiply(*_same_rank(keep, weight))
    if weight is not None:
        values, weight = _same_rank(values, weight)
        try:
            values = values * weight
        except ValueError:
            raise ValueError(f"sample_weight of shape {np.shape(sample_weight)} does not broadcast against the "
                             f"per-sample losses of shape {values.shape}") from None
    if reduction in (None, "none") or values.ndim == 0 or values.shape == (0,):
        return values
    total = values.sum(dtype=np.float32)
    if reduction == "sum":
        return total
    divisor = np.float32(weight.sum()) if reduction == "mean_with_sample_weight" and weight is not None \
        else np.float32(values.size)
    return np.float32(total / divisor) if divisor else np.float32(0.0)


def call_loss(loss: Loss, y_true, y_pred, sample_weight=None):
    y_pred = np.asarray(y_pred, np.float32)
    if loss.sparse:
        y_true = np.asarray(y_true)
        if y_true.ndim == y_pred.ndim and y_true.shape[-1] == 1:
            y_true = y_true[..., 0]
        y_true = y_true.astype(np.int64)
        if hasattr(loss, "fit_targets"):
            y_true = loss.fit_targets(y_true, y_pred.shape)
        if y_true.shape != y_pred.shape[:-1]:
            raise ValueError(f"{type(loss).__name__}: class ids of shape {y_true.shape} do not match predictions "
                             f"of shape {y_pred.shape} (expected ids of shape {y_pred.shape[:-1]})")
    else:
        y_true, y_pred = _same_rank(np.asarray(y_true, np.float32), y_pred)
        if y_true.shape != y_pred.shape:
            raise ValueError(f"{type(loss).__name__}: y_true of shape {y_true.shape} and y_pred of shape "
                             f"{y_pred.shape} must have the same shape")
    values, mask = _elementwise(loss, np.ascontiguousarray(y_true), np.ascontiguousarray(y_pred))
    return reduce_weighted(values, sample_weight, mask, loss.reduction)


def call_custom_loss(loss: Loss, y_true, y_pred, sample_weight=None):
    """A Keras 3 style loss (its ``call`` written with fgc.ops) on arrays: ``call`` runs eagerly through
    fgc.ops (the definition the train step traces), then Keras' reduction. As in Keras' ``Loss.__call__``
    both arguments are converted to the loss dtype (float32) first."""
    from fgc.layers.base import KerasTensor

    if isinstance(y_true, KerasTensor) or isinstance(y_pred, KerasTensor):
        raise TypeError(f"{type(loss).__name__}(...) called on symbolic tensors: a Loss object computes a number "
                        f"from arrays; inside a model use compile(loss=...), or the unreduced "
                        f"loss.per_sample(y_true, y_pred)")
    y_true, y_pred = np.asarray(y_true, np.float32), np.asarray(y_pred, np.float32)
    values = np.asarray(loss.call(y_true, y_pred))
    if values.dtype.kind not in "biuf":
        raise TypeError(f"{type(loss).__name__}.call returned {type(values).__name__} of dtype {values.dtype}; it "
                        f"must return the loss per sample as a tensor")
    return reduce_weighted(values, sample_weight, None, loss.reduction)
