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


def resolve(model, optimizer, loss, loss_weights, metrics) -> Compiled:
    names = list(model.output_names)
    types = {n: t.type for n, t in zip(names, model.outputs)}
    if loss is None:
        raise ValueError("compile() needs a loss, e.g. loss='categorical_crossentropy'")
    compiled = Compiled(optimizers_mod.get(optimizer))
    for name, value in per_output(loss, names, "loss", allow_missing=True).items():
        if value is not None:
            try:
                compiled.losses[name] = losses_mod.get(value)
            except ValueError as e:
                raise ValueError(f"output '{name}': {e}") from None
    if loss_weights is not None:
        compiled.loss_weights = {k: float(v) for k, v in per_output(loss_weights, names, "loss_weights").items()}
    if metrics is not None:
        if isinstance(metrics, (list, tuple)) and len(names) > 1 and all(isinstance(m, (list, tuple)) for m in metrics):
            by_output = per_output(list(metrics), names, "metrics")
        elif isinstance(metrics, dict):
            by_output = per_output(metrics, names, "metrics", allow_missing=True)
        else:
            flat = list(metrics) if isinstance(metrics, (list, tuple)) else [metrics]
            by_output = {n: flat for n in names}
        for name, ms in by_output.items():
            ms = ms if isinstance(ms, (list, tuple)) else [ms]
            compiled.metrics[name] = [metrics_mod.get(m, compiled.losses.get(name), types[name]) for m in ms]
    return compiled
