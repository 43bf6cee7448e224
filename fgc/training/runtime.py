"""Running the compiled train and evaluation steps with the weights kept on the device.

On CUDA, weights and optimizer state are OrtValues on the GPU. Each train step binds the
current set as inputs and a second, preallocated set as outputs, then swaps them (never one
buffer as both input and output). Only the report scalars (loss, metrics) come back to the
host each step; weights come back for get_weights, save, export, predict and at the end of fit.

On the CPU, for a small state (under 1 MiB), the state is numpy arrays fed to a plain ``run``:
its outputs are fresh arrays that become the next step's inputs (the same ping-pong, with
onnxruntime allocating). That costs ~15 us less per step than binding on the seed MLP; for big
states (the QA model's embeddings) the fresh allocations cost more than binding saves (73 vs 60
ms per step), so those bind preallocated buffers as on CUDA.
"""
from __future__ import annotations

import numpy as np
import onnxruntime as ort

from fgc.export.onnx import to_onnx
from fgc.runtime import session as rt

from .step import build_step_graph, keras_value, stored_layouts, stored_value

HOST_STATE_LIMIT = 1 << 20  # bytes of weights + optimizer state below which the CPU uses plain run


class CompiledStep:
    def __init__(self, model, compiled, train: bool, device: str, layouts: dict | None = None):
        self.graph, self.spec = build_step_graph(model, compiled, train=train, layouts=layouts)
        self.proto = to_onnx(self.graph, params_as_inputs=True,
                             doc=f"fgc {'train' if train else 'evaluation'} step of model '{model.name}'")
        self.session = rt.make_session(self.proto.SerializeToString(), device)
        self.node_count = len(self.proto.graph.node)
        self.loop_session = None  # the same step inside an ONNX Loop, built on first multi-step use


