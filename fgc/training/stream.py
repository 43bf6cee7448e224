"""fit / evaluate / predict over a batch source (fgc/training/sources.py), one batch at a time.

``Stream`` stands where ``loop.Batches`` stands for arrays (``arrays`` keys, ``chunks``, ``weight_scale``),
so the training loop runs either unchanged. Each batch goes through the same checks and casts as array
data (``loop.make_batches``), and an error names the batch. Epochs follow Keras' EpochIterator:

- without ``steps``, an epoch is one pass: every batch of a PyDataset (in a new order each epoch with
  ``shuffle=True``), or a generator until it is exhausted;
- with ``steps``, an epoch is that many batches, and training epochs continue where the previous one
  stopped; a pass that ends first ends the epoch with Keras' "ran out of data" warning;
- a generator exhausted before an epoch starts ends fit with that warning (it cannot start over).
"""
from __future__ import annotations

import warnings

import numpy as np

from fgc.naming import outside_stacklevel

from .sources import Source, SequenceSource, unpack


def ran_out(where: str, source: Source, what: str) -> None:
    """Keras' warning when data ends before the steps asked for (or before the next epoch)."""
    if source.reiterable:
        hint = "pass fewer steps, or leave them out to end each epoch when a pass ends"
    else:
        hint = ("a generator is read once: for several epochs make it endless and pass steps_per_epoch "
                "(validation_steps, steps), or use an fgc.utils.PyDataset, which starts over every epoch")
    warnings.warn(f"{where}: {source.label} ran out of data; {what}. Make sure it can give at least "
                  f"steps_per_epoch * epochs batches: {hint}", UserWarning, stacklevel=outside_stacklevel())


def check_arguments(source: Source, where: str, y=None, sample_weight=None, class_weight=None, batch_size=None,
                    shuffle=False, validation_split=0.0, steps=None, steps_name="steps") -> bool:
    """Keras' rules for what may come with a batch source; returns whether to shuffle the batch order."""
    about = f"{where}: x is {source.label}, so"
    carried = "each batch carries it: yield (x, y) or (x, y, sample_weight)"
    if y is not None:
        raise ValueError(f"{about} y must not be passed: {carried}")
    if sample_weight is not None:
        raise ValueError(f"{about} sample_weight must not be passed: {carried}")
    if class_weight is not None and not isinstance(source, SequenceSource) and source.kind != "tf.data.Dataset":
        raise ValueError(f"{about} class_weight is not supported (as in Keras): give each batch its sample "
                         f"weights, (x, y, sample_weight), or use an fgc.utils.PyDataset")
    if batch_size is not None:
        raise ValueError(f"{about} batch_size must not be passed: the batches come from it, at the size it "
                         f"gives them")
    if validation_split:
        raise ValueError(f"{about} validation_split is not supported (it needs arrays to cut); pass "
                         f"validation_data= instead")
    if isinstance(source, SequenceSource) and source.num_batches is None and steps is None:
        raise ValueError(f"{about} its number of batches is None (endless): pass {steps_name}= to say how many "
                         f"batches make an epoch")
    if not shuffle:
        return False
    if isinstance(source, SequenceSource) and source.num_batches is not None:
        return True
    warnings.warn(f"{where}: shuffle=True is ignored because x is {source.label}, which is expected to give its "
                  f"batches already shuffled", UserWarning, stacklevel=outside_stacklevel())
    return False


