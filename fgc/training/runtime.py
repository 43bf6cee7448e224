"""Running the compiled train and evaluation steps with the weights kept on the device.

On CUDA, weights and optimizer state are OrtValues on the GPU. Each train step binds the
current set as inputs and a second, preallocated set as outputs, then swaps them (never one
buffer as both input and output). Only the report scalars (loss, metrics) come back to the
host each step.

On the CPU, for a small state (under 1 MiB), the state is numpy arrays fed to a plain ``run``:
its outputs are fresh arrays that become the next step's inputs (the same ping-pong, with
onnxruntime allocating). That costs ~15 us less per step than binding on the seed MLP; for big
states (the QA model's embeddings) the fresh allocations cost more than binding saves (73 vs 60
ms per step), so those bind preallocated buffers as on CUDA.

Weight ownership (fgc/variables.py): the Trainer is the *holder* of the Variables its step
updates while its device copy is the newest; any reader of those Variables calls ``release``,
which writes them back. Before each step ``acquire`` reloads whatever another model, a
``set_weights`` or a load changed since, in one integer comparison when nothing did.

Commit: a step's results become the trainer's state in one assignment of a ``Snapshot``
(arrays, ping-pong partners, iteration count) after every check passed, so an interrupt or a
refused step never leaves weights, optimizer slots and ``iterations`` out of step.
"""
from __future__ import annotations

import contextlib
import warnings
import weakref
from typing import NamedTuple

import numpy as np
import onnx
import onnxruntime as ort

from fgc import variables
from fgc.export.onnx import to_onnx
from fgc.naming import outside_stacklevel
from fgc.primitives.scan_grad import built_for_pool
from fgc.runtime import nchwc
from fgc.runtime import session as rt
from fgc.runtime.schedule import memory_schedule
from fgc.runtime.threads import pool_threads, step_threads

from .scratch import ScratchArrays
from .step import build_step_graph, keras_value, stored_layouts, stored_value

HOST_STATE_LIMIT = 1 << 20  # bytes of weights + optimizer state below which the CPU uses plain run


class CompiledStep:
    def __init__(self, model, compiled, train: bool, device: str, layouts: dict | None = None,
                 assume_equal_lengths: bool = False, batch_rows: int | None = None):
        def build(pooled: bool):
            # the reverse loops' form depends on the session's thread count (fgc/primitives/scan_grad.py)
            with built_for_pool(pooled) as rule:
                graph, spec = build_step_graph(model, compiled, train=train, layouts=layouts,
                                               assume_equal_lengths=assume_equal_lengths)
            return graph, spec, rule.thread_dependent

        pooled = device == "cpu" and pool_threads() > 1
        self.graph, self.spec, thread_dependent = build(pooled)
        # a step with little arithmetic per batch runs on one thread (fgc/runtime/threads.py)
        self.threads = step_threads(self.graph, batch_rows) if device == "cpu" else None
        if pooled and self.threads == 1 and thread_dependent:   # a small step: its session has one thread
            self.graph, self.spec, _ = build(False)
        self.proto = to_onnx(self.graph, params_as_inputs=True,
                             doc=f"fgc {'train' if train else 'evaluation'} step of model '{model.name}'")
        memory_schedule(self.proto)   # node order = onnxruntime's run order: fewer activations alive at once
        # a model with a large state has large activations too, as a rule: no memory pattern (make_session)
        self.mem_pattern = static_input_bytes(self.proto) <= HOST_STATE_LIMIT
        # the session's copy runs onnxruntime's blocked conv kernels where they apply (fgc/runtime/nchwc.py)
        self.session = rt.make_session(nchwc.session_bytes(self.proto, device), device, mem_pattern=self.mem_pattern,
                                       threads=self.threads)
        self.node_count = len(self.proto.graph.node)
        self.loop_session = None  # the same step inside an ONNX Loop, built on first multi-step use
        # what every host-side run feeds and fetches, listed once rather than per step
        spec = self.spec
        self.state_names = tuple(spec.params + spec.weight_inputs + (spec.state_inputs if train else []))
        self.updated = tuple(spec.update_outputs) if train else ()
        self.fetched = list(spec.report_outputs) + [spec.update_outputs[n] for n in self.updated]
        self.run_direct = rt.direct_run(self.session)   # every input is fed each step: no wrapper checks
        self.scalar_reports = scalar_reports(self.proto, spec.report_outputs)


