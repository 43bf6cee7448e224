"""fit / evaluate / train_on_batch / test_on_batch over the compiled steps."""
from __future__ import annotations

import contextlib
import math
import warnings

import numpy as np

from fgc import initializers
from fgc.data import batch_size_for, fixed_batch_size, prepare
from fgc.naming import outside_stacklevel

from . import arguments as args
from . import callbacks as cbks
from .metrics.in_step import EpochState, needs_raw_weights
from .scratch import Loan
from .sources import Source, wrap
from .stream import Stream, open_stream, ran_out
from .targets import check_finite, prepare_targets, sample_weights


def weight_scale(loss_elements: dict, key: str, batch_n: int) -> float:
    """What a batch of ``batch_n`` samples' weights in feed ``key`` are multiplied by (see Batches); a key that
    is not a scaled feed (weighted metrics alone, or the ``mask/<output>`` units of a masked metric) gets 1."""
    per_sample = loss_elements.get(key)
    return 1.0 / (batch_n * per_sample) if per_sample else 1.0


class Batches:
    """All arrays of one data set (inputs, targets, sample weights) under their feed names.

    ``loss_elements`` gives, per sample-weight feed of a ``sum_over_batch_size`` loss, the loss
    elements per sample (timesteps of a sequence output): each batch's weights are divided by the
    batch's element count, which is how the step graph computes that reduction with one ReduceSum.
    Feeds not listed (``sum`` and ``mean_with_sample_weight`` losses, weighted metrics alone) go
    as they are."""

    def __init__(self, arrays: dict[str, np.ndarray], loss_elements: dict[str, int], uniform=frozenset(),
                 loan: Loan | None = None):
        self.arrays, self.loss_elements = arrays, loss_elements
        self.loan = loan   # where a shuffle's copies come from (the trainer's ScratchArrays), else new arrays
        self.n = next(iter(arrays.values())).shape[0]
        # feeds whose rows are all equal (the sample weights of ones when none are given): any order of them
        # is the array itself, so a shuffle does not gather them
        self.uniform = frozenset(uniform)
        self._plans: dict = {}   # chunks' arguments -> its BatchPlan: the batch views, made once

    def weight_scale(self, key: str, batch_n: int) -> float:
        return weight_scale(self.loss_elements, key, batch_n)

    def subset(self, index) -> "Batches":
        if isinstance(index, np.ndarray):   # a shuffle's order: take gathers rows faster than fancy indexing
            return Batches({k: v[:len(index)] if k in self.uniform else self._gather(v, index)
                            for k, v in self.arrays.items()}, self.loss_elements, self.uniform, self.loan)
        return Batches({k: v[index] for k, v in self.arrays.items()}, self.loss_elements, self.uniform, self.loan)

    def _gather(self, rows: np.ndarray, index: np.ndarray) -> np.ndarray:
        if self.loan is None:
            return rows.take(index, axis=0)
        # mode="clip": see shuffled
        return np.take(rows, index, axis=0, out=self.loan.empty((len(index), *rows.shape[1:]), rows.dtype),
                       mode="clip")

    def shuffled(self, order: np.ndarray, into: "Batches | None" = None) -> "Batches":
        """The rows in ``order`` (a permutation of all rows), written into ``into``'s arrays when given (an
        earlier shuffle of this data): its batches, views of those arrays, are then made once per fit."""
        if into is None:
            return self.subset(order)
        for key, rows in self.arrays.items():
            if key in self.uniform:   # the view subset made of it reads the same values
                continue
            # mode="clip" only spares the buffered copy that take makes for out= in its default mode: every
            # index of a permutation is in range
            np.take(rows, order, axis=0, out=into.arrays[key], mode="clip")
        return into

    def chunks(self, batch_size: int, group: int = 1, limit: int | None = None, keys=None):
        """Iterates (feeds, batch sizes): ``group`` consecutive full batches at once, stacked as
        (group, batch, ...) views for a multi-step call, else one batch; a short last batch alone.

        The batches are made once per set of arguments (see BatchPlan) and reused: the views read the
        arrays as they are now, and the scaled weights are recomputed from them on each call."""
        keys = tuple(self.arrays) if keys is None else tuple(keys)
        plan = self._plans.get((batch_size, group, limit, keys))
        if plan is None:
            plan = self._plans[batch_size, group, limit, keys] = BatchPlan(self, batch_size, group, limit, keys)
        else:
            plan.rescale()
        return iter(plan.batches)