class Stream:
    """One model's view of a source: its batches as the step's feeds (see the module docstring)."""

    n = None   # samples are not known in advance

    def __init__(self, model, source: Source, where: str, train: bool, class_weight=None, shuffle=False):
        from .loop import _fixed_batch

        self.model, self.source, self.where, self.train = model, source, where, train
        self.class_weight, self.shuffle = class_weight, shuffle
        self.fixed = _fixed_batch(model)
        self.epochs = 0
        first = self._prepare(source.first(), "batch 0")   # checks the data before any step runs
        self.arrays = dict.fromkeys(first.arrays)
        self.loss_elements = first.loss_elements

    @property
    def num_batches(self):
        return self.source.num_batches

    def weight_scale(self, key: str, batch_n: int) -> float:
        from .loop import weight_scale

        return weight_scale(self.loss_elements, key, batch_n)

    def _prepare(self, raw, position: str):
        from .loop import make_batches

        label = f"{self.where}: {self.source.label}, {position}"
        try:
            x, y, sample_weight = unpack(raw, label)
            if sample_weight is not None and self.class_weight is not None:
                raise ValueError("class_weight and per-batch sample weights cannot be combined (as in Keras): "
                                 "fold the class weights into the sample weights")
            batch = make_batches(self.model, x, y, sample_weight, self.class_weight)
        except (ValueError, TypeError) as error:
            if str(error).startswith(label):
                raise
            raise type(error)(f"{label}: {error}") from None
        if self.fixed is not None and batch.n != self.fixed:
            raise ValueError(f"{label} holds {batch.n} samples, but the model's inputs have a fixed batch size of "
                             f"{self.fixed}; every batch must hold exactly {self.fixed}")
        return batch

    def exhausted(self) -> bool:
        """Whether a one-shot source has nothing left (it cannot start over)."""
        return not self.source.reiterable and self.source.at_end()

    def _start_epoch(self, limit) -> None:
        self.epochs += 1
        source = self.source
        continuing = self.train and limit is not None   # Keras: steps-long epochs walk on through the data
        if source.reiterable and (not continuing or source.at_end()):
            source.start_pass(self.epochs if self.shuffle else None)   # Keras' seed: the epoch, from 1

    def _batches(self, limit):
        source, count = self.source, 0
        while limit is None or count < limit:
            if limit is not None and source.reiterable and source.at_end() and count:
                ran_out(self.where, source, "this epoch ends early")
                return
            try:
                raw = source.next()
            except StopIteration:
                if limit is not None:
                    ran_out(self.where, source, "this epoch ends early" if count else "no batch was left")
                return
            count += 1
            yield self._prepare(raw, source.position())

    def chunks(self, batch_size, group: int = 1, limit: int | None = None, keys=None):
        """One epoch (or evaluation pass): (feeds, batch sizes), up to ``group`` equal-shaped batches stacked."""
        self._start_epoch(limit)
        self.source.epoch_begin()
        try:
            pending = []
            for batch in self._batches(limit):
                if pending and not _same_shapes(pending[0], batch):
                    yield self._emit(pending, keys)
                    pending = []
                pending.append(batch)
                if len(pending) >= group:
                    yield self._emit(pending, keys)
                    pending = []
            if pending:
                yield self._emit(pending, keys)
        finally:   # also when the loop stops early (stop_training): CPython closes the generator at once
            self.source.epoch_end()

    def _emit(self, batches, keys):
        # run_epoch reads weight_scale for these results before it asks for more: they share the shapes
        self.loss_elements = batches[0].loss_elements
        parts = [next(b.chunks(b.n, 1, None, keys))[0] for b in batches]
        sizes = [b.n for b in batches]
        if len(parts) == 1:
            return parts[0], sizes
        return {k: np.stack([p[k] for p in parts]) for k in parts[0]}, sizes

    def close(self) -> None:
        self.source.close()


def _same_shapes(a, b) -> bool:
    return all(a.arrays[k].shape == b.arrays[k].shape for k in a.arrays)


def open_stream(model, source: Source, where: str, train: bool, shuffle=False, class_weight=None, **refused):
    """A Stream over ``source`` after Keras' argument checks (``refused``: y, sample_weight, batch_size, ...)."""
    order = check_arguments(source, where, class_weight=class_weight, shuffle=shuffle, **refused)
    return Stream(model, source, where, train, class_weight, order)


def predict(model, source: Source, batch_size, steps, callbacks):
    """``model.predict`` over a source: the outputs of every batch, concatenated."""
    from .callbacks import CallbackList

    where = "predict()"
    check_arguments(source, where, batch_size=batch_size, steps=steps)
    model._ensure_built(source)
    runner = model._runner()
    fixed = _fixed_batch_of(model)
    cbs = CallbackList(callbacks or [], model, {"epochs": 1, "steps": steps or source.num_batches, "verbose": 0})
    begin, end = cbs.batch_hooks("predict")
    cbs.on_predict_begin()
    chunks = []
    try:
        if source.reiterable:
            source.start_pass()
        source.epoch_begin()
        while steps is None or len(chunks) < steps:
            try:
                raw = source.next()
            except StopIteration:
                if steps is not None:
                    ran_out(where, source, f"predict stops after {len(chunks)} of steps={steps} batches")
                break
            arrays = _inputs_of(model, raw, f"{where}: {source.label}, {source.position()}", fixed)
            if begin is not None:
                begin(len(chunks))
            chunks.append(runner.run(arrays))
            if end is not None:
                end(len(chunks) - 1, {"outputs": model._format_outputs(chunks[-1])})
        source.epoch_end()
    finally:
        source.close()
    cbs.on_predict_end()
    outs = [np.concatenate([c[k] for c in chunks], axis=0) for k in range(len(chunks[0]))]
    return model._format_outputs(outs)


def _fixed_batch_of(model):
    from .loop import _fixed_batch

    return _fixed_batch(model)


def _inputs_of(model, raw, label, fixed):
    try:
        arrays = model._prepare_inputs(unpack(raw, label)[0])
    except (ValueError, TypeError) as error:
        if str(error).startswith(label):
            raise
        raise type(error)(f"{label}: {error}") from None
    if fixed is not None and arrays[0].shape[0] != fixed:
        raise ValueError(f"{label} holds {arrays[0].shape[0]} samples, but the model's inputs have a fixed batch "
                         f"size of {fixed}; every batch must hold exactly {fixed}")
    return arrays