def scalar_reports(proto, reports) -> bool:
    """Whether every report output (loss, metrics) of the step is a scalar in its graph."""
    ranks = {o.name: len(o.type.tensor_type.shape.dim) if o.type.tensor_type.HasField("shape") else None
             for o in proto.graph.output}
    return all(ranks.get(name) == 0 for name in reports)


def _logs(reports) -> list:
    # scalars become floats; the state of stateful metrics (arrays) goes back to the loop as it is
    return [float(v) if v.ndim == 0 else v for v in reports]


def static_input_bytes(proto) -> int:
    """Bytes of the step's inputs whose shapes are all fixed: the weights and the optimizer state."""
    total = 0
    for value in proto.graph.input:
        dims = value.type.tensor_type.shape.dim
        if dims and all(d.HasField("dim_value") for d in dims):
            itemsize = onnx.helper.tensor_dtype_to_np_dtype(value.type.tensor_type.elem_type).itemsize
            total += itemsize * int(np.prod([d.dim_value for d in dims]))
    return total


def dims_agree(feeds: dict, groups: list, axis_offset: int = 0) -> bool:
    """Whether each group of (input, axis) dims has one size in ``feeds`` (stacked batches: axis_offset 1)."""
    for group in groups:
        (name, axis), *others = group
        size = feeds[name].shape[axis + axis_offset]
        if any(feeds[n].shape[a + axis_offset] != size for n, a in others):
            return False
    return True


_new_tuple = tuple.__new__


class Snapshot(NamedTuple):
    """Everything a step changes, replaced as one object."""

    arrays: dict       # input name -> array or OrtValue: weights and optimizer state
    spare: dict        # bound mode: the ping-pong partner of each updated entry
    iterations: int    # train steps taken (Keras' optimizer.iterations)


@contextlib.contextmanager
def trainable_flags(state: dict):
    """Build under the trainable flags a model was compiled with (Keras 3), then restore today's."""
    now = {layer: layer._trainable for layer in state}
    for layer, flag in state.items():
        layer._trainable = flag
    try:
        yield
    finally:
        for layer, flag in now.items():
            layer._trainable = flag


