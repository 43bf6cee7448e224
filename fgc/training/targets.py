"""Checking targets and sample weights against the compiled outputs, before the first step."""
from __future__ import annotations

import warnings

import numpy as np

from fgc.data import as_array_list, cast_into

from .losses import CategoricalCrossentropy


def check_finite(name: str, a: np.ndarray, what: str) -> None:
    if a.dtype.kind == "f" and not np.all(np.isfinite(a)):
        bad = tuple(int(i) for i in np.argwhere(~np.isfinite(a))[0])
        raise ValueError(f"{what} '{name}' contains {a[bad]} at index {bad}; remove or replace NaN/Inf values "
                         f"before training")


def prepare_targets(model, compiled, y, empty=None) -> dict[str, np.ndarray]:
    """{output name: target array} for every output that has a loss or metrics; ``empty(shape, dtype)``
    makes the arrays the targets are cast into (default: new ones)."""
    names = [n for n in model.output_names
             if n in compiled.losses or compiled.metrics.get(n) or compiled.weighted_metrics.get(n)]
    if y is None:
        raise ValueError(f"fit/evaluate need targets y for the outputs {names}")
    if isinstance(y, dict):
        unknown = [k for k in y if k not in model.output_names]
        if unknown:
            raise ValueError(f"targets: expected keys {names}, got {list(y)} (unknown {unknown})")
        y = {k: v for k, v in y.items() if k in names}
    if not isinstance(y, dict) and isinstance(y, (list, tuple)) and len(names) < len(model.output_names) \
            and len(y) == len(model.output_names):
        y = [t for t, n in zip(y, model.output_names) if n in names]
    arrays = as_array_list(names, y, "targets")
    types = {n: t.type for n, t in zip(model.output_names, model.outputs)}
    return {n: _cast_target(n, np.asarray(a), types[n], compiled.losses.get(n), empty)
            for n, a in zip(names, arrays)}


def _cast_target(name, a, ptype, loss, empty=None):
    pred_shape = ptype.keras_shape()
    if a.dtype.kind in "OUSV":
        raise TypeError(f"target for output '{name}' has dtype {a.dtype}; targets must be numbers")
    check_finite(name, a, "target for output")
    if loss is not None and loss.sparse:   # class ids (or integer labels): the output's shape without its last axis
        if a.ndim == len(pred_shape) and a.shape[-1] == 1:
            a = a[..., 0]
        if a.ndim != len(pred_shape) - 1:
            raise ValueError(f"output '{name}' uses {loss.name}, which takes class ids of shape "
                             f"{pred_shape[:-1]}; got targets of shape {a.shape}. For one-hot rows use "
                             f"categorical_crossentropy.")
        if a.dtype.kind == "f" and not np.all(a == np.round(a)):
            raise ValueError(f"output '{name}': {loss.name} takes integer class ids, got fractional values")
        ignore_class = getattr(loss, "ignore_class", None)
        counted = a if ignore_class is None else a[a != ignore_class]  # ignored ids may be anything
        if getattr(loss, "class_ids", True) and counted.size and (counted.min() < 0 or counted.max() >= pred_shape[-1]):
            also = "" if ignore_class is None else f" (or ignore_class={ignore_class})"
            raise ValueError(f"output '{name}': class ids must be in [0, {pred_shape[-1]}){also}, got values in "
                             f"[{counted.min()}, {counted.max()}]")
        fit_targets = getattr(loss, "fit_targets", None)   # CTC pads its label sequences to the timesteps
        return cast_into(fit_targets(a, pred_shape) if fit_targets else a, np.int64, empty)
    if len(pred_shape) == a.ndim + 1 and pred_shape[-1] == 1:
        a = a[..., None]  # (N,) targets for a (N, 1) output, as Keras accepts
    if isinstance(loss, CategoricalCrossentropy) and a.ndim == len(pred_shape) - 1 and (pred_shape[-1] or 0) > 1:
        raise ValueError(f"output '{name}' uses categorical_crossentropy, which takes one-hot rows of shape "
                         f"{pred_shape}, but got class ids of shape {a.shape}; use "
                         f"loss='sparse_categorical_crossentropy' or fgc.utils.to_categorical(y, {pred_shape[-1]})")
    if a.ndim != len(pred_shape) or any(p is not None and p != s for p, s in zip(pred_shape[1:], a.shape[1:])):
        raise ValueError(f"target for output '{name}' has shape {a.shape}, but the output has shape {pred_shape}")
    if isinstance(loss, CategoricalCrossentropy) and a.size and _all_rows_sum_to_zero(a):
        warnings.warn(f"every target row for output '{name}' is all zeros, so categorical_crossentropy is exactly 0 "
                      f"and nothing is learned; targets should be one-hot rows (e.g. fgc.utils.to_categorical(ids, "
                      f"{pred_shape[-1]}))", stacklevel=4)
    return cast_into(a, np.float32, empty)


