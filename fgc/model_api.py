"""What a Model does with data: predict, call on arrays, summary, export, compile/fit/evaluate.

The weights live in each layer's Variables on the host; while a model trains, the runtime
keeps newer copies on the device and ``_sync_from_device`` brings them back on demand.
"""
from __future__ import annotations

import numpy as np

from fgc import data as data_mod
from fgc.naming import check_kwargs


class ModelAPI:
    def __init__(self):
        self._runners: dict = {}
        self._host_params = None     # name -> array cache for inference feeds
        self._trainer = None         # set by compile()
        self._device_newer = False   # the trainer holds weights newer than the Variables

    # ------------------------------------------------------------------ weight sync hooks
    def _sync_from_device(self):
        if self._device_newer and self._trainer is not None:
            self._device_newer = False
            self._trainer.pull_weights()

    def _weights_changed(self):
        self._host_params = None
        if self._trainer is not None:
            self._trainer.weights_changed()

    def _param_feed(self, runner) -> dict:
        self._sync_from_device()
        if self._host_params is None:
            self._host_params = {name: spec.variable._value for name, spec in runner.graph.params.items()}
        return self._host_params

    # ------------------------------------------------------------------ inference
    def _runner(self):
        from fgc.runtime.session import get_device

        device = get_device()
        if device not in self._runners:
            from fgc.compiler import InferenceRunner

            self._runners[device] = InferenceRunner(self, device)
        return self._runners[device]

    def _ensure_built(self, x):
        if not self.built:
            self._build_from_data(x)

    def _prepare_inputs(self, x):
        self._ensure_built(x)
        return data_mod.prepare(self.input_names, [t.type for t in self.inputs], x, "input")

    def _format_outputs(self, outs):
        if self._output_keys is not None:
            return dict(zip(self._output_keys, outs))
        return outs[0] if self._single_output else list(outs)

    def predict(self, x, batch_size=None, verbose="auto", steps=None, callbacks=None, **kwargs):
        """Outputs for every sample of x, computed in batches of ``batch_size`` (default 32)."""
        check_kwargs("predict()", kwargs, ())
        arrays = self._prepare_inputs(x)
        runner = self._runner()
        params = self._param_feed(runner)
        n = arrays[0].shape[0]
        bs = int(batch_size or 32)
        if n <= bs:
            return self._format_outputs(runner.run(arrays, params))
        chunks = [runner.run([a[i:i + bs] for a in arrays], params) for i in range(0, n, bs)]
        outs = [np.concatenate([c[k] for c in chunks], axis=0) for k in range(len(chunks[0]))]
        return self._format_outputs(outs)

    def predict_on_batch(self, x):
        return self._format_outputs(self._runner().run(self._prepare_inputs(x), self._param_feed(self._runner())))

    def _call_on_data(self, x):
        return self.predict_on_batch(x)

    # ------------------------------------------------------------------ inspection and export
    def summary(self, line_length=None, positions=None, print_fn=None, expand_nested=False, show_trainable=False,
                layer_range=None):
        from fgc.summary import summary

        summary(self, line_length=line_length, positions=positions, print_fn=print_fn, expand_nested=expand_nested,
                show_trainable=show_trainable)

    def export(self, filepath, format="onnx", training=False, verbose=False):
        """Write the model as a plain ONNX file (opset 18) that onnxruntime runs without fgc.

        ``training=True`` writes the compiled train step instead (see the README)."""
        if format != "onnx":
            raise ValueError(f"export format '{format}' is not supported; fgc writes 'onnx'")
        from fgc.export.files import export_model

        return export_model(self, filepath, training=training)

    def ir(self, pipeline: str = "inference") -> str:
        """The printed IR: 'layers' (as recorded) or 'inference' (after the pipeline)."""
        from fgc.compiler import inference_graph

        return str(self.to_graph() if pipeline == "layers" else inference_graph(self))
