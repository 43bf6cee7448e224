"""The data-parallel trainer: gradient graph -> one in-place Allreduce -> update graph, on every process.

Per train step each process:
1. runs the gradient graph on its rows of the global batch; the flat gradient is written straight
   into the reduction buffer (an output bound to it), whose tail then gets the step's reports (batch
   means scaled by the shard's share of the batch), the BatchNorm-style buffer updates (likewise
   weighted) and, from rank 0 only, the learning rate;
2. sums that buffer over the processes with one ``Allreduce`` (plus one per weight too big for the
   flat buffer): the gradient of the global batch's loss, the global reports, the averaged buffers,
   and rank 0's learning rate (so a LearningRateScheduler running on rank 0 reaches every process);
3. refuses the step on every process alike if a check counted bad ids, else runs the update graph
   (the optimizer, ``Optimizer.apply``) and commits weights, slots and buffers in one assignment.

The state stays on the host as numpy arrays (the reduction reads and writes host memory anyway).
The Variable ownership protocol is the base Trainer's, unchanged.
"""
from __future__ import annotations

import contextlib
import dataclasses
import hashlib
import weakref

import numpy as np
import onnxruntime as ort

from fgc.export.onnx import to_onnx
from fgc.runtime import nchwc
from fgc.runtime import session as rt
from fgc.training.runtime import Snapshot, Trainer, trainable_flags
from fgc.training.step import build_step_graph, build_update_graph, keras_value, stored_layouts

from .group import DistributedError


class SplitStep:
    """The train step as two sessions: gradients (forward + backward) and update (optimizer)."""

    def __init__(self, model, compiled, device: str):
        self.graph, grad_spec = build_step_graph(model, compiled, train=True, gradients_only=True)
        update_graph, update_spec = build_update_graph(self.graph, grad_spec, compiled.optimizer)
        self.grad_spec, self.update_spec = grad_spec, update_spec
        # the spec of the whole step, as the base Trainer reads it (layout, state, what is written)
        self.spec = dataclasses.replace(grad_spec, state_inputs=update_spec.state_inputs,
                                        state_init=update_spec.state_init,
                                        update_outputs={**grad_spec.update_outputs, **update_spec.update_outputs})
        grad_proto = to_onnx(self.graph, params_as_inputs=True, doc=f"fgc gradient step of model '{model.name}'")
        update_proto = to_onnx(update_graph, params_as_inputs=True, doc=f"fgc update step of model '{model.name}'")
        self.digest = _digest(grad_proto.graph, update_proto.graph)
        self.grad_session = rt.make_session(nchwc.session_bytes(grad_proto, device), device)
        self.update_session = rt.make_session(update_proto.SerializeToString(), device)
        self.node_count = len(grad_proto.graph.node) + len(update_proto.graph.node)
        self.loop_session = None
        self._model, self._compiled, self._fused = weakref.ref(model), compiled, None

    @property
    def proto(self):
        """The fused train step, for ``export(training=True)``: the file is the same as without MPI."""
        if self._fused is None:
            graph, _ = build_step_graph(self._model(), self._compiled, train=True, layouts=stored_layouts(self.graph))
            self._fused = to_onnx(graph, params_as_inputs=True, doc=f"fgc train step of model '{self._model().name}'")
        return self._fused


class Reduction:
    """The host buffer one Allreduce sums: [flat gradient | reports | buffer updates | lr], plus one
    array per gradient too big for the flat buffer. Views into it name each part."""

    def __init__(self, step: SplitStep):
        spec, graph = step.spec, step.graph
        types = dict(zip(graph.output_names, (graph.type_of(v) for v in graph.outputs)))
        for key, out in spec.grad_outputs.items():
            if types[out].dtype != "float32":
                raise TypeError(f"data-parallel training sums float32 gradients; weight '{key}' is {types[out].dtype}")
        flat = int(np.prod(types["grad/params"].shape)) if "params" in spec.grad_outputs else 0
        self.buffer_names = list(step.grad_spec.update_outputs)     # weights the forward updates (BatchNorm)
        buffer_shapes = [tuple(types[f"new/{n}"].shape) for n in self.buffer_names]
        sizes = [flat, len(spec.report_outputs)] + [int(np.prod(s)) for s in buffer_shapes] + [1]
        self.buf = np.zeros(sum(sizes), np.float32)
        ends = np.cumsum(sizes)
        self.grads = {"params": self.buf[:flat]} if flat else {}
        self.grads.update({k: np.zeros(types[o].shape, np.float32) for k, o in spec.grad_outputs.items() if k != "params"})
        self.bound = {k: ort.OrtValue.ortvalue_from_numpy(g) for k, g in self.grads.items()}
        self.arrays = [self.buf] + [g for k, g in self.grads.items() if k != "params"]
        self.reports = self.buf[ends[0]:ends[1]]
        self.buffers = {n: self.buf[a:b].reshape(s)
                        for n, s, a, b in zip(self.buffer_names, buffer_shapes, ends[1:-2], ends[2:-1])}
        self.lr = self.buf[-1:]
        self.mean_index = [i for i, name in enumerate(spec.report_outputs) if name in spec.batch_means]


