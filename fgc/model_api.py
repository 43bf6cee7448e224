"""What a Model does with data: predict, call on arrays, summary, export, compile/fit/evaluate.

The weights live in each layer's Variables on the host; while a model trains, the runtime
keeps newer copies on the device and ``_sync_from_device`` brings them back on demand.
"""
from __future__ import annotations

import inspect

import numpy as np

from fgc import data as data_mod
from fgc.naming import check_kwargs


def _named_arguments(method) -> list[str]:
    """A method's own argument names: never in its **kwargs, listed so a misspelt one gets a suggestion."""
    return [p for p in inspect.signature(method).parameters if p not in ("self", "kwargs")]


class ModelAPI:
    def __init__(self):
        self._runners: dict = {}
        self._weights_version = 0    # bumped whenever the Variables change
        self._trainer = None         # set by compile()
        self._device_newer = False   # the trainer holds weights newer than the Variables
        self._compiled = None
        self.optimizer = None
        self.stop_training = False
        self.history = None

    # ------------------------------------------------------------------ weight sync hooks
    def _sync_from_device(self):
        if self._device_newer and self._trainer is not None:
            self._device_newer = False
            self._trainer.pull_weights()

    def _weights_changed(self):
        self._weights_version += 1
        if self._trainer is not None:
            self._trainer.weights_changed()

    # ------------------------------------------------------------------ inference
    def _runner(self):
        from fgc.runtime.session import get_device

        device = get_device()
        if device not in self._runners:
            from fgc.compiler import InferenceRunner

            self._runners[device] = InferenceRunner(self, device)
        runner = self._runners[device]
        self._sync_from_device()
        runner.refresh(self._weights_version)
        return runner

    def _ensure_built(self, x):
        if not self.built:
            self._build_from_data(x)

    def _prepare_inputs(self, x):
        self._ensure_built(x)
        arrays = data_mod.prepare(self.input_names, [t.type for t in self.inputs], x, "input")
        self._check_ids(arrays)
        return arrays

    def _format_outputs(self, outs):
        if self._output_keys is not None:
            return dict(zip(self._output_keys, outs))
        return outs[0] if self._single_output else list(outs)

    def predict(self, x, batch_size=None, verbose="auto", steps=None, callbacks=None, **kwargs):
        """Outputs for every sample of x, computed in batches of ``batch_size`` (default 32)."""
        # The named parameters never reach kwargs; listing them lets a typo suggest the right one.
        check_kwargs("predict()", kwargs, ("x", "batch_size", "verbose", "steps", "callbacks"))
        arrays = self._prepare_inputs(x)
        runner = self._runner()
        n = arrays[0].shape[0]
        fixed = data_mod.fixed_batch_size(self.input_names, [t.type for t in self.inputs])
        bs = data_mod.batch_size_for(fixed, batch_size, n, "predict")
        if n <= bs:
            return self._format_outputs(runner.run(arrays))
        chunks = [runner.run([a[i:i + bs] for a in arrays]) for i in range(0, n, bs)]
        outs = [np.concatenate([c[k] for c in chunks], axis=0) for k in range(len(chunks[0]))]
        return self._format_outputs(outs)

    def predict_on_batch(self, x):
        return self._format_outputs(self._runner().run(self._prepare_inputs(x)))

    def _call_on_data(self, x):
        return self.predict_on_batch(x)

    # ------------------------------------------------------------------ inspection and export
    def summary(self, line_length=None, positions=None, print_fn=None, expand_nested=False, show_trainable=False,
                layer_range=None):
        from fgc.summary import summary

        summary(self, line_length=line_length, positions=positions, print_fn=print_fn, expand_nested=expand_nested,
                show_trainable=show_trainable, layer_range=layer_range)

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

    # ------------------------------------------------------------------ training
    def compile(self, optimizer="rmsprop", loss=None, loss_weights=None, metrics=None, weighted_metrics=None,
                run_eagerly=False, steps_per_execution=1, jit_compile="auto", auto_scale_loss=True, **kwargs):
        """Resolve the loss, loss weights, metrics and optimizer per output; the step compiles on first use."""
        check_kwargs("compile()", kwargs, _named_arguments(ModelAPI.compile))
        from fgc.training.config import resolve
        from fgc.training.runtime import Trainer

        if not self.built:
            raise ValueError(f"model '{self.name}' is not built yet: give the first layer an input_shape= or start "
                             f"with an Input before compile()")
        self._sync_from_device()
        self._compiled = resolve(self, optimizer, loss, loss_weights, metrics, weighted_metrics)
        if not isinstance(steps_per_execution, int) or steps_per_execution < 1:
            raise ValueError(f"steps_per_execution must be a positive int, got {steps_per_execution!r}")
        self._compiled.steps_per_execution = steps_per_execution
        self.optimizer = self._compiled.optimizer
        self._trainer = Trainer(self, self._compiled)

    def _require_compiled(self, what: str):
        if self._trainer is None:
            raise RuntimeError(f"call model.compile(optimizer=..., loss=...) before {what}()")

    def fit(self, x=None, y=None, batch_size=None, epochs=1, verbose="auto", callbacks=None, validation_split=0.0,
            validation_data=None, shuffle=True, class_weight=None, sample_weight=None, initial_epoch=0,
            steps_per_epoch=None, validation_steps=None, validation_batch_size=None, validation_freq=1, **kwargs):
        if "nb_epoch" in kwargs:
            import warnings

            warnings.warn("fit(nb_epoch=...) is the Keras 1 spelling; use epochs=", DeprecationWarning, stacklevel=2)
            epochs = kwargs.pop("nb_epoch")
        check_kwargs("fit()", kwargs, _named_arguments(ModelAPI.fit))
        self._ensure_built(x)
        self._require_compiled("fit")
        from fgc.training.loop import fit

        return fit(self, x, y, batch_size, epochs, verbose, callbacks, validation_split, validation_data, shuffle,
                   class_weight, sample_weight, initial_epoch, steps_per_epoch, validation_steps,
                   validation_batch_size, validation_freq)

    def evaluate(self, x=None, y=None, batch_size=None, verbose="auto", sample_weight=None, steps=None,
                 callbacks=None, return_dict=False, **kwargs):
        check_kwargs("evaluate()", kwargs, _named_arguments(ModelAPI.evaluate))
        self._require_compiled("evaluate")
        from fgc.training.loop import evaluate

        return evaluate(self, x, y, batch_size, verbose, sample_weight, steps, return_dict)

    def train_on_batch(self, x, y=None, sample_weight=None, class_weight=None, return_dict=False):
        self._ensure_built(x)
        self._require_compiled("train_on_batch")
        from fgc.training.loop import on_batch

        return on_batch(self, x, y, sample_weight, class_weight, train=True, return_dict=return_dict)

    def test_on_batch(self, x, y=None, sample_weight=None, return_dict=False):
        self._require_compiled("test_on_batch")
        from fgc.training.loop import on_batch

        return on_batch(self, x, y, sample_weight, train=False, return_dict=return_dict)

    # ------------------------------------------------------------------ weights on disk
    def save_weights(self, filepath):
        """Write every weight (get_weights order, keyed by path) to an .npz file, atomically."""
        import io

        from fgc.export.files import atomic_write_bytes

        buf = io.BytesIO()
        np.savez(buf, **{f"{i:04d}:{v.path}": v.numpy() for i, v in enumerate(self._variables())})
        atomic_write_bytes(filepath, buf.getvalue())

    def load_weights(self, filepath):
        try:
            with np.load(filepath) as f:
                stored = [f[k] for k in sorted(f.files)]
                paths = [k.split(":", 1)[1] for k in sorted(f.files)]
        except (OSError, ValueError) as e:
            raise ValueError(f"cannot read weights from '{filepath}': {e}") from None
        want = [v.path for v in self._variables()]
        if len(stored) != len(want):
            raise ValueError(f"'{filepath}' holds {len(stored)} weights {paths}, but model '{self.name}' has "
                             f"{len(want)} {want}")
        self.set_weights(stored)
