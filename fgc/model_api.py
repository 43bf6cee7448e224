"""What a Model does with data: predict, call on arrays, summary, export, compile/fit/evaluate.

The weights live in each layer's Variables (``fgc/variables.py``): while a model trains, its
Trainer holds newer copies on the device and every reader of a Variable brings them home first.
"""
from __future__ import annotations

import functools
import inspect

import numpy as np

from fgc import data as data_mod
from fgc.naming import check_kwargs
from fgc.runtime.session import get_device   # imported by fgc itself anyway; here once, not per predict


@functools.lru_cache(maxsize=None)   # inspect.signature costs ~0.2 ms, paid on every fit() otherwise
def _named_arguments(method) -> list[str]:
    """A method's own argument names: never in its **kwargs, listed so a misspelt one gets a suggestion."""
    return [p for p in inspect.signature(method).parameters if p not in ("self", "kwargs")]


class ModelAPI:
    def __init__(self):
        self._runners: dict = {}
        self._trainer = None         # set by compile()
        self._compiled = None
        self.optimizer = None
        self.stop_training = False
        self.history = None

    # ------------------------------------------------------------------ inference
    def _runner(self):
        device = get_device()
        if device not in self._runners:
            from fgc.compiler import InferenceRunner

            self._runners[device] = InferenceRunner(self, device)
        runner = self._runners[device]
        runner.refresh()
        return runner

    def _ensure_built(self, x):
        if not self.built:
            from fgc.training.sources import sample_inputs

            self._build_from_data(sample_inputs(x))   # a batch source: its first batch's inputs

    def _prepare_inputs(self, x, float_casts_later: bool = False):
        self._ensure_built(x)
        arrays = data_mod.prepare(self.input_names, [t.type for t in self.inputs], x, "input", float_casts_later)
        self._check_ids(arrays)
        return arrays

    def _format_outputs(self, outs):
        if self._output_keys is not None:
            return dict(zip(self._output_keys, outs))
        return outs[0] if self._single_output else list(outs)

    def predict(self, x, batch_size=None, verbose="auto", steps=None, callbacks=None, **kwargs):
        """Outputs for every sample of x, computed in batches of ``batch_size`` (default 32)."""
        # The named parameters never reach kwargs; listing them lets a typo suggest the right one.
        from fgc.training import arguments as args, sources

        if kwargs:
            sources.refuse_loader_arguments("predict()", kwargs)
            check_kwargs("predict()", kwargs, ("x", "batch_size", "verbose", "steps", "callbacks"))
        args.int_at_least("predict()", "batch_size", batch_size, 1, optional=True)
        args.int_at_least("predict()", "steps", steps, 1, optional=True)
        args.verbose_level("predict()", verbose)
        x = sources.wrap(x, "predict()")
        if isinstance(x, sources.Source):   # a generator / PyDataset: batch by batch
            from fgc.training.stream import predict

            return predict(self, x, batch_size, steps, callbacks)
        arrays = self._prepare_inputs(x, float_casts_later=True)   # run_rows casts them batch by batch
        n = arrays[0].shape[0]
        runner = self._runner()
        bs = data_mod.batch_size_for(runner.fixed_batch, batch_size, n, "predict")
        if n <= bs and not callbacks and steps is None:
            return self._format_outputs(runner.run_rows(arrays, 0, n))
        starts = list(range(0, n, bs))[:steps]
        if not callbacks:
            chunks = [runner.run_rows(arrays, i, i + bs) for i in starts]
        else:
            chunks = self._predict_with_callbacks(runner, arrays, starts, bs, callbacks)
        outs = [np.concatenate([c[k] for c in chunks], axis=0) for k in range(len(chunks[0]))]
        return self._format_outputs(outs)

    def _predict_with_callbacks(self, runner, arrays, starts, bs, callbacks):
        """Keras' predict hooks: predict_begin, per batch begin / end (logs {'outputs': ...}), predict_end."""
        from fgc.training.callbacks import CallbackList

        cbs = CallbackList(callbacks, self, {"epochs": 1, "steps": len(starts), "verbose": 0})
        begin, end = cbs.batch_hooks("predict")
        cbs.on_predict_begin()
        runner = self._runner()   # after the hook: a callback may change the weights (SwapEMAWeights)
        chunks = []
        for index, i in enumerate(starts):
            if begin is not None:
                begin(index)
            chunks.append(runner.run_rows(arrays, i, i + bs))
            if end is not None:
                end(index, {"outputs": self._format_outputs(chunks[-1])})
        cbs.on_predict_end()
        return chunks

    def predict_on_batch(self, x):
        arrays = self._prepare_inputs(x)
        runner = self._runner()
        fixed = runner.fixed_batch
        if fixed is not None and arrays[0].shape[0] != fixed:
            raise ValueError(f"predict_on_batch: the model's inputs have a fixed batch size of {fixed} "
                             f"(Input(batch_size={fixed}) or batch_shape), got a batch of {arrays[0].shape[0]}; "
                             f"use predict(x) to run any number of full batches")
        return self._format_outputs(runner.run(arrays))

    def _call_on_data(self, x):
        return self.predict_on_batch(x)

    # ------------------------------------------------------------------ inspection and export
    def summary(self, line_length=None, positions=None, print_fn=None, expand_nested=False, show_trainable=False,
                layer_range=None):
        from fgc.summary import summary

        summary(self, line_length=line_length, positions=positions, print_fn=print_fn, expand_nested=expand_nested,
                show_trainable=show_trainable, layer_range=layer_range)

    def export(self, filepath, format="onnx", training=False, verbose=False, precision="float32", quantize=None,
               calibration_data=None, optimize=False, keep_io_types=True):
        """Write the model as a plain ONNX file (opset 18) that onnxruntime runs without fgc.

        - ``precision="float16"``: weights and compute in float16, with softmax, sums/means, exp/log and
          recurrences kept in float32; inputs and outputs stay float32 unless ``keep_io_types=False``.
        - ``quantize="int8"``: MatMul/Conv/LSTM weights as int8 (onnxruntime dynamic quantization);
          with ``calibration_data=`` (the model's inputs, as for ``predict``) activations too (static).
        - ``optimize=True``: onnxruntime's offline CPU optimizations saved in the file, which then
          needs the same onnxruntime version (``metadata_props['optimized_for']``).
        - ``training=True`` writes the compiled train step instead (see the README).

        Integer inputs are taken as int64. The file's ``metadata_props`` record the input and output
        names, dtypes and dims, the Keras class names and the fgc version (see fgc/export/metadata.py)."""
        if format != "onnx":
            raise ValueError(f"export format '{format}' is not supported; fgc writes 'onnx'")
        from fgc.export.files import export_model

        return export_model(self, filepath, training=training, precision=precision, quantize=quantize,
                            calibration_data=calibration_data, optimize=optimize, keep_io_types=keep_io_types)

    def ir(self, pipeline: str = "inference") -> str:
        """The printed IR: 'layers' (as recorded) or 'inference' (after the pipeline)."""
        from fgc.compiler import inference_graph

        return str(self.to_graph() if pipeline == "layers" else inference_graph(self))

    # ------------------------------------------------------------------ training
    def compile(self, optimizer="rmsprop", loss=None, loss_weights=None, metrics=None, weighted_metrics=None,
                run_eagerly=False, steps_per_execution=1, jit_compile="auto", auto_scale_loss=True, distribute=None,
                **kwargs):
        """Resolve the loss, loss weights, metrics and optimizer per output; the step compiles on first use.

        ``distribute=fgc.distribute.DataParallel()`` trains data-parallel over the processes of an MPI
        job (``mpirun -n K python script.py``); see fgc/distribute."""
        check_kwargs("compile()", kwargs, _named_arguments(ModelAPI.compile))
        compile_args = dict(optimizer=optimizer, loss=loss, loss_weights=loss_weights, metrics=metrics,
                            weighted_metrics=weighted_metrics, run_eagerly=run_eagerly,
                            steps_per_execution=steps_per_execution, jit_compile=jit_compile,
                            auto_scale_loss=auto_scale_loss)
        from fgc.training.config import resolve
        from fgc.training.runtime import Trainer

        if not self.built:
            raise ValueError(f"model '{self.name}' is not built yet: give the first layer an input_shape= or start "
                             f"with an Input before compile()")
        if not isinstance(steps_per_execution, int) or steps_per_execution < 1:
            raise ValueError(f"steps_per_execution must be a positive int, got {steps_per_execution!r}")
        if distribute is not None:
            from fgc.distribute import DataParallel

            if not isinstance(distribute, DataParallel):
                raise TypeError(f"compile(distribute=...) takes an fgc.distribute.DataParallel(), got "
                                f"{type(distribute).__name__}")
        if not isinstance(auto_scale_loss, bool):
            raise TypeError(f"compile(auto_scale_loss=...) takes True or False, got {auto_scale_loss!r}")
        compiled = resolve(self, optimizer, loss, loss_weights, metrics, weighted_metrics, auto_scale_loss)
        compiled.steps_per_execution = steps_per_execution
        # Keras 3: the trainable flags in force now are the ones this compiled model trains with.
        compiled.trainable_state = self._trainable_state()
        if distribute is not None:
            from fgc.distribute.trainer import DistributedTrainer, check_splittable

            check_splittable(compiled)
        previous = self._trainer
        self._compiled, self.optimizer = compiled, compiled.optimizer
        self._compile_args = compile_args
        if distribute is not None:
            self._trainer = DistributedTrainer(self, compiled, distribute)
        else:
            self._trainer = Trainer(self, compiled)
        if previous is not None:
            previous.release()
            if previous.compiled.optimizer is compiled.optimizer:  # the same optimizer keeps its slots
                self._trainer.adopt_optimizer_state(previous)

    # ------------------------------------------------------------------ configs (Keras 3's)
    def get_compile_config(self) -> dict:
        """The compile() arguments as Keras 3 writes them into a ``.keras`` file ({} before compile)."""
        from fgc.saving.serialization import serialize_keras_object

        args = getattr(self, "_compile_args", None)
        if args is None or self._compiled is None:
            return {}
        # Keras records the optimizer it resolved, and "auto" jit as the JAX backend resolves it.
        # Keras' compile config has no auto_scale_loss (the optimizer it records is already wrapped or not)
        config = {**{k: v for k, v in args.items() if k != "auto_scale_loss"}, "optimizer": self.optimizer,
                  "jit_compile": True if args["jit_compile"] == "auto" else args["jit_compile"]}
        return {k: serialize_keras_object(v) for k, v in config.items()}

    def compile_from_config(self, config: dict) -> None:
        """compile() with the arguments of a Keras compile config (optimizer, losses and metrics rebuilt)."""
        from fgc.saving.serialization import deserialize_keras_object
        from fgc.training import optimizers

        if not config:
            return
        args = {k: deserialize_keras_object(v) for k, v in config.items() if k != "optimizer"}
        optimizer = config.get("optimizer", "rmsprop")
        args["optimizer"] = optimizers.get(optimizer) if optimizer is not None else "rmsprop"
        self.compile(**args)

    def to_json(self, **kwargs) -> str:
        """The model's config as Keras' JSON (``fgc.models.model_from_json`` reads it back); kwargs go to
        ``json.dumps``."""
        import json

        from fgc.saving.serialization import serialize_keras_object

        return json.dumps(serialize_keras_object(self), **kwargs)

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
        from fgc.training.sources import refuse_loader_arguments, wrap

        refuse_loader_arguments("fit()", kwargs)
        check_kwargs("fit()", kwargs, _named_arguments(ModelAPI.fit))
        x = wrap(x, "fit()")
        self._ensure_built(x)
        self._require_compiled("fit")
        from fgc.training.loop import fit

        return fit(self, x, y, batch_size, epochs, verbose, callbacks, validation_split, validation_data, shuffle,
                   class_weight, sample_weight, initial_epoch, steps_per_epoch, validation_steps,
                   validation_batch_size, validation_freq)

    def evaluate(self, x=None, y=None, batch_size=None, verbose="auto", sample_weight=None, steps=None,
                 callbacks=None, return_dict=False, **kwargs):
        from fgc.training.sources import refuse_loader_arguments, wrap

        refuse_loader_arguments("evaluate()", kwargs)
        check_kwargs("evaluate()", kwargs, _named_arguments(ModelAPI.evaluate))
        x = wrap(x, "evaluate()")
        self._require_compiled("evaluate")
        from fgc.training.loop import evaluate

        return evaluate(self, x, y, batch_size, verbose, sample_weight, steps, return_dict, callbacks)

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
    def save(self, filepath, overwrite=True, **kwargs):
        """Write the whole model (architecture, weights, compile config and optimizer state) as a Keras 3
        ``.keras`` file, atomically; ``fgc.models.load_model`` and ``keras.models.load_model`` read it."""
        check_kwargs("save()", kwargs, ("filepath", "overwrite", "zipped"))
        if kwargs.get("zipped", True) is not True:
            raise ValueError("save(zipped=False): fgc writes the zipped .keras file only (Keras' default); "
                             "drop the argument")
        import os

        from fgc.saving import keras_file

        if not overwrite and os.path.exists(filepath):
            raise FileExistsError(f"save('{filepath}'): the file exists and overwrite=False")
        keras_file.save_model(self, filepath)

    def save_weights(self, filepath):
        """Write every weight, atomically: ``x.weights.h5`` in Keras 3's format (with the optimizer state when
        compiled, as Keras does), or ``x.npz`` (fgc's own archive, in get_weights() order)."""
        from fgc.saving import weights_files

        weights_files.save(self, filepath)

    def load_weights(self, filepath):
        """Read a Keras ``.weights.h5`` / ``.keras`` file or fgc's ``.npz`` (told apart by content); the whole
        file is checked against the model before any weight changes."""
        from fgc.saving import weights_files

        weights_files.load(self, filepath)