class DistributedTrainer(Trainer):
    """A Trainer whose train step is split and summed over the processes of a DataParallel group."""

    def __init__(self, model, compiled, strategy):
        check_splittable(compiled)
        self.strategy = strategy
        self.group = strategy.group
        self.rank, self.size = self.group.rank, self.group.size
        super().__init__(model, compiled)
        self.bind = False
        self._synced = False          # rank 0's state has been broadcast into this trainer's
        self._reduction: Reduction | None = None
        self.sync_stops = False       # rank 0 runs callbacks that may stop fit: agree on it every step

    @property
    def distributed(self) -> "DistributedTrainer":
        return self

    # ------------------------------------------------------------------ compilation and state
    def step(self, train: bool):
        if train and True not in self._steps:
            model = self._model()
            if model is None:
                raise RuntimeError(f"model '{self.model_name}' no longer exists")
            with trainable_flags(self.compiled.trainable_state):
                self._steps[True] = SplitStep(model, self.compiled, self.device)
        return super().step(train)

    def _ortvalue(self, array: np.ndarray):
        return np.array(array, copy=True, order="C")    # host state: the reduction works on host memory

    def _initial_snapshot(self, params, spec, alone) -> Snapshot:
        snapshot = super()._initial_snapshot(params, spec, alone)
        self.bind = False
        return snapshot

    def broadcast_state(self) -> None:
        """Every process takes rank 0's weights, optimizer state and iteration count."""
        self.acquire()
        arrays = self.now.arrays
        count = np.array([self.now.iterations], np.int64)
        self.group.broadcast([arrays[n] for n in sorted(arrays)] + [count], "while taking rank 0's weights")
        self.now = self.now._replace(iterations=int(count[0]))
        if self.rank != 0:
            self._store_unheld()
        self._synced = True

    def _store_unheld(self) -> None:
        """Weights this trainer reads but does not hold (frozen ones) take the broadcast values on the host too."""
        params, spec, alone, _ = self._layout()
        for name in alone + list(spec.weight_inputs):
            var = params[name].variable
            if var._holder is not self:
                var._store(keras_value(params[name], self.now.arrays[name]).astype(var._value.dtype, copy=True))
                self._loaded[var] = var._version

    # ------------------------------------------------------------------ fit's hooks (fgc/training/loop.py)
    @contextlib.contextmanager
    def guard(self, where: str):
        """An exception on this process is told to the others before it propagates, so none waits for it."""
        try:
            yield
        except DistributedError:
            raise
        except BaseException as error:
            self.group.fail(error, where)
            raise

    def begin_fit(self, facts: dict, rank0_callbacks: bool, evaluates: bool) -> None:
        """Check that every process runs the same step on the same amount of data, then broadcast rank 0's state."""
        step = self.step(True)
        if evaluates:
            self.step(False)   # compiled before the check, so no process waits through another's compilation
        row = np.array([step.digest] + [int(v) for v in facts.values()] + [int(rank0_callbacks)], np.int64)
        table = self.group.allgather_rows(row, "while checking that every process runs the same fit")
        for column, what in enumerate(["train step"] + list(facts)):
            differ = [r for r in range(self.size) if table[r, column] != table[0, column]]
            if not differ:
                continue
            if column == 0:
                raise DistributedError(f"rank {differ[0]} compiled a different train step than rank 0 (another "
                                       f"model, loss, metrics or optimizer); every process must build the same model")
            raise DistributedError(f"fit(): {what} is {table[differ[0], column]} on rank {differ[0]} but "
                                   f"{table[0, column]} on rank 0; every process must fit the same data the same way")
        self.sync_stops = bool(table[0, -1])
        self.broadcast_state()

    def same_everywhere(self, permutation: np.ndarray) -> np.ndarray:
        """Rank 0's shuffling order, for every process."""
        permutation = np.ascontiguousarray(permutation, np.int64)
        self.group.broadcast([permutation], "while sharing the epoch's shuffling order")
        return permutation

    def agree_stop(self, model) -> bool:
        """Whether fit stops here: rank 0's callbacks decide (they run there only)."""
        if self.sync_stops:
            flag = np.array([int(bool(model.stop_training))], np.int64)
            self.group.broadcast([flag], "while agreeing whether to stop")
            model.stop_training = bool(flag[0])
        return model.stop_training

    # ------------------------------------------------------------------ running
    def _shard(self, feeds: dict) -> tuple[dict, int, int]:
        """This process's contiguous rows of the global batch, their count and the batch's size."""
        total = next(iter(feeds.values())).shape[0]
        lo, hi = total * self.rank // self.size, total * (self.rank + 1) // self.size
        return {k: v[lo:hi] for k, v in feeds.items()}, hi - lo, total

    def run_many(self, stacked: dict, steps: int) -> list[list[float]]:
        return [self.run(True, {k: v[i] for k, v in stacked.items()}) for i in range(steps)]

    def run(self, train: bool, feeds: dict) -> list[float]:
        compiled = self.step(train)
        self.acquire()
        if not self._synced:
            self.broadcast_state()
        local, count, total = self._shard(feeds)
        if train:
            return self._train(compiled, local, count, total)
        return self._evaluate(compiled, local, count, total)

    def _evaluate(self, compiled, local: dict, count: int, total: int) -> list[float]:
        spec = compiled.spec
        reports = np.zeros(len(spec.report_outputs), np.float32)
        if count:
            values, _, _ = self._run_host(compiled, self.now, False, dict(local))
            reports[:] = [float(v) for v in values]
            means = [i for i, name in enumerate(spec.report_outputs) if name in spec.batch_means]
            reports[means] *= np.float32(count / total)
        self.group.allreduce_sum([reports], "while summing the evaluation results")
        return self._checked(list(reports), spec)

    def _train(self, step: SplitStep, local: dict, count: int, total: int) -> list[float]:
        if self._reduction is None:
            self._reduction = Reduction(step)
        red, spec, now = self._reduction, step.spec, self.now
        share = np.float32(count / total)
        if count:
            reports, buffers = self._gradients(step, now, local, red)
            red.reports[:] = reports
            red.reports[red.mean_index] *= share
            for name, value in zip(red.buffer_names, buffers):
                np.multiply(value, share, out=red.buffers[name])
        else:   # more processes than rows in this (last) batch: contribute nothing
            for array in red.arrays:
                array[:] = 0
        red.lr[0] = self.compiled.optimizer.current_lr(now.iterations) if self.rank == 0 else 0.0
        self.group.allreduce_sum(red.arrays, f"while summing the gradients of step {now.iterations + 1}")
        logs = self._checked(list(red.reports), spec)   # the same counts everywhere: all refuse, or none
        feeds = {key: now.arrays[key] for key in spec.params}
        feeds.update({spec.grad_outputs[key]: red.grads[key] for key in spec.params})
        feeds.update({name: now.arrays[name] for name in spec.state_inputs})
        feeds["lr"], feeds["step"] = red.lr.reshape(()), np.array(now.iterations, np.float32)
        updated = list(step.update_spec.update_outputs.items())
        outs = step.update_session.run([out for _, out in updated], feeds)
        new_state = {name: value for (name, _), value in zip(updated, outs)}
        new_state.update({name: red.buffers[name].copy() for name in red.buffer_names})
        self._commit(now, new_state, now.spare)
        return logs

    def _gradients(self, step: SplitStep, now: Snapshot, local: dict, red: Reduction):
        """Run the gradient graph; the gradients land in the reduction buffer. Returns (reports, buffer updates)."""
        spec = step.spec
        io = step.grad_session.io_binding()
        for name, array in local.items():
            io.bind_cpu_input(name, np.ascontiguousarray(array))
        for name in spec.params + spec.weight_inputs:
            io.bind_cpu_input(name, now.arrays[name])
        small = spec.report_outputs + [f"new/{n}" for n in red.buffer_names]
        for name in small:
            io.bind_output(name, "cpu")
        for key, out in spec.grad_outputs.items():
            io.bind_ortvalue_output(out, red.bound[key])
        step.grad_session.run_with_iobinding(io)
        outs = io.get_outputs()
        values = [outs[i].numpy() for i in range(len(small))]
        k = len(spec.report_outputs)
        return np.array([float(v) for v in values[:k]], np.float32), values[k:]


