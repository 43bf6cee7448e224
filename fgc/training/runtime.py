"""Running the compiled train and evaluation steps with the weights kept on the device.

Weights and optimizer state are OrtValues on the session's device. Each train step binds the
current set as inputs and a second, preallocated set as outputs, then swaps them (never one
buffer as both input and output). Only the report scalars (loss, metrics) come back to the
host each step; weights come back for get_weights, save, export, predict and at the end of fit.
"""
from __future__ import annotations

import numpy as np
import onnxruntime as ort

from fgc.export.onnx import to_onnx
from fgc.runtime import session as rt

from .step import build_step_graph


class CompiledStep:
    def __init__(self, model, compiled, train: bool, device: str):
        self.graph, self.spec = build_step_graph(model, compiled, train=train)
        self.proto = to_onnx(self.graph, params_as_inputs=True,
                             doc=f"fgc {'train' if train else 'evaluation'} step of model '{model.name}'")
        self.session = rt.make_session(self.proto.SerializeToString(), device)
        self.node_count = len(self.proto.graph.node)
        names = [o.name for o in self.session.get_outputs()]
        self.report_index = [names.index(r) for r in self.spec.report_outputs]


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

    # ------------------------------------------------------------------ compilation
    def step(self, train: bool) -> CompiledStep:
        if train not in self._steps:
            self._steps[train] = CompiledStep(self.model, self.compiled, train, self.device)
        return self._steps[train]

    # ------------------------------------------------------------------ state
    def _ortvalue(self, array: np.ndarray):
        return ort.OrtValue.ortvalue_from_numpy(np.ascontiguousarray(array), self.ort_device, 0)

    def _weight_arrays(self, spec) -> dict:
        params = self.model.to_graph().params  # name -> ParamSpec with its Variable
        out = {}
        if spec.flat:
            out["params"] = np.concatenate([params[n].variable._value.reshape(-1) for n in spec.slices]).astype(
                np.float32)
        else:
            out.update({n: params[n].variable._value for n in spec.params})
        out.update({n: params[n].variable._value for n in spec.weight_inputs})
        return out

    def ensure_state(self) -> None:
        spec = self.step(True).spec
        if self.state is None:
            self.state = {n: self._ortvalue(a) for n, a in self._weight_arrays(spec).items()}
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
        params = self.model.to_graph().params
        if spec.flat:
            flat = self.state["params"].numpy()
            for name, (offset, size, shape) in spec.slices.items():
                var = params[name].variable
                var._value = flat[offset:offset + size].reshape(shape).astype(var._value.dtype)
        else:
            for name in spec.params:
                params[name].variable._value = self.state[name].numpy()
        self.model._weights_version += 1

    # ------------------------------------------------------------------ running
    def run(self, train: bool, feeds: dict, lr: float = 0.0, step: int = 0) -> list[float]:
        compiled = self.step(train)
        self.ensure_state()
        spec = compiled.spec
        io = compiled.session.io_binding()
        for name, arr in feeds.items():
            io.bind_cpu_input(name, arr)
        for name in spec.params + spec.weight_inputs + (spec.state_inputs if train else []):
            io.bind_ortvalue_input(name, self.state[name])
        if train:
            io.bind_cpu_input("lr", np.array(lr, np.float32))
            io.bind_cpu_input("step", np.array(step, np.float32))
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
        if train:
            self.model._device_newer = True
        return reports
