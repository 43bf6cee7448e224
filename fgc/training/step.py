"""The training-step graph: forward + losses + metrics + backward + optimizer update, one graph.

Inputs: the model inputs, ``y/<out>`` targets, ``sw/<out>`` sample weights divided by the number of
loss elements in the batch (the batch size, times the timesteps of a sequence output; undivided
for the ``sum`` and ``mean_with_sample_weight`` reductions), the weights,
optimizer state, ``lr`` and ``step``. Outputs: ``loss``, ``<out>_loss`` (several outputs),
metric batch means, weighted metrics as two batch sums (``<name>`` and ``<name>/weight``), the
result of each stateful metric (AUC, Precision, ...: its state is the inputs ``metric/<name>/<i>``
and the outputs ``metric/<name>/<i>/new``, see metrics/in_step.py), then the new weights and
state. With ``flat=True`` every trainable weight under ``FLAT_LIMIT`` elements lives in one
vector ``params`` (sliced and reshaped inside the graph; the gradients are concatenated) so the optimizer is one fused update instead of one per
weight: fewer nodes, and on CPU each onnxruntime node costs microseconds. Bigger weights are
inputs of their own, as every weight is without ``flat``.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from fgc.ir import TensorType, Value
from fgc.ir.types import BATCH, is_float


@dataclass
class StepSpec:
    """What the host feeds and reads. ``slices`` maps each flat-buffer weight to (offset, size, shape)."""

    data_inputs: list[str]
    target_inputs: list[str]
    weight_inputs: list[str]                                  # weights that never change (frozen)
    params: list[str] = field(default_factory=list)           # trainable weights: ["params"] or names
    slices: dict = field(default_factory=dict)
    flat: bool = False
    state_inputs: list[str] = field(default_factory=list)     # "opt/<slot>/<param>" or "opt/<global>"
    state_init: dict = field(default_factory=dict)
    report_outputs: list[str] = field(default_factory=list)   # loss, per-output losses, metrics, then checks
    checks: dict = field(default_factory=dict)                # "check/<name>" report -> error message
    # weighted metric report -> (its weight-sum report, the sample-weight feed both are in units of)
    weighted_reports: dict = field(default_factory=dict)
    update_outputs: dict = field(default_factory=dict)        # input name -> output name with its new value
    grad_outputs: dict = field(default_factory=dict)          # gradient mode: params key -> "grad/<key>"
    batch_means: list[str] = field(default_factory=list)      # reports that are means over the batch's samples
    metric_results: list[str] = field(default_factory=list)   # reports that are a stateful metric's result so far
    # stateful metrics: state input -> (its new-value output or None when unchanged, the metric's StateVariable)
    metric_states: dict = field(default_factory=dict)
    constraints: dict = field(default_factory=dict)           # weight name -> (constraint, stored layout)
    # data dims the graph was specialised on as equal (a fused Scan over two inputs' time axes): groups of
    # (input, axis); the host runs this step only on batches where each group's sizes agree (runtime.py)
    equal_dims: list = field(default_factory=list)


def _target_type(loss, pred: TensorType) -> TensorType:
    if loss is not None and loss.sparse:
        return TensorType(pred.shape[:-1], "int64")
    return pred if is_float(pred.dtype) else pred.with_dtype("float32")


def _loss_dtype(b, pred):
    """A half-precision model output (mixed precision) widened to float32: Keras computes losses and
    metrics in float32."""
    return b.Cast(pred, to="float32") if b.type(pred).dtype in ("float16", "bfloat16") else pred


def _per_element(b, sw, like):
    """The (N,) sample weights unsqueezed to broadcast against ``like`` (N, ...)."""
    rank = b.type(like).rank
    return b.Unsqueeze(sw, axes=tuple(range(1, rank))) if rank > 1 else sw


_TINY = 1e-30  # a divisor floor: where it applies, the numerator is 0 too (Keras' divide_no_nan gives 0)


def reduce_loss(b, loss, values, sw, mask=None):
    """Keras' reduction of weighted per-sample losses, given the host's ``sw/<out>`` feed.

    The host divides the weights by the batch's loss elements for ``sum_over_batch_size`` (so that
    reduction is one ReduceSum) and feeds them as they are for ``sum`` and ``mean_with_sample_weight``
    (loop.Batches). With ``mask`` (ignore_class) the masked elements weigh nothing, and the means run
    over the elements that count: sum_over_batch_size divides by their fraction of the batch,
    mean_with_sample_weight by their weight."""
    weights = _per_element(b, sw, values)
    total = b.ReduceSum(b.Mul(values, weights), keepdims=0)   # masked values are already 0
    if loss.reduction == "sum":
        return total
    if loss.reduction == "mean_with_sample_weight":
        if mask is not None:
            weight = b.ReduceSum(b.Mul(weights, b.Cast(mask, to=b.type(values).dtype)), keepdims=0)
        else:
            weight = b.ReduceSum(sw, keepdims=0)
            if b.type(values).rank > 1:  # every element of a sample carries the sample's weight
                weight = b.Mul(weight, b.SizeOf(values, axes=tuple(range(1, b.type(values).rank))))
        return b.Div(total, b.Max(weight, _TINY))
    if mask is not None:
        fraction = b.ReduceMean(b.Cast(mask, to=b.type(values).dtype), keepdims=0)
        return b.Div(total, b.Max(fraction, _TINY))
    return total


def _weighted_reports(b, key, metric, target, pred, sw, keep=None):
    """A weighted metric's batch sums: sum(w * per-sample value) and sum(w), in the units of the
    ``sw`` feed; the host rescales both and divides the epoch totals (loop.Mean). On an output with a
    mask (``keep``) Keras weighs each element by w * mask instead (reduction_metrics.py, apply_mask):
    the sums run over the elements that count; without ``sw`` the weights are the mask alone."""
    values = metric.values(b, target, pred)
    rank = b.type(values).rank
    if keep is not None:
        if rank > b.type(keep).rank:   # Keras first averages a sample's extra axes (reduce_to_samplewise_values)
            values = b.ReduceMean(values, axes=tuple(range(b.type(keep).rank, rank)), keepdims=0)
        weights = _per_element(b, sw, keep) if sw is not None else None
        weights = keep if weights is None else b.Mul(weights, keep)
        values, weights = _masked(b, metric, key, values, weights, None)
        return [(key, b.ReduceSum(values, keepdims=0)), (f"{key}/weight", b.ReduceSum(weights, keepdims=0))]
    per_sample = b.ReduceMean(values, axes=tuple(range(1, rank)), keepdims=0) if rank > 1 else values
    return [(key, b.ReduceSum(b.Mul(per_sample, sw), keepdims=0)), (f"{key}/weight", b.ReduceSum(sw, keepdims=0))]


def _output_keeps(graph, leaves: dict) -> dict:
    """Output name -> its mask as a float keep-tensor (1 counts, 0 is masked), for the outputs whose
    masks ``Model.to_graph(output_masks=...)`` left as ``mask/<output>/<i>`` leaf outputs."""
    from fgc.layers.masks import lower_spec
    from fgc.primitives import Builder

    b = Builder(graph, "output_mask")
    return {out: lower_spec(b, [leaves[n] for n in names], spec, "float32")
            for out, (names, spec) in graph.output_masks.items()}


def _masked(b, loss, name, values, keep, valid):
    """Keras' loss mask: the output's keep-mask (from its ``_keras_mask``) zeroes masked loss values and
    joins the loss's own ``valid`` mask (ignore_class) for the reduction's divisor. (Also used for a
    metric's values, with ``loss`` the metric.)"""
    if keep is None:
        return values, valid
    rank, keep_rank = b.type(values).rank, b.type(keep).rank
    if rank < keep_rank:
        raise NotImplementedError(
            f"'{name}' is computed on an output that carries a mask over its first {keep_rank} axes (from "
            f"Embedding(mask_zero=True) or Masking), and {type(loss).__name__} reduces one of them, so Keras' "
            f"mask cannot weigh its values; use one that keeps the time axis, or drop the mask before the output")
    if rank > keep_rank:
        keep = b.Unsqueeze(keep, axes=tuple(range(keep_rank, rank)))
    keep = b.Cast(keep, to=b.type(values).dtype)
    if valid is not None:
        keep = b.Mul(keep, b.Cast(valid, to=b.type(values).dtype))
    return b.Mul(values, keep), keep


def add_losses_and_metrics(graph, compiled, spec: StepSpec, output_keeps: dict | None = None, extra_losses=()):
    """Append targets, sample weights, losses and metrics; returns the total-loss Value.

    ``output_keeps`` maps an output to its mask (a float keep-tensor) that masks its loss as Keras does.
    ``extra_losses`` (regularization penalties, ``add_loss`` values: scalars) join the total unweighted,
    after the compiled losses, as Keras' ``compute_loss`` adds ``model.losses``."""
    from fgc.primitives import Builder

    from .metrics.in_step import add_stateful, raw_weight_input

    b = Builder(graph, "loss")
    keeps = output_keeps or {}
    total, reports, weighted, states = None, [], [], []
    multi = len(graph.outputs) > 1
    several_losses = len(compiled.losses) > 1   # Keras logs <out>_loss only then
    preds = list(zip(graph.output_names, graph.outputs))
    for name, pred in preds:
        pred = _loss_dtype(b, pred)
        loss = compiled.losses.get(name)
        metrics, weighted_metrics = compiled.metrics.get(name, []), compiled.weighted_metrics.get(name, [])
        ptype = graph.type_of(pred)
        target = graph.add_input(f"y/{name}", _target_type(loss, ptype)) if loss or metrics or weighted_metrics \
            else None
        if target is not None:
            spec.target_inputs.append(f"y/{name}")
        sw = None
        if loss is not None or weighted_metrics:
            sw = graph.add_input(f"sw/{name}", TensorType((ptype.shape[0],), "float32"))
            spec.target_inputs.append(f"sw/{name}")
        if loss is not None:
            values, valid = _masked(b, loss, f"{name} loss", loss.values(b, target, pred), keeps.get(name),
                                    loss.valid_mask(b, target, pred))
            value = reduce_loss(b, loss, values, sw, valid)
            weighted_value = b.Mul(value, float(compiled.loss_weights.get(name, 1.0)))
            total = weighted_value if total is None else b.Add(total, weighted_value)
            if several_losses:
                reports.append((f"{name}_loss", value))
        for metric in metrics:
            key = f"{name}_{metric.name}" if multi else metric.name
            if metric.batch_mean and name in keeps:   # masked: exact over the epoch as two sums
                pair = _weighted_reports(b, key, metric, target, pred, None, keeps[name])
                reports += pair
                spec.weighted_reports[key] = (pair[1][0], f"mask/{name}")   # not a feed: no rescaling
            elif metric.batch_mean:
                reports.append((key, b.ReduceMean(metric.values(b, target, pred), keepdims=0)))
                spec.batch_means.append(key)
            else:   # the metric's own state, carried through the step
                result, new = add_stateful(b, spec, key, metric, target, pred, None)
                reports += result
                states += new
        for metric in weighted_metrics:
            weighted.append((name, metric, target, pred, sw))
    taken = {k for k, _ in reports}
    for name, metric, target, pred, sw in weighted:   # after every unweighted metric, as Keras lists them
        key = weighted_metric_key(name if multi else None, metric.name, taken)
        taken.add(key)
        if metric.batch_mean:
            pair = _weighted_reports(b, key, metric, target, pred, sw, keeps.get(name))
            reports += pair
            spec.weighted_reports[key] = (pair[1][0], f"sw/{name}")
        else:
            raw = raw_weight_input(graph, spec, name, graph.type_of(pred).shape[0])
            result, new = add_stateful(b, spec, key, metric, target, pred, raw)
            reports += result
            states += new
    for term in extra_losses:
        total = term if total is None else b.Add(total, term)
    if total is None:
        raise ValueError("compile() got no loss for any output")
    reports += states   # not logged: the host carries them to the next step (metrics/in_step.py)
    graph.outputs, graph.output_names = [total] + [v for _, v in reports], ["loss"] + [k for k, _ in reports]
    spec.report_outputs = list(graph.output_names)
    return total


def weighted_metric_key(output: str | None, metric_name: str, taken: set) -> str:
    """Keras' log name of a weighted metric: its own name, or ``weighted_<name>`` when an unweighted
    metric already has that name (``<output>_`` in front for several outputs)."""
    prefix = f"{output}_" if output else ""
    key = f"{prefix}{metric_name}"
    if key not in taken:
        return key
    key = f"{prefix}weighted_{metric_name}"
    index, candidate = 1, key
    while candidate in taken:
        candidate, index = f"{key}_{index}", index + 1
    return candidate


FLAT_LIMIT = 1 << 18  # elements: a trainable weight this big is not put in the flat buffer


def _size(graph, name: str) -> int:
    return int(np.prod(graph.params[name].shape))


def _flatten_params(graph, names, spec: StepSpec):
    """Replace trainable param reads by slices of one flat input ``params``."""
    from fgc.primitives import Builder

    b = Builder(graph, "params")
    total = sum(int(np.prod(graph.params[n].shape)) for n in names)
    flat = graph.add_input("params", TensorType((total,), "float32"))
    offset = 0
    # one walk for all params: a topological sort per param cost 1 s of resnet_block's 3 s step build
    param_nodes = {graph.node(p)["attrs"]["name"]: p for p in graph.nodes_with_op("param")}
    for n in names:
        spec_ = graph.params[n]
        size = int(np.prod(spec_.shape))
        spec.slices[n] = (offset, size, tuple(spec_.shape))
        node = param_nodes[n]
        piece = b.Slice(flat, starts=(offset,), ends=(offset + size,), axes=(0,))
        view = b.Reshape(piece, shape=tuple(spec_.shape)) if len(spec_.shape) != 1 else piece
        graph.replace_uses(Value(node), view)
        graph.remove_node(node)
        offset += size
    return flat


def build_step_graph(model, compiled, train: bool = True, flat: bool | None = None, layouts: dict | None = None,
                     gradients_only: bool = False, assume_equal_lengths: bool = False):
    """The compiled train step (or, with ``train=False``, the evaluation step) and its StepSpec.

    ``gradients_only`` (data-parallel training) stops before the optimizer: the graph outputs the
    gradient of each ``spec.params`` entry as ``grad/<key>`` (the flat buffer's as one vector) next to
    the reports and buffer updates, and ``build_update_graph`` makes the optimizer step that takes
    them once the host has summed them over the processes.
    ``layouts`` (weight name -> permutation) applies the weight layouts another step graph of the
    model chose (``stored_layouts``); None chooses them here (passes/param_layouts.py).
    ``assume_equal_lengths`` lets passes treat the data inputs' unknown non-batch dims as equal
    (passes/fuse_scans.py); the groups of dims they relied on come back as ``spec.equal_dims``, and
    the graph is then valid only for batches where those agree."""
    from fgc.primitives import Builder
    from fgc.passes import (CancelTransposes, ParamLayouts, PassManager, RowSumsAsProducts, lowering_pipeline,
                            optimization_pipeline)
    from fgc.primitives.autodiff import gradients

    from .penalties import take_added_losses, weight_constraints, weight_penalties

    graph = model.to_graph(output_masks=set(compiled.losses) | set(compiled.metrics) | set(compiled.weighted_metrics))
    graph.guarded = True  # out-of-range ids computed in the graph are counted (check/ outputs), see Embedding
    graph.collect_losses = True  # layers' add_loss / activity penalties become aux_loss/ outputs
    if layouts is None and not getattr(compiled.optimizer, "elementwise", True):
        layouts = {}   # a non-elementwise update (Lamb's norms, Adafactor's factors) needs Keras' layout
    given = None if layouts is None else tuple(sorted(layouts.items()))
    where = symbol_positions(graph)
    graph.equal_dims = (tuple(where),) if assume_equal_lengths and len(where) > 1 else ()
    PassManager(lowering_pipeline(training=train)).run(graph)
    extra_losses = take_added_losses(graph) + weight_penalties(graph)   # read the weights in Keras layout
    PassManager([ParamLayouts(given), CancelTransposes()]).run(graph)
    spec = StepSpec(list(graph.input_names), [], [])
    spec.equal_dims = [[where[s] for s in group] for group in getattr(graph, "assumed_dims", ())]
    # Layers that update non-trainable weights (BatchNorm's moving statistics) left "new/<weight>" outputs.
    buffers = [(name[len("new/"):], v) for name, v in zip(graph.output_names, graph.outputs) if name.startswith("new/")]
    checks = [(name, v) for name, v in zip(graph.output_names, graph.outputs) if name in graph.checks]
    leaves = dict((name, v) for name, v in zip(graph.output_names, graph.outputs) if name.startswith("mask/"))
    keep = [i for i, name in enumerate(graph.output_names)
            if not name.startswith(("new/", "mask/")) and name not in graph.checks]
    graph.outputs, graph.output_names = [graph.outputs[i] for i in keep], [graph.output_names[i] for i in keep]
    total = add_losses_and_metrics(graph, compiled, spec, _output_keeps(graph, leaves), extra_losses)
    for name, v in checks:  # reported after the logs; the host refuses a step whose count is not 0
        graph.outputs.append(v)
        graph.output_names.append(name)
        spec.report_outputs.append(name)
    spec.checks = dict(graph.checks)
    param_nodes = {graph.node(p)["attrs"]["name"]: p for p in graph.nodes_with_op("param")}
    trainable = [n for n in graph.params if n in param_nodes and graph.params[n].trainable]
    frozen = [n for n in graph.params if n in param_nodes and not graph.params[n].trainable]
    opt = compiled.optimizer
    # clipnorm's norms and a non-elementwise update read each weight whole: no flat buffer then
    per_weight = opt.clipnorm is not None or not getattr(opt, "elementwise", True)
    use_flat = bool((flat if flat is not None else True) and not per_weight and trainable and all(
        graph.params[n].dtype == "float32" for n in trainable))
    # Big weights stay inputs of their own: slicing them out of the flat buffer and concatenating their
    # gradients back costs two full copies per step (56 MB each for seed 000's 50000x256 embedding),
    # more than the few nodes of a separate optimizer update.
    flat_names = [n for n in trainable if _size(graph, n) < FLAT_LIMIT] if use_flat else []
    alone = [n for n in trainable if n not in flat_names]
    spec.flat = bool(flat_names)
    spec.params = (["params"] if flat_names else []) + alone
    spec.weight_inputs = frozen
    spec.constraints = weight_constraints(graph, trainable)
    b = Builder(graph, "opt")
    if train:
        # loss_scale_factor (Keras' optimizer.scale_loss) or a LossScaleOptimizer's dynamic scale: gradients of
        # the scaled loss, unscaled in apply
        objective = _scaled_loss(graph, b, opt, total, gradients_only)
        grads = gradients(graph, objective, [Value(param_nodes[n]) for n in trainable])
        grads = {n: g if g is not None else b.Zeros(shape=tuple(graph.params[n].shape), dtype=graph.params[n].dtype)
                 for n, g in zip(trainable, grads)}
        grads = ([b.Concat(*[b.Reshape(grads[n], shape=(-1,)) for n in flat_names], axis=0)] if flat_names else []) \
            + [grads[n] for n in alone]
    params = ([_flatten_params(graph, flat_names, spec)] if flat_names else []) + [Value(param_nodes[n]) for n in alone]
    if train and gradients_only:
        for key, grad in zip(spec.params, grads):
            _add_output(graph, f"grad/{key}", grad)
            spec.grad_outputs[key] = f"grad/{key}"
    elif train:
        _add_optimizer(graph, b, opt, spec, params, grads)
    if train:
        for name, value in buffers:
            _add_update(graph, name, value, spec)
    # RowSumsAsProducts last: the bias gradients' sums as MatMuls with ones (passes/row_sums.py)
    PassManager(optimization_pipeline() + [RowSumsAsProducts()]).run(graph)
    return graph, spec


def symbol_positions(graph) -> dict:
    """Each symbolic dim of the graph's inputs other than the batch -> its first (input name, axis)."""
    where = {}
    for name, v in zip(graph.input_names, graph.inputs):
        for axis, dim in enumerate(graph.type_of(v).shape):
            if isinstance(dim, str) and dim != BATCH:
                where.setdefault(dim, (name, axis))
    return where


def stored_layouts(graph) -> dict:
    """Weight name -> the permutation it is stored in (for the other step graphs of the same state)."""
    return {name: spec.layout for name, spec in graph.params.items() if spec.layout is not None}


def stored_value(spec, value: np.ndarray) -> np.ndarray:
    """A weight's Keras-layout value as the step graph stores it."""
    return np.ascontiguousarray(np.transpose(value, spec.layout)) if spec.layout is not None else value


def keras_value(spec, stored: np.ndarray) -> np.ndarray:
    """The inverse of ``stored_value``."""
    return np.ascontiguousarray(np.transpose(stored, np.argsort(spec.layout))) if spec.layout is not None else stored


def _add_optimizer(graph, b, opt, spec: StepSpec, params, grads, held=None) -> None:
    """The optimizer update of ``params`` by ``grads``; ``held`` (default: read from ``graph``) gives the
    Variable of each ``spec.params`` entry (see _held_variables)."""
    from .penalties import constrain_updates

    lr = graph.add_input("lr", TensorType((), "float32"))
    step = graph.add_input("step", TensorType((), "float32"))
    state = []
    for key, p in zip(spec.params, params):
        slots = {}
        for slot in opt.slots:
            name = f"opt/{slot}/{key}"
            shape = tuple(graph.type_of(p).shape)
            shape = tuple(opt.slot_shape(slot, shape)) if hasattr(opt, "slot_shape") else shape
            slots[slot] = graph.add_input(name, graph.type_of(p).with_shape(shape))
            spec.state_init[name] = (shape, opt.slot_init(slot))
        state.append(slots)
    glob = {}
    existing = dict(zip(graph.input_names, graph.inputs))   # a loss scale is read before the update
    for slot in opt.global_slots:
        glob[slot] = existing.get(f"opt/{slot}") or graph.add_input(f"opt/{slot}", TensorType((), "float32"))
        spec.state_init[f"opt/{slot}"] = ((), opt.global_init(slot))
    # which weights each update is for (exclude_from_weight_decay), for an apply() that takes it
    held = held if held is not None else _held_variables(graph, spec)
    extra = {"variables": held} if _takes(opt.apply, "variables") else {}
    new_params, new_state, new_glob = opt.apply(b, params, grads, state + [glob], lr, step, **extra)
    new_params = constrain_updates(b, spec, new_params)   # Keras: constraints right after the update
    for key, p_new, s_new in zip(spec.params, new_params, new_state):
        _add_update(graph, key, p_new, spec)
        for slot, v in s_new.items():
            _add_update(graph, f"opt/{slot}/{key}", v, spec)
    for slot in opt.global_slots:
        _add_update(graph, f"opt/{slot}", new_glob[slot], spec)
    spec.state_inputs = list(spec.state_init)


def _takes(method, name: str) -> bool:
    import inspect

    return name in inspect.signature(method).parameters


def _held_variables(graph, spec: StepSpec) -> list:
    """Per ``spec.params`` entry: its Variable, or [(Variable, offset, size)] for the flat buffer."""
    held = []
    for key in spec.params:
        if key == "params" and spec.slices:
            held.append([(graph.params[n].variable, off, size) for n, (off, size, _) in spec.slices.items()])
        else:
            held.append(graph.params[key].variable if key in graph.params else None)
    return held


def _scaled_loss(graph, b, opt, total, gradients_only: bool):
    """What the step differentiates: the loss, or the loss times a LossScaleOptimizer's scale (its
    ``opt/dynamic_scale`` state input, which the update then reads too)."""
    if not hasattr(opt, "scaled_loss"):
        return b.Mul(total, float(opt.loss_scale_factor)) if getattr(opt, "loss_scale_factor", None) else total
    if gradients_only:
        raise NotImplementedError("LossScaleOptimizer with data-parallel training is not supported yet; compile "
                                  "with the inner optimizer (or without a mixed_float16 policy) for DataParallel")
    scale = graph.add_input("opt/dynamic_scale", TensorType((), "float32"))
    return opt.scaled_loss(b, total, {"dynamic_scale": scale})


def _add_update(graph, input_name: str, value: Value, spec: StepSpec) -> None:
    out = f"new/{input_name}"
    _add_output(graph, out, value)
    spec.update_outputs[input_name] = out


def _add_output(graph, name: str, value: Value) -> None:
    graph.outputs.append(value)
    graph.output_names.append(name)


def build_update_graph(grad_graph, grad_spec: StepSpec, optimizer):
    """The optimizer half of a split step: inputs the ``spec.params`` entries, their summed gradients
    ``grad/<key>``, the optimizer state, ``lr`` and ``step``; outputs ``new/<key>`` and the new state.

    The update is ``Optimizer.apply``, the code the fused step runs, so both have the same formulas.
    Returns (graph, spec) where spec lists the state (``state_init``) and ``update_outputs``."""
    from fgc.ir import Graph
    from fgc.primitives import Builder
    from fgc.passes import PassManager, optimization_pipeline

    grad_types = dict(zip(grad_graph.output_names, (grad_graph.type_of(v) for v in grad_graph.outputs)))
    graph = Graph("update")
    spec = StepSpec([], [], [], params=list(grad_spec.params), slices=dict(grad_spec.slices), flat=grad_spec.flat,
                    constraints=dict(grad_spec.constraints))
    params = [graph.add_input(key, grad_types[grad_spec.grad_outputs[key]]) for key in grad_spec.params]
    grads = [graph.add_input(grad_spec.grad_outputs[key], grad_types[grad_spec.grad_outputs[key]])
             for key in grad_spec.params]
    _add_optimizer(graph, Builder(graph, "opt"), optimizer, spec, params, grads, _held_variables(grad_graph, grad_spec))
    PassManager(optimization_pipeline()).run(graph)
    return graph, spec
