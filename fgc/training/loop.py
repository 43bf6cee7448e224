"""fit / evaluate / train_on_batch / test_on_batch over the compiled steps."""
from __future__ import annotations

import numpy as np

from fgc import initializers
from fgc.data import batch_size_for, fixed_batch_size, prepare

from . import callbacks as cbks
from .targets import check_finite, prepare_targets, sample_weights


class Batches:
    """All arrays of one data set (inputs, targets, sample weights) under their feed names.

    ``loss_elements`` gives, per sample-weight feed of a ``sum_over_batch_size`` loss, the loss
    elements per sample (timesteps of a sequence output): each batch's weights are divided by the
    batch's element count, which is how the step graph computes that reduction with one ReduceSum.
    Feeds not listed (``sum`` and ``mean_with_sample_weight`` losses, weighted metrics alone) go
    as they are."""

    def __init__(self, arrays: dict[str, np.ndarray], loss_elements: dict[str, int]):
        self.arrays, self.loss_elements = arrays, loss_elements
        self.n = next(iter(arrays.values())).shape[0]

    def weight_scale(self, key: str, batch_n: int) -> float:
        """What a batch of ``batch_n`` samples' weights in feed ``key`` are multiplied by."""
        per_sample = self.loss_elements.get(key)
        return 1.0 / (batch_n * per_sample) if per_sample else 1.0

    def subset(self, index) -> "Batches":
        return Batches({k: v[index] for k, v in self.arrays.items()}, self.loss_elements)

    def chunks(self, batch_size: int, group: int = 1, limit: int | None = None, keys=None):
        """Yields (feeds, batch sizes): ``group`` consecutive full batches at once, stacked as
        (group, batch, ...) views for a multi-step call, else one batch; a short last batch alone."""
        keys = list(self.arrays) if keys is None else keys
        total = -(-self.n // batch_size) if limit is None else min(limit, -(-self.n // batch_size))
        done = 0
        while done < total:
            start = done * batch_size
            full = min((self.n - start) // batch_size, total - done)
            k = group if group > 1 and full >= group else 1
            stop = min(start + k * batch_size, self.n)
            sizes = [min(batch_size, stop - s) for s in range(start, stop, batch_size)]
            feeds = {}
            for key in keys:
                part = self.arrays[key][start:stop]
                feeds[key] = part.reshape(k, batch_size, *part.shape[1:]) if k > 1 else part
            for key in self.loss_elements:
                if key in feeds:  # each batch's weights over its loss elements (see the class doc)
                    feeds[key] = feeds[key] * np.float32(self.weight_scale(key, sizes[0]))
            yield feeds, sizes
            done += k


def make_batches(model, x, y, sample_weight=None, class_weight=None) -> Batches:
    compiled = model._compiled
    model._ensure_built(x)
    xs = prepare(model.input_names, [t.type for t in model.inputs], x, "input")
    for name, a in zip(model.input_names, xs):
        check_finite(name, a, "input")
    model._check_ids(xs)
    targets = prepare_targets(model, compiled, y)
    n = xs[0].shape[0]
    for name, t in targets.items():
        if t.shape[0] != n:
            raise ValueError(f"inputs have {n} samples but the targets for output '{name}' have {t.shape[0]}")
    arrays = dict(zip(model.input_names, xs))
    arrays.update({f"y/{k}": v for k, v in targets.items()})
    weighted_outputs = [n_ for n_ in model.output_names if n_ in compiled.losses or compiled.weighted_metrics.get(n_)]
    sw = sample_weights(weighted_outputs, n, sample_weight, class_weight, targets)
    arrays.update({f"sw/{k}": v for k, v in sw.items()})
    elements = {}
    for k in weighted_outputs:
        loss = compiled.losses.get(k)
        if loss is not None and loss.reduction in ("sum_over_batch_size", "mean"):
            elements[f"sw/{k}"] = loss.elements_per_sample(targets[k].shape)
    return Batches(arrays, elements)


def _fixed_batch(model) -> int | None:
    return fixed_batch_size(model.input_names, [t.type for t in model.inputs])


class Mean:
    """Epoch values of the report scalars, as Keras reports them: batch means averaged weighted by
    batch size; weighted metrics as sum(w * value) / sum(w) over the epoch, from each batch's two
    sums (in the units of its scaled ``sw`` feed, so each is divided by the batch's scale first)."""

    def __init__(self, names, weighted: dict, data: Batches):
        self.names, self.sums, self.count = names, [0.0] * len(names), 0
        self.data = data
        # report index -> the sample-weight feed whose batch scale it carries
        self.feed_of = {}
        for key, (weight_key, feed) in weighted.items():
            self.feed_of[names.index(key)] = self.feed_of[names.index(weight_key)] = feed
        self.ratios = {names.index(k): names.index(w) for k, (w, _) in weighted.items()}

    def add(self, values, n):
        for i, v in enumerate(values):
            feed = self.feed_of.get(i)
            self.sums[i] += v * n if feed is None else v / self.data.weight_scale(feed, n)
        self.count += n

    def result(self) -> dict:
        out = {}
        hidden = set(self.ratios.values())
        for i, (key, total) in enumerate(zip(self.names, self.sums)):
            if i in self.ratios:
                weight = self.sums[self.ratios[i]]
                out[key] = total / weight if weight else 0.0
            elif i not in hidden:
                out[key] = total / max(self.count, 1)
        return out


def run_epoch(model, data: Batches, batch_size: int, train: bool, steps=None, on_batch=None) -> dict:
    trainer, opt = model._trainer, model.optimizer
    spec = trainer.step(train).spec
    wanted = [k for k in spec.data_inputs + spec.target_inputs if k in data.arrays]
    group = model._compiled.steps_per_execution if train else 1
    mean = Mean(spec.report_outputs, spec.weighted_reports, data)
    index = 0
    for feeds, sizes in data.chunks(batch_size, group, steps, wanted):
        if not train:
            results = [trainer.run(False, feeds)]
        elif len(sizes) > 1:
            lrs = [opt.current_lr(opt.iterations + k) for k in range(len(sizes))]
            results = trainer.run_many(feeds, lrs, opt.iterations)
        else:
            results = [trainer.run(True, feeds, opt.current_lr(), opt.iterations)]
        opt.iterations += len(sizes) if train else 0
        for n, values in zip(sizes, results):
            mean.add(values, n)
            if on_batch is not None:
                on_batch(index, mean.result())
            index += 1
        if on_batch is not None and model.stop_training:
            break
    return mean.result()


def fit(model, x=None, y=None, batch_size=None, epochs=1, verbose="auto", callbacks=None, validation_split=0.0,
        validation_data=None, shuffle=True, class_weight=None, sample_weight=None, initial_epoch=0,
        steps_per_epoch=None, validation_steps=None, validation_batch_size=None, validation_freq=1):
    data = make_batches(model, x, y, sample_weight, class_weight)
    val = None
    if validation_data is not None:
        vx, vy = validation_data[0], validation_data[1]
        vsw = validation_data[2] if len(validation_data) > 2 else None
        val = make_batches(model, vx, vy, vsw)
    elif validation_split:
        if not 0 < validation_split < 1:
            raise ValueError(f"validation_split must be in (0, 1), got {validation_split}")
        cut = int(data.n * (1 - validation_split))  # the last fraction, taken before shuffling (Keras)
        data, val = data.subset(slice(0, cut)), data.subset(slice(cut, None))
    fixed = _fixed_batch(model)
    split = f" after validation_split={validation_split}" if val is not None and validation_data is None else ""
    batch_size = batch_size_for(fixed, batch_size, data.n, f"fit (training data{split})")
    if val is not None:
        validation_batch_size = batch_size_for(fixed, validation_batch_size, val.n, f"fit (validation data{split})",
                                               default=batch_size)
    verbose = 1 if verbose == "auto" else int(verbose)
    steps = steps_per_epoch or -(-data.n // batch_size)
    history = cbks.History()
    cb_list = list(callbacks or []) + ([cbks.ProgbarLogger(verbose)] if verbose else []) + [history]
    cbs = cbks.CallbackList(cb_list, model, {"epochs": epochs, "steps": steps, "verbose": verbose})
    model.history = history
    model.stop_training = False
    trainer = model._trainer
    trainer.step(True)
    if verbose:
        print(f"fgc: training on {trainer.device} (train step: {trainer.step(True).node_count} onnx nodes)")
    cbs.on_train_begin()
    for epoch in range(initial_epoch, epochs):
        cbs.on_epoch_begin(epoch)
        # One shuffled copy per epoch, then batches are views: cheaper than gathering every batch.
        epoch_data = data.subset(initializers.rng().permutation(data.n)) if shuffle else data
        logs = run_epoch(model, epoch_data, batch_size, True, steps_per_epoch,
                         on_batch=lambda i, l: cbs.on_train_batch_end(i, l))
        if val is not None and (epoch + 1) % validation_freq == 0:
            val_logs = run_epoch(model, val, validation_batch_size, False, validation_steps)
            logs.update({f"val_{k}": v for k, v in val_logs.items()})
        cbs.on_epoch_end(epoch, logs)
        if model.stop_training:
            break
    model._sync_from_device()
    cbs.on_train_end()
    return history


def evaluate(model, x=None, y=None, batch_size=None, verbose="auto", sample_weight=None, steps=None,
             return_dict=False):
    data = make_batches(model, x, y, sample_weight)
    logs = run_epoch(model, data, batch_size_for(_fixed_batch(model), batch_size, data.n, "evaluate"), False, steps)
    if (1 if verbose == "auto" else int(verbose)):
        print(" - ".join(f"{k}: {v:.4f}" for k, v in logs.items()))
    if return_dict:
        return logs
    values = list(logs.values())
    return values[0] if len(values) == 1 else values


def on_batch(model, x, y, sample_weight=None, class_weight=None, train=True, return_dict=False):
    data = make_batches(model, x, y, sample_weight, class_weight)
    where = "train_on_batch" if train else "test_on_batch"
    logs = run_epoch(model, data, batch_size_for(_fixed_batch(model), data.n, data.n, where), train)
    if return_dict:
        return logs
    values = list(logs.values())
    return values[0] if len(values) == 1 else values