class Trainer:
    """Owns the compiled steps of one compiled model and the device copy of its weights."""

    def __init__(self, model, compiled):
        self.model = model
        self.compiled = compiled
        self.device = rt.get_device()
        self.ort_device = "cuda" if self.device == "cuda" else "cpu"
        self._steps: dict[bool, CompiledStep] = {}
        self.state: dict | None = None     # input name -> OrtValue (weights and optimizer state)
        self.spare: dict = {}              # the ping-pong partners of updated entries
        self._weights_stale = False
        self.bind = self.ort_device != "cpu"

    # ------------------------------------------------------------------ compilation
    def step(self, train: bool) -> CompiledStep:
        if train not in self._steps:
            # the evaluation step reads the train step's device state, so it takes the train step's layouts
            layouts = None if train else stored_layouts(self.step(True).graph)
            self._steps[train] = CompiledStep(self.model, self.compiled, train, self.device, layouts)
        return self._steps[train]

    # ------------------------------------------------------------------ state
    def _ortvalue(self, array: np.ndarray):
        array = np.ascontiguousarray(array)
        if not self.bind:
            return array.copy()
        return ort.OrtValue.ortvalue_from_numpy(array, self.ort_device, 0)

    @staticmethod
    def _host(value) -> np.ndarray:
        return value if isinstance(value, np.ndarray) else value.numpy()

    def _weight_arrays(self, spec) -> dict:
        params = self.step(True).graph.params  # name -> ParamSpec with its Variable
        out = {}
        def value(n):
            return stored_value(params[n], params[n].variable._value)

        if spec.flat:
            out["params"] = np.concatenate([value(n).reshape(-1) for n in spec.slices]).astype(np.float32)
        out.update({n: value(n) for n in spec.params if n != "params"})
        out.update({n: value(n) for n in spec.weight_inputs})
        return out

    def ensure_state(self) -> None:
        spec = self.step(True).spec
        if self.state is None:
            arrays = self._weight_arrays(spec)
            size = sum(a.nbytes for a in arrays.values()) * (1 + len(spec.state_init) / max(len(arrays), 1))
            self.bind = self.ort_device != "cpu" or size > HOST_STATE_LIMIT
            self.state = {n: self._ortvalue(a) for n, a in arrays.items()}
            for name, (shape, init) in spec.state_init.items():
                self.state[name] = self._ortvalue(np.full(shape, init, np.float32))
            self._weights_stale = False
        elif self._weights_stale:
            for n, a in self._weight_arrays(spec).items():
                self.state[n] = self._ortvalue(a)
            self._weights_stale = False

    def weights_changed(self) -> None:
        """The Variables were assigned on the host: reload them before the next step (optimizer state stays)."""
        if self.state is not None:
            self._weights_stale = True

    def pull_weights(self) -> None:
        """Copy the device weights back into the layers' Variables."""
        if self.state is None or self._weights_stale:
            return
        spec = self.step(True).spec
        params = self.step(True).graph.params
        if spec.flat:
            flat = self._host(self.state["params"])
            for name, (offset, size, shape) in spec.slices.items():
                var = params[name].variable
                var._value = keras_value(params[name], flat[offset:offset + size].reshape(shape)).astype(
                    var._value.dtype)
        updated = [n for n in spec.params if n != "params"] + [
            n for n in spec.weight_inputs if n in spec.update_outputs]  # + buffers the step updates (BatchNorm)
        for name in updated:
            params[name].variable._value = keras_value(params[name], self._host(self.state[name]).copy())
        self.model._weights_version += 1

    # ------------------------------------------------------------------ running
    def run_many(self, stacked: dict, lrs: list[float], step: int) -> list[list[float]]:
        """len(lrs) train steps on batches stacked (steps, batch, ...): with a host-side state, one
        onnxruntime call runs them all through the compiled step wrapped in a Loop."""
        if self.bind:
            return [self.run(True, {k: v[i] for k, v in stacked.items()}, lr, step + i) for i, lr in enumerate(lrs)]
        compiled = self.step(True)
        self.ensure_state()
        self.model._device_newer = True
        spec = compiled.spec
        if compiled.loop_session is None:
            from .multistep import loop_proto

            compiled.loop_session = rt.make_session(loop_proto(compiled.proto, spec).SerializeToString(),
                                                    self.device)
        feeds = {f"stack/{k}": v for k, v in stacked.items()}
        feeds.update({"steps": np.array(len(lrs), np.int64), "stack/lr": np.array(lrs, np.float32),
                      "step0": np.array(step, np.float32)})
        carried = list(spec.update_outputs)
        feeds.update({f"init/{n}": self.state[n] for n in carried})
        feeds.update({n: self.state[n] for n in spec.weight_inputs if n not in spec.update_outputs})
        outs = compiled.loop_session.run([f"final/{n}" for n in carried] +
                                         [f"reports/{r}" for r in spec.report_outputs], feeds)
        for n, value in zip(carried, outs):
            self.state[n] = value
        reports = np.stack(outs[len(carried):], axis=1)
        return [[float(v) for v in row] for row in reports]

    def run(self, train: bool, feeds: dict, lr: float = 0.0, step: int = 0) -> list[float]:
        compiled = self.step(train)
        self.ensure_state()
        if train:
            self.model._device_newer = True
            feeds = {**feeds, "lr": np.array(lr, np.float32), "step": np.array(step, np.float32)}
        if not self.bind:
            return self._run_host(compiled, train, feeds)
        return self._run_bound(compiled, train, feeds)

    def _run_host(self, compiled, train: bool, feeds: dict) -> list[float]:
        spec = compiled.spec
        for name in spec.params + spec.weight_inputs + (spec.state_inputs if train else []):
            feeds[name] = self.state[name]
        updated = list(spec.update_outputs.items()) if train else []
        outs = compiled.session.run(spec.report_outputs + [o for _, o in updated], feeds)
        k = len(spec.report_outputs)
        for (in_name, _), value in zip(updated, outs[k:]):
            self.state[in_name] = value
        return [float(v) for v in outs[:k]]

    def _run_bound(self, compiled, train: bool, feeds: dict) -> list[float]:
        spec = compiled.spec
        io = compiled.session.io_binding()
        for name, arr in feeds.items():
            io.bind_cpu_input(name, arr)
        for name in spec.params + spec.weight_inputs + (spec.state_inputs if train else []):
            io.bind_ortvalue_input(name, self.state[name])
        for name in spec.report_outputs:
            io.bind_output(name, "cpu")
        updated = list(spec.update_outputs.items()) if train else []
        for in_name, out_name in updated:
            spare = self.spare.get(in_name)
            if spare is None:
                current = self.state[in_name]
                spare = ort.OrtValue.ortvalue_from_shape_and_type(current.shape(), np.float32, self.ort_device, 0)
            io.bind_ortvalue_output(out_name, spare)
            self.spare[in_name] = spare
        compiled.session.run_with_iobinding(io)
        outs = io.get_outputs()
        reports = [float(outs[i].numpy()) for i in range(len(spec.report_outputs))]
        for in_name, _ in updated:
            self.state[in_name], self.spare[in_name] = self.spare[in_name], self.state[in_name]
        return reports