class BatchPlan:
    """The (feeds, batch sizes) of one pass over a Batches, made before the first batch is run: slicing
    between two onnxruntime runs costs several times more (each run evicts the interpreter's caches),
    and made once, as slicing 8 batches of 3 feeds costs as much as a step's host work.

    Each batch's weights are divided by its loss elements (see Batches): every full batch has the same
    scale, so the rows they read are scaled in one product; the short last batch has a scale of its own.
    Those products are arrays of the plan's own, recomputed in place by ``rescale`` when their rows can
    have changed (a shuffle writes every feed but the uniform ones)."""

    def __init__(self, data: Batches, batch_size: int, group: int, limit: int | None, keys: tuple):
        n = data.n
        total = -(-n // batch_size) if limit is None else min(limit, -(-n // batch_size))
        used = min(n, total * batch_size)
        sources = {key: data.arrays[key] for key in keys}
        self.products = []   # (scaled array, the rows it is made from, scale)
        self.uniform = data.uniform
        for key in [key for key in data.loss_elements if key in sources]:
            sources[key] = self._scaled(key, data.arrays[key][:used], data.weight_scale(key, batch_size))
        self.batches = []
        done = 0
        while done < total:
            start = done * batch_size
            full = min((n - start) // batch_size, total - done)
            k = group if group > 1 and full >= group else 1
            stop = min(start + k * batch_size, n)
            if k > 1:
                feeds = {key: a[start:stop].reshape(k, batch_size, *a.shape[1:]) for key, a in sources.items()}
                sizes = [batch_size] * k
            else:
                feeds = {key: a[start:stop] for key, a in sources.items()}
                sizes = [stop - start]
                if stop - start < batch_size:
                    for key in data.loss_elements:
                        if key in sources:
                            feeds[key] = self._scaled(key, data.arrays[key][start:stop],
                                                      data.weight_scale(key, stop - start))
            self.batches.append((feeds, sizes))
            done += k

    def _scaled(self, key: str, rows: np.ndarray, scale: float) -> np.ndarray:
        scale = np.float32(scale)
        product = rows * scale
        if key not in self.uniform:   # the same rows in every order: the product stays right
            self.products.append((product, rows, scale))
        return product

    def rescale(self) -> None:
        for product, rows, scale in self.products:
            np.multiply(rows, scale, out=product)


def make_batches(model, x, y, sample_weight=None, class_weight=None, loan: Loan | None = None) -> Batches:
    """x, y and the weights as feeds, checked and cast; the casts are made by ``loan`` when given."""
    compiled = model._compiled
    model._ensure_built(x)
    empty = None if loan is None else loan.empty
    xs = prepare(model.input_names, [t.type for t in model.inputs], x, "input", empty=empty)
    for name, a in zip(model.input_names, xs):
        check_finite(name, a, "input")
    model._check_ids(xs)
    targets = prepare_targets(model, compiled, y, empty)
    n = xs[0].shape[0]
    for name, t in targets.items():
        if t.shape[0] != n:
            raise ValueError(f"inputs have {n} samples but the targets for output '{name}' have {t.shape[0]}")
    arrays = dict(zip(model.input_names, xs))
    arrays.update({f"y/{k}": v for k, v in targets.items()})
    weighted_outputs = [n_ for n_ in model.output_names if n_ in compiled.losses or compiled.weighted_metrics.get(n_)]
    sw = sample_weights(weighted_outputs, n, sample_weight, class_weight, targets)
    arrays.update({f"sw/{k}": v for k, v in sw.items()})
    # stateful weighted metrics take the weights as given, not scaled for the loss's reduction
    arrays.update({f"msw/{k}": v for k, v in sw.items() if needs_raw_weights(compiled, k)})
    elements = {}
    for k in weighted_outputs:
        loss = compiled.losses.get(k)
        if loss is not None and loss.reduction in ("sum_over_batch_size", "mean"):
            elements[f"sw/{k}"] = loss.elements_per_sample(targets[k].shape)
    given = sample_weight is not None or class_weight is not None
    ones = [] if given else [key for key in arrays if key.startswith(("sw/", "msw/"))]   # sample_weights' ones
    return Batches(arrays, elements, uniform=ones, loan=loan)


def _fixed_batch(model) -> int | None:
    return fixed_batch_size(model.input_names, [t.type for t in model.inputs])


class Mean:
    """Epoch values of the report scalars, as Keras reports them: batch means averaged weighted by
    batch size; weighted metrics as sum(w * value) / sum(w) over the epoch, from each batch's two
    sums (in the units of its scaled ``sw`` feed, so each is divided by the batch's scale first)."""

    def __init__(self, names, weighted: dict, data: Batches, latest=(), unlogged=()):
        self.names, self.sums, self.count = names, [0.0] * len(names), 0
        self.data = data
        # stateful metrics report their result so far (kept as is); their state outputs are not logs
        self.latest = {names.index(k) for k in latest}
        self.unlogged = {names.index(k) for k in unlogged}
        # report index -> the sample-weight feed whose batch scale it carries
        self.feed_of = {}
        for key, (weight_key, feed) in weighted.items():
            self.feed_of[names.index(key)] = self.feed_of[names.index(weight_key)] = feed
        self.ratios = {names.index(k): names.index(w) for k, (w, _) in weighted.items()}
        self.plain = not (self.latest or self.unlogged or self.feed_of)

    def reset(self, data) -> None:
        """Start a new pass over ``data`` (the same feeds, in another order or another set)."""
        self.sums, self.count, self.data = [0.0] * len(self.names), 0, data

    def add(self, values, n):
        if self.plain:   # batch means weighted by batch size alone: the same sums, one comprehension
            self.sums = [total + v * n for total, v in zip(self.sums, values)]
            self.count += n
            return
        if self.latest or self.unlogged:   # stateful metrics: their results replace, their states skip
            values = list(values)
            for i in self.latest:
                self.sums[i] = values[i]
            for i in self.latest | self.unlogged:
                values[i] = 0.0
        for i, v in enumerate(values):
            feed = self.feed_of.get(i)
            self.sums[i] += v * n if feed is None else v / self.data.weight_scale(feed, n)
        self.count += n

    def result(self) -> dict:
        out = {}
        hidden = set(self.ratios.values()) | self.unlogged
        for i, (key, total) in enumerate(zip(self.names, self.sums)):
            if i in self.latest:   # a vector result (F1Score per class) is logged as an array, as Keras does
                out[key] = float(total) if np.ndim(total) == 0 else np.array(total)
            elif i in self.ratios:
                weight = self.sums[self.ratios[i]]
                out[key] = total / weight if weight else 0.0
            elif i not in hidden:
                out[key] = total / max(self.count, 1)
        return out


def run_epoch(model, data: Batches, batch_size: int, train: bool, steps=None, callbacks=None,
              loss_watch=None) -> dict:
    """One pass over ``data``; ``callbacks`` (a CallbackList) gets the train or test batch hooks."""
    return EpochLoop(model, train, callbacks, loss_watch).run(data, batch_size, steps)


class EpochLoop:
    """Passes over batches with one model, mode and set of callbacks: fit makes one for training and one
    for validation, and each epoch is a ``run``.

    What a pass reads that no epoch changes (the step's feed names, the report layout, the batch hooks,
    the step function) is found on the first run and kept while the model's compiled step is the same
    one: on the seed MLP finding it again cost ~20 us an epoch, 2-3 % of the epoch. A compile or a new
    trainer between epochs (a callback may do either) makes the next run find it again."""

    def __init__(self, model, train: bool, callbacks=None, loss_watch=None):
        self.model, self.train, self.callbacks, self.loss_watch = model, train, callbacks, loss_watch
        self._for = None   # (trainer, compiled step) the kept facts were found for

    def _prepare(self, trainer, compiled, data) -> None:
        model, train, callbacks = self.model, self.train, self.callbacks
        spec = compiled.spec
        self.wanted = tuple(k for k in spec.data_inputs + spec.target_inputs if k in data.arrays)
        self.logged = logged = spec.report_outputs[:len(spec.report_outputs) - len(spec.checks)]  # checks raise
        self.spec = spec
        self.distributed = getattr(trainer, "distributed", None)
        if spec.metric_states and self.distributed is not None:
            raise NotImplementedError(f"metrics {spec.metric_results}: stateful metrics (AUC, Precision, ...) are "
                                      f"not supported with data-parallel training yet; use mean metrics (accuracy, "
                                      f"mae, ...)")
        # stateful metrics carry their state from step to step through the host: one step per call
        self.group = model._compiled.steps_per_execution if train and not spec.metric_states else 1
        self.mean = Mean(logged, spec.weighted_reports, data, spec.metric_results,
                         [o for o, _ in spec.metric_states.values() if o is not None])
        self.hooks = callbacks.batch_hooks("train" if train else "test") if callbacks is not None else (None, None)
        self.step = trainer.runner(train)
        self._for = (trainer, compiled)

    def run(self, data, batch_size: int, steps=None) -> dict:
        model, train, loss_watch = self.model, self.train, self.loss_watch
        trainer = model._trainer
        compiled = trainer.step(train)
        if self._for is None or self._for[0] is not trainer or self._for[1] is not compiled:
            self._prepare(trainer, compiled, data)
        states = EpochState(self.spec, self.logged) if self.spec.metric_states else None
        mean = self.mean
        mean.reset(data)
        # with several processes, fit's callbacks run on rank 0 and every process stops where they say
        dist = self.distributed if self.callbacks is not None else None
        # the loss is checked here, on the float the step returned; the watch is called only to warn
        watched = loss_watch.loss_index if loss_watch is not None and not loss_watch.silent else None
        if states is None and self.group == 1:   # fit's usual pass, one step per chunk: a leaner loop
            # the chunks are held by the callee alone: a generator left by a break ends its epoch (Stream's
            # finally) when that loop returns, as it did in the loop below
            self._single_steps(data.chunks(batch_size, 1, steps, self.wanted), train, dist, watched)
            return mean.result()
        begin, end = self.hooks
        step = self.step
        add, logs = mean.add, mean.result
        index = 0
        for feeds, sizes in data.chunks(batch_size, self.group, steps, self.wanted):
            if begin is not None:  # once per execution, with its first step (Keras' begin_step)
                begin(index)
            if states is not None:
                feeds = states.feed(feeds)
            results = trainer.run_many(feeds, len(sizes)) if len(sizes) > 1 else (step(feeds),)
            for n, values in zip(sizes, results):
                if states is not None:
                    states.take(values)
                add(values, n)
                if watched is not None and not math.isfinite(values[watched]):
                    loss_watch.warn(index, values)
                    watched = None
                if end is not None:   # the logs dict is made only if a listener reads it (see batch_hooks)
                    end(index, logs)
                index += 1
            if train and (model.stop_training if dist is None else dist.agree_stop(model)):
                break
        if states is not None:
            states.write_back()
        return mean.result()

    def _single_steps(self, chunks, train: bool, dist, watched) -> None:
        """``run``'s loop where every chunk is one step and no metric state travels through the host (the
        general loop's per-chunk zip, tuple and state checks cost ~0.3 us a step)."""
        model, loss_watch, step = self.model, self.loss_watch, self.step
        begin, end = self.hooks
        add, logs = self.mean.add, self.mean.result
        index = 0
        for feeds, (n,) in chunks:
            if begin is not None:
                begin(index)
            values = step(feeds)
            add(values, n)
            if watched is not None and not math.isfinite(values[watched]):
                loss_watch.warn(index, values)
                watched = None
            if end is not None:
                end(index, logs)
            index += 1
            if train and (model.stop_training if dist is None else dist.agree_stop(model)):
                break


class LossWatch:
    """Warns once per fit at the first non-finite training loss (Keras is silent), unless a
    TerminateOnNaN callback already reports it. run_epoch checks the loss, one float check per step."""

    def __init__(self, report_outputs, callbacks):
        self.loss_index = report_outputs.index("loss") if "loss" in report_outputs else None
        self.silent = self.loss_index is None or any(isinstance(c, cbks.TerminateOnNaN) for c in callbacks)
        self.epoch = 0

    def warn(self, step, values):
        """Called by run_epoch at the first non-finite loss while the watch is not silent."""
        self.silent = True
        warnings.warn(f"fit: the training loss became {values[self.loss_index]} at epoch {self.epoch + 1}, step "
                      f"{step + 1}; the weights are no longer finite from here on. Lower the learning rate, check "
                      f"the data and targets, or pass callbacks=[fgc.callbacks.TerminateOnNaN()] to stop there",
                      RuntimeWarning, stacklevel=outside_stacklevel())


def _check_fit_arguments(batch_size, epochs, verbose, validation_split, initial_epoch, steps_per_epoch,
                         validation_steps, validation_batch_size, validation_freq):
    where = "fit()"
    args.int_at_least(where, "batch_size", batch_size, 1, optional=True)
    args.int_at_least(where, "epochs", epochs, 0)
    args.int_at_least(where, "initial_epoch", initial_epoch, 0)
    args.int_at_least(where, "steps_per_epoch", steps_per_epoch, 1, optional=True)
    args.int_at_least(where, "validation_steps", validation_steps, 1, optional=True)
    args.int_at_least(where, "validation_batch_size", validation_batch_size, 1, optional=True)
    args.int_at_least(where, "validation_freq", validation_freq, 1)
    args.validation_fraction(validation_split)
    return args.verbose_level(where, verbose)


def _validation_batches(model, validation_data, validation_steps=None, loan=None):
    if isinstance(validation_data, Source):   # a generator / PyDataset: its batches carry the targets
        return open_stream(model, validation_data, "fit(): validation_data", train=False, steps=validation_steps,
                           steps_name="validation_steps")
    if not isinstance(validation_data, (tuple, list)) or len(validation_data) not in (2, 3):
        raise ValueError(f"fit(): validation_data must be a tuple (x_val, y_val) or (x_val, y_val, "
                         f"val_sample_weight), got {type(validation_data).__name__}"
                         + (f" of length {len(validation_data)}" if isinstance(validation_data, (tuple, list)) else ""))
    vx, vy = validation_data[0], validation_data[1]
    vsw = validation_data[2] if len(validation_data) > 2 else None
    try:
        return make_batches(model, vx, vy, vsw, loan=loan)
    except (ValueError, TypeError) as e:  # the same checks as for x and y: say which data they were about
        raise type(e)(f"fit(): validation_data: {e}") from None


def fit(model, x=None, y=None, batch_size=None, epochs=1, verbose="auto", callbacks=None, validation_split=0.0,
        validation_data=None, shuffle=True, class_weight=None, sample_weight=None, initial_epoch=0,
        steps_per_epoch=None, validation_steps=None, validation_batch_size=None, validation_freq=1):
    dist = getattr(model._trainer, "distributed", None)
    loan = Loan(model._trainer.scratch)   # the data's casts and shuffled copies, back to the pool at the end
    try:
        with contextlib.nullcontext() if dist is None else dist.guard("in fit()"):
            # (a failure under the guard is told to the other processes, which would wait for it)
            return _fit(model, x, y, batch_size, epochs, verbose, callbacks, validation_split, validation_data,
                        shuffle, class_weight, sample_weight, initial_epoch, steps_per_epoch, validation_steps,
                        validation_batch_size, validation_freq, loan, dist)
    finally:
        loan.close()


def _fit(model, x, y, batch_size, epochs, verbose, callbacks, validation_split, validation_data, shuffle,
         class_weight, sample_weight, initial_epoch, steps_per_epoch, validation_steps, validation_batch_size,
         validation_freq, loan, dist=None):
    verbose = _check_fit_arguments(batch_size, epochs, verbose, validation_split, initial_epoch, steps_per_epoch,
                                   validation_steps, validation_batch_size, validation_freq)
    if dist is not None and (isinstance(x, Source) or isinstance(validation_data, Source)):
        raise NotImplementedError("fit(): data-parallel training takes arrays (each process its shard); "
                                  "generators and PyDatasets are not supported there yet")
    if isinstance(x, Source):   # a generator / PyDataset: read batch by batch (fgc/training/stream.py)
        data = open_stream(model, x, "fit()", train=True, shuffle=shuffle, class_weight=class_weight, y=y,
                           sample_weight=sample_weight, batch_size=batch_size, validation_split=validation_split,
                           steps=steps_per_epoch, steps_name="steps_per_epoch")
    else:
        data = make_batches(model, x, y, sample_weight, class_weight, loan)
    val = None
    if validation_data is not None:
        val = _validation_batches(model, wrap(validation_data, "fit()", "validation_data"), validation_steps, loan)
    elif validation_split:
        # the last fraction, taken before shuffling (Keras)
        cut = args.split_for_validation(data.n, float(validation_split))
        data, val = data.subset(slice(0, cut)), data.subset(slice(cut, None))
    fixed = _fixed_batch(model)
    split = f" after validation_split={validation_split}" if val is not None and validation_data is None else ""
    if not isinstance(data, Stream):
        batch_size = batch_size_for(fixed, batch_size, data.n, f"fit (training data{split})")
    if isinstance(val, Stream):
        if validation_batch_size is not None:
            raise ValueError(f"fit(): validation_data is {val.source.label}, so validation_batch_size must not be "
                             f"passed: the batches come from it, at the size it gives them")
    elif val is not None:
        validation_batch_size = batch_size_for(fixed, validation_batch_size, val.n, f"fit (validation data{split})",
                                               default=batch_size or 32)
    steps = steps_per_epoch or (data.num_batches if isinstance(data, Stream) else -(-data.n // batch_size))
    _expect_rows(model, batch_size)
    if dist is not None:
        if dist.rank != 0:   # progress, callbacks and checkpoints belong to rank 0; History is everywhere
            verbose, callbacks = 0, None
        dist.begin_fit(_fit_facts(data, val, batch_size, epochs, shuffle, initial_epoch, steps_per_epoch,
                                  validation_steps, validation_batch_size, validation_freq),
                       rank0_callbacks=bool(cbks.as_list(callbacks)), evaluates=val is not None)
    history = cbks.History()
    cb_list = cbks.as_list(callbacks) + ([cbks.ProgbarLogger(verbose)] if verbose else []) + [history]
    cbs = cbks.CallbackList(cb_list, model, {"verbose": verbose, "epochs": epochs, "steps": steps})
    model.history = history
    model.stop_training = False
    trainer = model._trainer
    watch = LossWatch(trainer.step(True).spec.report_outputs, cb_list)
    # a LossScaleOptimizer skips a step with non-finite gradients: the weights stay finite
    watch.silent = watch.silent or getattr(model.optimizer, "skips_nonfinite_steps", False)
    if verbose:
        where = f", data-parallel over {dist.size} processes" if dist is not None else ""
        print(f"fgc: training on {trainer.device}{where} (train step: {trainer.step(True).node_count} onnx nodes)")
    try:
        _fit_epochs(model, data, val, cbs, watch, batch_size, epochs, shuffle, initial_epoch, steps_per_epoch,
                    validation_steps, validation_batch_size, validation_freq, dist)
    except BaseException:
        cbs.release()
        raise
    finally:   # worker pools of PyDatasets end with fit, whatever ended it
        _close(data, val)
    return history


def _close(*sets) -> None:
    for each in sets:
        if isinstance(each, Stream):
            each.close()


def _out_of_data(data, where: str) -> bool:
    """Whether a generator has nothing left for another pass (it cannot start over): warns as Keras does."""
    if isinstance(data, Stream) and data.exhausted():
        ran_out(where, data.source, "interrupting training" if where == "fit()" else "no validation this epoch")
        return True
    return False


def _fit_facts(data, val, batch_size, epochs, shuffle, initial_epoch, steps_per_epoch, validation_steps,
               validation_batch_size, validation_freq) -> dict:
    """What every process of a data-parallel fit must agree on, or their steps fall out of line."""
    return {"the number of training samples": data.n, "batch_size": batch_size, "epochs": epochs,
            "shuffle": bool(shuffle), "initial_epoch": initial_epoch, "steps_per_epoch": steps_per_epoch or 0,
            "the number of validation samples": -1 if val is None else val.n,
            "validation_batch_size": validation_batch_size or 0, "validation_steps": validation_steps or 0,
            "validation_freq": validation_freq}


def _fit_epochs(model, data, val, cbs, watch, batch_size, epochs, shuffle, initial_epoch, steps_per_epoch,
                validation_steps, validation_batch_size, validation_freq, dist=None):
    """Keras' hook order: train_begin, then per epoch epoch_begin, train batches, validation as test
    hooks on the same callbacks, epoch_end; train_end with the last epoch's logs."""
    cbs.on_train_begin()
    # Keras: a callback may move the start in on_train_begin (BackupAndRestore resuming a fit)
    resumed, model._initial_epoch = getattr(model, "_initial_epoch", None), None
    initial_epoch = resumed or initial_epoch
    logs = {}
    shuffled = None   # the arrays each epoch's shuffle is written into, made by the first
    training, validation = EpochLoop(model, True, cbs, watch), EpochLoop(model, False, cbs)
    for epoch in range(initial_epoch, epochs):
        if epoch > initial_epoch and _out_of_data(data, "fit()"):
            break
        cbs.on_epoch_begin(epoch)
        watch.epoch = epoch
        # One shuffled copy per epoch, then batches are views: cheaper than gathering every batch.
        if isinstance(data, Stream):   # a source orders its own batches (PyDataset: shuffled per pass)
            epoch_data = data
        elif shuffle:
            order = initializers.rng().permutation(data.n)
            shuffled = epoch_data = data.shuffled(order if dist is None else dist.same_everywhere(order), shuffled)
        else:
            epoch_data = data
        logs = training.run(epoch_data, batch_size, steps_per_epoch)
        if val is not None and (epoch + 1) % validation_freq == 0 and not _out_of_data(val, "fit(): validation_data"):
            val_logs = _test_pass(model, val, validation_batch_size, validation_steps, cbs, validation)
            logs.update({f"val_{k}": v for k, v in val_logs.items()})
        cbs.on_epoch_end(epoch, logs)
        if model.stop_training if dist is None else dist.agree_stop(model):
            break
    if getattr(model.optimizer, "use_ema", False):   # Keras' finalize_variable_values: the weights become their averages
        model.optimizer.finalize_variable_values(model.trainable_weights)
    cbs.on_train_end(logs)


def _test_pass(model, data, batch_size, steps, cbs, loop: EpochLoop | None = None):
    cbs.on_test_begin()
    logs = (loop or EpochLoop(model, False, cbs)).run(data, batch_size, steps)
    cbs.on_test_end(logs)
    return logs


def evaluate(model, x=None, y=None, batch_size=None, verbose="auto", sample_weight=None, steps=None,
             return_dict=False, callbacks=None):
    dist = getattr(model._trainer, "distributed", None)
    with contextlib.nullcontext() if dist is None else dist.guard("in evaluate()"):
        args.int_at_least("evaluate()", "batch_size", batch_size, 1, optional=True)
        args.int_at_least("evaluate()", "steps", steps, 1, optional=True)
        verbose = args.verbose_level("evaluate()", verbose)
        if dist is not None and dist.rank != 0:   # sharded and reduced; printed and called back on rank 0
            verbose, callbacks = 0, None
        if isinstance(x, Source):
            if dist is not None:
                raise NotImplementedError("evaluate(): data-parallel evaluation takes arrays; generators and "
                                          "PyDatasets are not supported there yet")
            data = open_stream(model, x, "evaluate()", train=False, y=y, sample_weight=sample_weight,
                               batch_size=batch_size, steps=steps)
            n_steps = steps or data.num_batches
        else:
            data = make_batches(model, x, y, sample_weight, loan=Loan(model._trainer.scratch))
            batch_size = batch_size_for(_fixed_batch(model), batch_size, data.n, "evaluate")
            n_steps = steps or -(-data.n // batch_size)
            _expect_rows(model, batch_size)
        cbs = cbks.CallbackList(callbacks or [], model, {"epochs": 1, "steps": n_steps, "verbose": verbose})
        try:
            logs = _test_pass(model, data, batch_size, steps, cbs)
        finally:
            _close(data)
            if not isinstance(data, Stream):
                data.loan.close()
    if verbose:
        print(" - ".join(f"{k}: {float(np.mean(v)):.4f}" for k, v in logs.items()))
    if return_dict:
        return logs
    values = list(logs.values())
    return values[0] if len(values) == 1 else values


def _expect_rows(model, rows) -> None:
    """Tell the trainer the rows per batch of this call: a step built during it sizes its thread pool by the
    work of such a batch (fgc/runtime/threads.py). A step already built keeps its pool."""
    if rows and hasattr(model._trainer, "batch_rows"):
        model._trainer.batch_rows = int(rows)


def on_batch(model, x, y, sample_weight=None, class_weight=None, train=True, return_dict=False):
    data = make_batches(model, x, y, sample_weight, class_weight)
    where = "train_on_batch" if train else "test_on_batch"
    _expect_rows(model, data.n)
    logs = run_epoch(model, data, batch_size_for(_fixed_batch(model), data.n, data.n, where), train)
    if return_dict:
        return logs
    values = list(logs.values())
    return values[0] if len(values) == 1 else values