def _digest(*graphs) -> int:
    """A fingerprint of what every process must agree on: the graphs without their random seeds (an
    unseeded Dropout draws a different seed in each process, and independent masks per shard are right)."""
    sha = hashlib.sha256()
    for graph in graphs:
        copy = type(graph)()
        copy.CopyFrom(graph)
        _drop_seeds(copy)
        sha.update(copy.SerializeToString())
    return int.from_bytes(sha.digest()[:8], "little", signed=True)


def _drop_seeds(graph) -> None:
    for node in graph.node:
        kept = [a for a in node.attribute if a.name != "seed"]
        del node.attribute[:]
        node.attribute.extend(kept)
        for attribute in node.attribute:
            if attribute.HasField("g"):      # a Scan / Loop body
                _drop_seeds(attribute.g)


def check_splittable(compiled) -> None:
    """Reductions whose batch value is not a sum of per-process parts cannot be split over processes."""
    for name, loss in compiled.losses.items():
        if loss.reduction == "mean_with_sample_weight":
            raise ValueError(f"compile(distribute=...): the loss of output '{name}' uses reduction="
                             f"'mean_with_sample_weight', whose batch value is not a sum over the processes' "
                             f"shards; use 'sum_over_batch_size' (the default) or 'sum'")
        if getattr(loss, "couples_samples", False):
            raise ValueError(f"compile(distribute=...): the loss of output '{name}' ({type(loss).__name__}) "
                             f"compares the samples of a batch with each other, so its value on a shard is not a "
                             f"part of the batch's; data-parallel training does not split it")
        if getattr(loss, "ignore_class", None) is not None:
            raise ValueError(f"compile(distribute=...): the loss of output '{name}' uses ignore_class, whose mean "
                             f"runs over the valid ids of each shard; data-parallel training does not split it "
                             f"yet: drop ignore_class and give those samples sample_weight 0")
