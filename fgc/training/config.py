"""``compile()`` arguments resolved per output: loss, loss weight and metrics, keyed by output name.

A single value applies to every output; a list must have one entry per output; a dict must use
output names. Anything missing, extra or misnamed is an error listing expected vs received."""
from __future__ import annotations

from dataclasses import dataclass, field

from . import losses as losses_mod
from . import metrics as metrics_mod
from . import optimizers as optimizers_mod


@dataclass
class Compiled:
    optimizer: object
    losses: dict = field(default_factory=dict)        # output name -> Loss
    loss_weights: dict = field(default_factory=dict)  # output name -> float
    metrics: dict = field(default_factory=dict)       # output name -> [Metric]
    weighted_metrics: dict = field(default_factory=dict)  # output name -> [Metric] weighted by sample weights
    steps_per_execution: int = 1                      # train steps per onnxruntime call (an ONNX Loop)
    trainable_state: dict = field(default_factory=dict)  # layer -> trainable flag at compile() (Keras 3)


def per_output(value, names: list[str], what: str, allow_missing: bool = False) -> dict:
    if isinstance(value, dict):
        unknown = [k for k in value if k not in names]
        missing = [n for n in names if n not in value]
        if unknown or (missing and not allow_missing):
            raise ValueError(f"{what}: keys must be the model's output names {names}; got {list(value)}"
                             + (f" (unknown: {unknown})" if unknown else "")
                             + (f" (missing: {missing})" if missing and not allow_missing else ""))
        return {n: value[n] for n in names if n in value}
    if isinstance(value, (list, tuple)):
        if len(value) != len(names):
            raise ValueError(f"{what}: got a list of {len(value)} entries but the model has {len(names)} outputs "
                             f"{names}; pass one entry per output, in that order, or a dict keyed by output name")
        return dict(zip(names, value))
    return {n: value for n in names}


def _check_reducible(name: str, loss) -> None:
    if loss.reduction in (None, "none"):
        raise ValueError(f"output '{name}': {type(loss).__name__}(reduction={loss.reduction!r}) returns one loss "
                         f"per sample, but training needs one number per batch; compile with reduction "
                         f"'sum_over_batch_size' (the default), 'sum' or 'mean_with_sample_weight' "
                         f"(reduction=None is for calling the loss on its own: loss(y_true, y_pred))")


def _metrics_by_output(metrics, names: list[str], what: str) -> dict:
    """{output name: [metric identifiers]}: one list for every output, a list of lists, or a dict."""
    if isinstance(metrics, (list, tuple)) and len(names) > 1 and metrics \
            and all(isinstance(m, (list, tuple)) for m in metrics):
        by_output = per_output(list(metrics), names, what)
    elif isinstance(metrics, dict):
        by_output = per_output(metrics, names, what, allow_missing=True)
    else:
        flat = list(metrics) if isinstance(metrics, (list, tuple)) else [metrics]
        by_output = {n: flat for n in names}
    return {n: list(ms) if isinstance(ms, (list, tuple)) else [ms] for n, ms in by_output.items()}


def resolve(model, optimizer, loss, loss_weights, metrics, weighted_metrics=None,
            auto_scale_loss: bool = True) -> Compiled:
    names = list(model.output_names)
    types = {n: t.type for n, t in zip(names, model.outputs)}
    if loss is None:
        raise ValueError("compile() needs a loss, e.g. loss='categorical_crossentropy'")
    from .loss_scale import wrap_for_policy

    compiled = Compiled(wrap_for_policy(optimizers_mod.get(optimizer), model.dtype_policy, auto_scale_loss))
    for name, value in per_output(loss, names, "loss", allow_missing=True).items():
        if value is not None:
            try:
                compiled.losses[name] = losses_mod.get(value)
            except ValueError as e:
                raise ValueError(f"output '{name}': {e}") from None
            _check_reducible(name, compiled.losses[name])
    if loss_weights is not None:
        compiled.loss_weights = {k: float(v) for k, v in per_output(loss_weights, names, "loss_weights").items()}
    if metrics is not None:
        for name, ms in _metrics_by_output(metrics, names, "metrics").items():
            compiled.metrics[name] = [metrics_mod.get(m, compiled.losses.get(name), types[name]) for m in ms]
    if weighted_metrics is not None:
        if not isinstance(weighted_metrics, (list, tuple, dict)):
            raise ValueError(f"weighted_metrics must be a list, tuple or dict (as in Keras), e.g. "
                             f"weighted_metrics=['mae']; got {weighted_metrics!r} of type "
                             f"{type(weighted_metrics).__name__}")
        for name, ms in _metrics_by_output(weighted_metrics, names, "weighted_metrics").items():
            compiled.weighted_metrics[name] = [metrics_mod.get(m, compiled.losses.get(name), types[name]) for m in ms]
    return compiled