def _all_rows_sum_to_zero(a: np.ndarray) -> bool:
    rows = a.reshape(-1, a.shape[-1])
    # the first row decides for any real targets (one-hot rows sum to 1): summing every row cost more
    # than the cast of the targets, once per fit call
    return bool(np.all(rows[:1].sum(-1) == 0)) and bool(np.all(rows.sum(-1) == 0))


def sample_weights(names, n: int, sample_weight, class_weight, targets) -> dict[str, np.ndarray]:
    out = {}
    given = {}
    if isinstance(sample_weight, np.ndarray) and len(names) > 1:
        given = {name: sample_weight for name in names}   # one array weighs every output (as in Keras)
    elif sample_weight is not None:
        given = dict(zip(names, as_array_list(names, sample_weight, "sample_weight")))
    lookup = _class_weight_table(class_weight)
    if lookup is not None and len(names) > 1:
        raise ValueError(f"class_weight is only supported for models with a single output (as in Keras); this "
                         f"model has {len(names)} outputs with a loss {names}: give per-output sample_weight "
                         f"arrays instead (a dict keyed by output name)")
    for name in names:
        w = np.ones(n, np.float32) if name not in given else _sample_weight_array(name, given[name])
        if w.shape[0] != n:
            raise ValueError(f"sample_weight for output '{name}' has {w.shape[0]} entries, expected {n}")
        if lookup is not None:
            w = w * _class_weights_of(name, targets[name], lookup)
        out[name] = w
    return out


def _sample_weight_array(name, given) -> np.ndarray:
    a = np.asarray(given)
    if a.dtype.kind not in "biuf":
        raise TypeError(f"sample_weight for output '{name}' has dtype {a.dtype}; it must hold numbers")
    w = a.astype(np.float32).reshape(-1)
    if not np.all(np.isfinite(w)):  # one NaN weight would turn every weight of the step into NaN
        bad = int(np.argwhere(~np.isfinite(w))[0][0])
        raise ValueError(f"sample_weight for output '{name}' is {w[bad]} at sample {bad}; sample weights must be "
                         f"finite numbers (use 0 to ignore a sample)")
    return w


def _class_weight_table(class_weight) -> dict[int, float] | None:
    """``class_weight`` checked: a dict {class index: finite weight}."""
    if class_weight is None:
        return None
    if not isinstance(class_weight, dict):
        raise TypeError(f"class_weight must be a dict mapping class indices to weights, e.g. {{0: 1.0, 1: 5.0}}, "
                        f"got {type(class_weight).__name__}")
    table = {}
    for cls, weight in class_weight.items():
        # 2.0 works as a key in Keras too (it equals the class id 2); 2.5 or -1 cannot be a class
        is_number = isinstance(cls, (int, float, np.integer, np.floating)) and not isinstance(cls, (bool, np.bool_))
        if not is_number or not np.isfinite(cls) or cls < 0 or cls != int(cls):
            raise ValueError(f"class_weight keys must be class indices (integers >= 0), got {cls!r}")
        if isinstance(weight, (bool, np.bool_)) or not isinstance(weight, (int, float, np.integer, np.floating)):
            raise TypeError(f"class_weight[{cls}] must be a number, got {type(weight).__name__}")
        if not np.isfinite(weight):
            raise ValueError(f"class_weight[{cls}] is {weight}; class weights must be finite numbers (use 0 to "
                             f"ignore a class)")
        table[int(cls)] = float(weight)
    return table


def _class_weights_of(name, t, table) -> np.ndarray:
    """Each sample's class weight, from one-hot rows or class ids (classes not in the table weigh 1, as Keras)."""
    if t.ndim > 2:
        raise ValueError(f"class_weight is supported for 2-D targets only; output '{name}' has targets of shape "
                         f"{t.shape}")
    n = t.shape[0]
    ids = t.argmax(-1) if t.ndim > 1 and t.shape[-1] > 1 else np.round(t.reshape(n, -1)[:, 0]).astype(int)
    lookup = np.array([table.get(c, 1.0) for c in range(int(ids.max()) + 1)], np.float32)
    return lookup[ids]