class Trainer:
    """Owns the compiled steps of one compiled model, the device copy of its weights and its
    optimizer state."""

    def __init__(self, model, compiled):
        self._model = weakref.ref(model)   # the model owns the trainer, not the other way round
        self.model_name = model.name
        self.scratch = ScratchArrays()     # fit's and evaluate's data-sized arrays, for the next call
        self.compiled = compiled
        self.device = rt.get_device()
        self.ort_device = "cuda" if self.device == "cuda" else "cpu"
        self._steps: dict[bool, CompiledStep] = {}
        self._general: CompiledStep | None = None   # the train step for batches the primary's assumptions miss
        # rows per batch of the latest fit / evaluate / train_on_batch: a step built during it sizes its thread pool
        self.batch_rows: int | None = None
        self.now: Snapshot | None = None
        self._iterations = int(compiled.optimizer.iterations)   # until the first snapshot
        self._loaded: dict = {}            # Variable -> the version the device state holds
        self._holding = False              # this trainer holds every Variable its step writes
        self._seen = -1                    # the variables clock at the last acquire
        self._adopted_slots: dict = {}     # Variable -> {slot: Keras-layout value}, from adopt_optimizer_state
        self._adopted_globals: dict = {}
        self._warned_flags = False
        self.bind = self.ort_device != "cpu"
        compiled.optimizer._attach(self)

    # ------------------------------------------------------------------ compilation
    def step(self, train: bool) -> CompiledStep:
        if train not in self._steps:
            model = self._model()
            if model is None:
                raise RuntimeError(f"model '{self.model_name}' no longer exists")
            # the evaluation step reads the train step's device state, so it takes the train step's layouts
            layouts = None if train else stored_layouts(self.step(True).graph)
            # The train step assumes the inputs' unknown lengths are equal wherever that lets it fuse recurrences
            # (passes/fuse_scans.py); a batch whose lengths differ runs general_step() instead.
            with trainable_flags(self.compiled.trainable_state):
                self._steps[train] = CompiledStep(model, self.compiled, train, self.device, layouts,
                                                  assume_equal_lengths=train, batch_rows=self.batch_rows)
        return self._steps[train]

    def general_step(self) -> CompiledStep:
        """The train step that runs any batch: the primary one unless it was specialised on equal lengths."""
        primary = self.step(True)
        if not primary.spec.equal_dims:
            return primary
        if self._general is None:
            model = self._model()
            if model is None:
                raise RuntimeError(f"model '{self.model_name}' no longer exists")
            with trainable_flags(self.compiled.trainable_state):
                self._general = CompiledStep(model, self.compiled, True, self.device, stored_layouts(primary.graph),
                                             batch_rows=self.batch_rows)
        return self._general

    def _train_step(self, feeds: dict, axis_offset: int = 0) -> CompiledStep:
        """The primary train step when the batch's lengths agree with what it assumed, else the general one."""
        compiled = self.step(True)
        if compiled.spec.equal_dims and not dims_agree(feeds, compiled.spec.equal_dims, axis_offset):
            return self.general_step()
        return compiled

    @property
    def iterations(self) -> int:
        return self.now.iterations if self.now is not None else self._iterations

    @iterations.setter
    def iterations(self, value: int) -> None:
        if self.now is None:
            self._iterations = int(value)
        else:
            self.now = self.now._replace(iterations=int(value))

    # ------------------------------------------------------------------ where each weight lives
    def _layout(self):
        """(params, flat names, weights by name, written names) of the train step's state."""
        compiled = self.step(True)
        spec, params = compiled.spec, compiled.graph.params
        alone = [n for n in spec.params if n != "params"]
        written = list(spec.slices) + alone + [n for n in spec.weight_inputs if n in spec.update_outputs]
        return params, spec, alone, written

    def _stored(self, params, name: str) -> np.ndarray:
        return stored_value(params[name], params[name].variable.read())

    def _flat(self, params, spec, values: dict) -> np.ndarray:
        """The flat ``params`` buffer from per-weight stored values (name -> array)."""
        return np.concatenate([values[n].reshape(-1) for n in spec.slices]).astype(np.float32)

    def _ortvalue(self, array: np.ndarray):
        array = np.asarray(array)
        array = array if array.flags.c_contiguous else np.ascontiguousarray(array)  # (which makes a 0-d array 1-d)
        if not self.bind:
            return array.copy()
        return ort.OrtValue.ortvalue_from_numpy(array, self.ort_device, 0)

    @staticmethod
    def _host(value) -> np.ndarray:
        return value if isinstance(value, np.ndarray) else value.numpy()

    # ------------------------------------------------------------------ the ownership protocol
    def acquire(self) -> None:
        """Make the device state the newest copy of every weight the step reads, and hold the ones it writes."""
        if self._holding and self._seen == variables.clock():
            return
        self._warn_if_flags_changed()
        params, spec, alone, written = self._layout()
        names = list(spec.slices) + alone + list(spec.weight_inputs)
        changed = []
        for name in names:
            var = params[name].variable
            if var._holder is self:
                continue
            var.read()  # another runtime's newer copy comes home first
            if self._loaded.get(var) != var._version:
                changed.append(name)
        if self.now is None:
            self.now = self._initial_snapshot(params, spec, alone)
        elif changed:
            self.now = self.now._replace(arrays=self._patched(params, spec, changed))
        for name in names:
            self._loaded[params[name].variable] = params[name].variable._version
        for name in written:
            params[name].variable._holder = self
        self._holding = True
        self._seen = variables.tick()

    def release(self) -> None:
        """Write the newest weights back to their Variables; the device copy stays valid for the next step."""
        if self.now is None or not self._steps:
            self._holding = False
            return
        params, spec, alone, written = self._layout()
        mine = [n for n in written if params[n].variable._holder is self]
        if mine:
            flat = self._host(self.now.arrays["params"]) if spec.slices else None
            for name in mine:
                var = params[name].variable
                if name in spec.slices:
                    offset, size, shape = spec.slices[name]
                    stored = flat[offset:offset + size].reshape(shape)
                else:
                    stored = self._host(self.now.arrays[name])
                var._store(keras_value(params[name], stored).astype(var._value.dtype, copy=True))
                self._loaded[var] = var._version
        self._holding = False

    def _initial_snapshot(self, params, spec, alone) -> Snapshot:
        values = {n: self._stored(params, n) for n in list(spec.slices) + alone + list(spec.weight_inputs)}
        arrays = {}
        if spec.slices:
            arrays["params"] = self._flat(params, spec, values)
        arrays.update({n: values[n] for n in alone + list(spec.weight_inputs)})
        arrays.update(self._initial_slots(params, spec))
        size = sum(a.nbytes for a in arrays.values())
        self.bind = self.ort_device != "cpu" or size > HOST_STATE_LIMIT
        return Snapshot({n: self._ortvalue(a) for n, a in arrays.items()}, {}, self._iterations)

    def _patched(self, params, spec, changed: list[str]) -> dict:
        """The state arrays with the changed weights reloaded from their Variables (optimizer state kept)."""
        arrays = dict(self.now.arrays)
        in_flat = [n for n in changed if n in spec.slices]
        if in_flat:
            flat = self._host(arrays["params"]).copy()
            for name in in_flat:
                offset, size, _ = spec.slices[name]
                flat[offset:offset + size] = self._stored(params, name).reshape(-1)
            arrays["params"] = self._ortvalue(flat)
        for name in changed:
            if name not in spec.slices:
                arrays[name] = self._ortvalue(self._stored(params, name))
        return arrays

    def _warn_if_flags_changed(self) -> None:
        model = self._model()
        if self._warned_flags or model is None or not self.compiled.trainable_state:
            return
        changed = [layer.name for layer, flag in self.compiled.trainable_state.items() if layer._trainable != flag]
        if changed:
            self._warned_flags = True
            warnings.warn(f"model '{self.model_name}': the trainable flag of {changed} changed since compile(); "
                          f"this model keeps training with the flags it was compiled with (as Keras 3 does). "
                          f"Call compile() again for the change to take effect.", stacklevel=outside_stacklevel())

    # ------------------------------------------------------------------ optimizer state by variable
    def _initial_slots(self, params, spec) -> dict:
        """Zero-filled (or the optimizer's initial value) slots, except those adopted from a previous trainer."""
        out = {}
        for name, (shape, init) in spec.state_init.items():
            key = name.split("/", 2)
            if len(key) == 2:                                   # opt/<global slot>
                out[name] = np.array(self._adopted_globals.get(key[1], init), np.float32).reshape(shape)
            elif key[2] == "params":                            # opt/<slot>/params: the flat buffer's slots
                out[name] = self._flat(params, spec, {
                    n: self._adopted_slot(params, n, key[1], init, spec.slices[n][2]) for n in spec.slices})
            else:
                out[name] = self._adopted_slot(params, key[2], key[1], init, shape)
        return out

    def _adopted_slot(self, params, name: str, slot: str, init: float, shape: tuple) -> np.ndarray:
        """A slot in the stored layout ``shape``: adopted from a previous trainer, else filled with ``init``."""
        value = self._adopted_slots.get(params[name].variable, {}).get(slot)
        if value is None:
            return np.full(shape, init, np.float32)
        return stored_value(params[name], value).astype(np.float32)

    def slot_values(self) -> tuple[dict, dict]:
        """({Variable: {slot: Keras-layout value}}, {global slot: value}) of the current optimizer state."""
        if self.now is None or not self._steps:
            return dict(self._adopted_slots), dict(self._adopted_globals)
        params, spec, alone, _ = self._layout()
        per_var, glob = {}, {}
        for name in spec.state_init:
            key = name.split("/", 2)
            value = self._host(self.now.arrays[name])
            if len(key) == 2:
                glob[key[1]] = np.array(value)
            elif key[2] == "params":
                for n, (offset, size, shape) in spec.slices.items():
                    per_var.setdefault(params[n].variable, {})[key[1]] = keras_value(
                        params[n], value[offset:offset + size].reshape(shape)).copy()
            else:
                per_var.setdefault(params[key[2]].variable, {})[key[1]] = keras_value(params[key[2]], value).copy()
        return per_var, glob

    def optimizer_state(self) -> tuple[list, dict, dict]:
        """(trainable Variables in the model's weight order, {Variable: {slot: Keras-layout value}},
        {global slot: value}): Keras' optimizer.variables, with initial values before any step."""
        compiled, opt = self.step(True), self.compiled.optimizer
        params, spec = compiled.graph.params, compiled.spec
        names = list(spec.slices) + [n for n in spec.params if n != "params"]
        per_var, glob = self.slot_values()
        variables = [params[n].variable for n in names]
        for var in variables:
            slots = per_var.setdefault(var, {})
            for slot in opt.slots:
                shape = opt.slot_shape(slot, var.shape) if hasattr(opt, "slot_shape") else var.shape
                slots.setdefault(slot, np.full(shape, opt.slot_init(slot), np.float32))
        for slot in opt.global_slots:
            glob.setdefault(slot, np.array(opt.global_init(slot), np.float32))
        model = self._model()
        if model is not None:
            order = {id(v): i for i, v in enumerate(model.weights)}
            variables.sort(key=lambda v: order.get(id(v), len(order)))
        return variables, per_var, glob

    def overwrite_with_slot(self, slot: str, variables=None) -> None:
        """Assign each trainable weight (of ``variables``, default all) its value of ``slot`` (EMA's
        ``average``): Keras' finalize_variable_values."""
        wanted = None if variables is None else {id(v) for v in variables}
        per_var, _ = self.slot_values()
        for var, slots in per_var.items():
            if slot in slots and (wanted is None or id(var) in wanted):
                var.assign(slots[slot])

    def swap_with_slot(self, slot: str) -> None:
        """Exchange every trainable weight with its value of ``slot`` (SwapEMAWeights)."""
        self._replace_slot(slot, swap=True)

    def copy_weights_to_slot(self, slot: str) -> None:
        """Set ``slot`` to the current weights (SwapEMAWeights' last epoch)."""
        self._replace_slot(slot, swap=False)

    def _replace_slot(self, slot: str, swap: bool) -> None:
        self.release()
        iterations = self.iterations
        per_var, glob = self.slot_values()
        for var, slots in per_var.items():
            if slot in slots:
                weights = np.array(var.numpy(), np.float32)
                if swap:
                    var.assign(slots[slot])
                slots[slot] = weights
        self.load_optimizer_state(iterations, per_var, glob)

    def load_optimizer_state(self, iterations: int, per_var: dict, glob: dict, learning_rate=None) -> None:
        """Continue from saved optimizer state: the next step starts from these slots and this count."""
        self.release()
        self._adopted_slots, self._adopted_globals = dict(per_var), dict(glob)
        self.now, self._loaded, self._holding = None, {}, False
        self._iterations = int(iterations)
        if learning_rate is not None:
            self.compiled.optimizer.learning_rate = learning_rate

    def adopt_optimizer_state(self, previous: "Trainer") -> None:
        """Start from another trainer's slots (a recompile with the same optimizer keeps its state)."""
        self._adopted_slots, self._adopted_globals = previous.slot_values()
        self._iterations = previous.iterations

    # ------------------------------------------------------------------ running
    @staticmethod
    def _checked(reports, spec) -> list[float]:
        """The log values of a step, after refusing it if a check counted bad values (nothing is committed)."""
        if spec.checks:
            rt.raise_failed_checks(spec.report_outputs, reports, spec.checks)
            reports = reports[:len(reports) - len(spec.checks)]
        return _logs(reports)

    def run_many(self, stacked: dict, steps: int) -> list[list[float]]:
        """``steps`` train steps on batches stacked (steps, batch, ...): with a host-side state, one
        onnxruntime call runs them all through the compiled step wrapped in a Loop."""
        compiled = self.step(True)
        self.acquire()   # first: the first snapshot decides ``bind`` (a state over HOST_STATE_LIMIT binds)
        if self.bind or self._train_step(stacked, axis_offset=1) is not compiled:
            return [self.run(True, {k: v[i] for k, v in stacked.items()}) for i in range(steps)]
        now, spec, opt = self.now, compiled.spec, self.compiled.optimizer
        if compiled.loop_session is None:
            from .multistep import loop_proto

            compiled.loop_session = rt.make_session(nchwc.session_bytes(loop_proto(compiled.proto, spec), self.device),
                                                    self.device, mem_pattern=compiled.mem_pattern,
                                                    threads=compiled.threads)
        lrs = [opt.current_lr(now.iterations + k) for k in range(steps)]
        feeds = {f"stack/{k}": v for k, v in stacked.items()}
        feeds.update({"steps": np.array(steps, np.int64), "stack/lr": np.array(lrs, np.float32),
                      "step0": np.array(now.iterations, np.float32)})
        carried = list(spec.update_outputs)
        feeds.update({f"init/{n}": now.arrays[n] for n in carried})
        feeds.update({n: now.arrays[n] for n in spec.weight_inputs if n not in spec.update_outputs})
        outs = compiled.loop_session.run([f"final/{n}" for n in carried] +
                                         [f"reports/{r}" for r in spec.report_outputs], feeds)
        rows = [self._checked(list(row), spec) for row in np.stack(outs[len(carried):], axis=1)]
        self._commit(now, zip(carried, outs), now.spare, steps)
        return rows

    def _commit(self, now: Snapshot, updated, spare: dict, steps: int = 1) -> None:
        """The next snapshot, ``now`` with the updated state, in one assignment (nothing before it is visible)."""
        arrays = dict(now.arrays)
        arrays.update(updated)
        # made as Snapshot._make makes it: the NamedTuple's Python __new__ cost ~2.5k instructions a step
        self.now = _new_tuple(Snapshot, (arrays, spare, now.iterations + steps))

    def runner(self, train: bool):
        """``feeds -> logs``: the same as ``run(train, feeds)``, for a loop that calls it once per batch.

        With the state on the host (the CPU's small models) and a step without checks or length
        assumptions, the function holds what every step reads (the compiled step, its names, the
        learning-rate array while the rate is unchanged) instead of finding it again through several
        calls each step: on the seed MLP a step is ~100 us of onnxruntime, so each microsecond of
        Python around it is a percent of fit. Each step still calls ``acquire`` (a callback may set
        weights between steps), reads the learning rate, and commits one Snapshot."""
        def general(feeds: dict) -> list:
            return self.run(train, feeds)
        if type(self).run is not Trainer.run:   # a subclass (data-parallel) runs its own way
            return general
        self.acquire()   # decides ``bind`` (the size of the state) on the first call
        compiled = self.step(train)
        spec = compiled.spec
        if self.bind or spec.checks or (train and spec.equal_dims):
            return general
        run, fetched, names, updated = compiled.run_direct, compiled.fetched, compiled.state_names, compiled.updated
        n_reports = len(spec.report_outputs)
        all_scalar = compiled.scalar_reports
        acquire, commit, current_lr = self.acquire, self._commit, self.compiled.optimizer.current_lr
        lr_fed = [None, None]   # the last learning rate and its array: a constant rate is one array for the fit
        # the step count's array, rewritten before each run (onnxruntime reads its feeds during the run and keeps
        # none): making a new 0-d array cost ~0.4 us a step
        step_fed = np.zeros((), np.float32)

        def host_step(feeds: dict) -> list:
            acquire()
            now = self.now
            if self.bind:   # the state moved to bound buffers (not expected after the first acquire)
                return self.run(train, feeds)
            arrays, iterations = now.arrays, now.iterations
            feeds = dict(feeds)
            for name in names:
                feeds[name] = arrays[name]
            if train:
                lr = current_lr(iterations)
                if lr != lr_fed[0]:
                    lr_fed[:] = lr, np.array(lr, np.float32)
                feeds["lr"] = lr_fed[1]
                step_fed[()] = iterations
                feeds["step"] = step_fed
            outs = run(fetched, feeds)
            reports = outs[:n_reports]
            logs = list(map(float, reports)) if all_scalar else _logs(reports)
            if train:
                commit(now, zip(updated, outs[n_reports:]), now.spare)
            return logs
        return host_step

    def run(self, train: bool, feeds: dict) -> list[float]:
        compiled = self._train_step(feeds) if train else self.step(False)
        self.acquire()
        now = self.now
        if train:
            opt = self.compiled.optimizer
            feeds = {**feeds, "lr": np.array(opt.current_lr(now.iterations), np.float32),
                     "step": np.array(now.iterations, np.float32)}
        run = self._run_bound if self.bind else self._run_host
        reports, updated, spare = run(compiled, now, train, feeds)
        logs = self._checked(reports, compiled.spec)
        if train:
            self._commit(now, updated, spare)
        return logs

    def _run_host(self, compiled, now: Snapshot, train: bool, feeds: dict):
        arrays = now.arrays
        # a new dict: the caller's batch dicts are reused from epoch to epoch (loop.BatchPlan)
        feeds = {**feeds, **{name: arrays[name] for name in compiled.state_names}}
        outs = compiled.run_direct(compiled.fetched, feeds)
        k = len(outs) - len(compiled.updated)
        return outs[:k], dict(zip(compiled.updated, outs[k:])), now.spare

    def _run_bound(self, compiled, now: Snapshot, train: bool, feeds: dict):
        spec = compiled.spec
        io = compiled.session.io_binding()
        for name, arr in feeds.items():
            io.bind_cpu_input(name, arr)
        for name in spec.params + spec.weight_inputs + (spec.state_inputs if train else []):
            io.bind_ortvalue_input(name, now.arrays[name])
        for name in spec.report_outputs:
            io.bind_output(name, "cpu")
        updated = list(spec.update_outputs.items()) if train else []
        targets = {}
        for in_name, out_name in updated:
            target = now.spare.get(in_name)
            if target is None:
                current = now.arrays[in_name]
                target = ort.OrtValue.ortvalue_from_shape_and_type(current.shape(), np.float32, self.ort_device, 0)
            io.bind_ortvalue_output(out_name, target)
            targets[in_name] = target
        compiled.session.run_with_iobinding(io)
        outs = io.get_outputs()
        reports = [outs[i].numpy() for i in range(len(spec.report_outputs))]
        # the buffers just read become the partners the next step writes into
        spare = {**now.spare, **{n: now.arrays[n] for n in targets}}
        return reports, targets, spare
