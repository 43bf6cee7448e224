"""SimpleRNN, LSTM, GRU and Bidirectional, with Keras 3 weights and gate orders.

Two lowerings share one set of weights: inference uses ONNX's native RNN/LSTM/GRU ops (weights
permuted into ONNX's layout inside the graph, which onnxruntime folds once); training uses a
Scan over a primitive cell whose gradient the autodiff pass derives. The input projection
``x @ kernel + bias`` is hoisted out of the loop as one large MatMul, so each step only does
``h @ recurrent_kernel`` and the gate arithmetic.
"""
from __future__ import annotations

import numpy as np

from fgc import activations, initializers
from fgc.ir import Graph, TensorType, Value
from fgc.ir.types import ShapeError, is_float

from .base import Layer
from .masks import split_mask
from .weight_options import take_weight_options


class _RNN(Layer):
    supports_masking = consumes_mask = True
    keras_only_config = {"zero_output_for_mask": False}
    gates = 1
    onnx_op = "RNN"
    state_names = ("h",)

    def __init__(self, units, activation="tanh", recurrent_activation="sigmoid", use_bias=True,
                 kernel_initializer="glorot_uniform", recurrent_initializer="orthogonal", bias_initializer="zeros",
                 dropout=0.0, recurrent_dropout=0.0, return_sequences=False, return_state=False, go_backwards=False,
                 stateful=False, unroll=False, seed=None, kernel_regularizer=None, recurrent_regularizer=None,
                 bias_regularizer=None, activity_regularizer=None, kernel_constraint=None, recurrent_constraint=None,
                 bias_constraint=None, **kwargs):
        super().__init__(**kwargs)
        take_weight_options(self, kernel_regularizer=kernel_regularizer, recurrent_regularizer=recurrent_regularizer,
                            bias_regularizer=bias_regularizer, activity_regularizer=activity_regularizer,
                            kernel_constraint=kernel_constraint, recurrent_constraint=recurrent_constraint,
                            bias_constraint=bias_constraint)
        if not isinstance(units, (int, np.integer)) or units <= 0:
            raise ValueError(f"{type(self).__name__} units must be a positive int, got {units!r}")
        if stateful:
            raise ValueError(f"{type(self).__name__}(stateful=True) is not supported: fgc's recurrent layers start "
                             f"each batch from zero states (stateful=False)")
        self.units = int(units)
        self.activation, self._act = activations.get(activation)
        self.recurrent_activation, self._rec_act = activations.get(recurrent_activation)
        self.use_bias = use_bias
        self.kernel_initializer, self.recurrent_initializer = kernel_initializer, recurrent_initializer
        self.bias_initializer = bias_initializer
        self.dropout, self.recurrent_dropout = float(dropout), float(recurrent_dropout)
        self.seed, self._seed = seed, initializers.layer_seed(seed, f"{type(self).__name__} '{self.name}'")
        self.return_sequences, self.return_state, self.go_backwards = return_sequences, return_state, go_backwards
        self.stateful, self.unroll = bool(stateful), bool(unroll)

    # ------------------------------------------------------------------ weights and shapes
    def _bias_init(self):
        return self.bias_initializer

    def _bias_shape(self):
        return (self.gates * self.units,)

    def build(self, input_types):
        x = input_types[0]
        if x.rank != 3 or not isinstance(x.shape[-1], int):
            return  # compute_output_types raises the user-facing error
        self.kernel = self.add_weight("kernel", (x.shape[-1], self.gates * self.units), self.kernel_initializer)
        self.recurrent_kernel = self.add_weight("recurrent_kernel", (self.units, self.gates * self.units),
                                                self.recurrent_initializer)
        if self.use_bias:
            self.bias = self.add_weight("bias", self._bias_shape(), self._bias_init())

    def compute_output_types(self, input_types, node_attrs=None):
        x = input_types[0]
        name = type(self).__name__
        if x.rank != 3:
            hint = (". When stacking recurrent layers, give the layer before it return_sequences=True so it returns "
                    "the whole sequence (batch, timesteps, units) instead of its last output") if x.rank == 2 else ""
            raise ShapeError(f"{name} expects a 3-D input (batch, timesteps, features), got shape {x.keras_shape()}"
                             + hint)
        if not is_float(x.dtype):
            raise ShapeError(f"{name} expects a float input, got {x.dtype}; integer ids need an Embedding first")
        if not self._weights or x.shape[-1] != self.kernel.shape[0]:
            raise ShapeError(f"expected {self.kernel.shape[0] if self._weights else 'known'} features on the last "
                             f"axis, got shape {x.keras_shape()}")
        n, t = x.shape[0], x.shape[1]
        out = x.with_shape((n, t, self.units) if self.return_sequences else (n, self.units))
        states = [x.with_shape((n, self.units))] * len(self.state_names)
        return [out] + (states if self.return_state else [])

    def _returns_list(self):
        return self.return_state

    def compute_mask(self, inputs, mask=None):
        """Keras: the sequence output keeps the input's mask; the last output and the states have none."""
        if isinstance(mask, (list, tuple)):
            mask = mask[0]
        out = mask if self.return_sequences else None
        return [out] + [None] * len(self.state_names) if self.return_state else out

    # ------------------------------------------------------------------ lowering
    def lower(self, b, inputs, params, training=False, call_args=None):
        (x,), keep = split_mask(b, inputs, call_args, b.type(inputs[0]).dtype)
        mask = None
        if keep is not None:
            mask = b.Transpose(b.Unsqueeze(b.Cast(keep, to="bool"), axes=(-1,)), perm=(1, 0, 2))  # (T, N, 1)
        if training or mask is not None or not self._native_activations():
            # ONNX's native ops only know right-padded lengths, not masks, and fgc emits them with their default
            # activations only (tanh, sigmoid gates); anything else runs as the Scan form.
            seq, states = self._lower_scan(b, x, params, mask, save_states=training)
        else:
            seq, states = self._lower_native(b, x, params)
        last = states[0]
        out = b.Transpose(seq, perm=(1, 0, 2)) if self.return_sequences else last
        return [out] + (list(states) if self.return_state else [])

    def _native_activations(self) -> bool:
        """Whether the activations are the ONNX op's defaults (tanh; sigmoid for the gates)."""
        return self.activation == "tanh" and (self.gates == 1 or self.recurrent_activation == "sigmoid")

    def _projection(self, b, x, params):
        """x @ kernel (+ input bias) for every time step at once, time-major (T, N, gates*units).

        The batch-major -> time-major Transpose (a copy) goes on the narrower side: on x when it has no
        more features than the projection. Then the kernel's gradient x^T @ dz reads x and dz both
        time-major, and the backward pass does not transpose the (T, N, gates*units) cotangent back."""
        time_major_first = b.type(x).shape[-1] <= self.gates * self.units
        if time_major_first:
            x = b.Transpose(x, perm=(1, 0, 2))
        xw = b.MatMul(x, params["kernel"])
        if self.use_bias:
            xw = b.Add(xw, self._input_bias(b, params))
        return xw if time_major_first else b.Transpose(xw, perm=(1, 0, 2))

    def _input_bias(self, b, params):
        return params["bias"]

    def _dropout_mask(self, b, x, width, rate):
        """One mask per sequence, the same at every step (Keras' RNN dropout): kept units scaled by 1/(1-rate)."""
        from fgc.primitives.random_ops import dropout_mask

        shape_of_mask = b.BatchFill(x, dims=(width,), dtype=b.type(x).dtype, value=1.0)
        return dropout_mask(b, shape_of_mask, rate, self._seed)   # seeded by the layer (fgc/primitives/random_ops.py)

    def _lower_scan(self, b, x, params, mask=None, save_states=True):
        dtype = b.type(x).dtype
        training = save_states
        if training and self.dropout:
            x = b.Mul(x, b.Unsqueeze(self._dropout_mask(b, x, b.type(x).shape[-1], self.dropout), axes=(1,)))
        zx = self._projection(b, x, params)
        scanned = [zx] + ([mask] if mask is not None else [])
        closures = self._closures(b, params)
        rec_drop = training and self.recurrent_dropout
        if rec_drop:
            closures.append(self._dropout_mask(b, x, self.units, self.recurrent_dropout))
        body = Graph(f"{self.name}_cell")
        cb = _body_builder(body, self)
        batch = b.type(x).shape[0]   # "N", or the fixed size of an Input(batch_size=...)
        states = [body.add_input(s, TensorType((batch, self.units), dtype)) for s in self.state_names]
        step_in = body.add_input("zx", TensorType((batch, self.gates * self.units), dtype))
        keep = body.add_input("keep", TensorType((batch, 1), "bool")) if mask is not None else None
        inner = [body.add_input(f"c{i}", b.type(c)) for i, c in enumerate(closures)]
        cell_states = list(states)
        if rec_drop:  # Keras 3 drops h_tm1 itself at the start of the cell
            cell_states[0] = cb.Mul(states[0], inner.pop())
        new_states = self.cell(cb, cell_states, step_in, inner)
        if keep is not None:  # a skipped step keeps the previous states (and so repeats the last output);
            # a select, not a blend, so whatever the padding holds (inf, NaN) cannot leak in
            new_states = [cb.Where(keep, s_new, s) for s, s_new in zip(states, new_states)]
        # The whole output sequence is stacked only when the layer returns it.
        sequence = [new_states[0]] if self.return_sequences else []
        body.outputs = list(new_states) + sequence
        body.output_names = [f"{s}_new" for s in self.state_names] + ["y"] * len(sequence)
        zeros = [b.BatchFill(x, dims=(self.units,), dtype=dtype) for _ in self.state_names]
        direction = 1 if self.go_backwards else 0
        outs = b.Scan(*zeros, *scanned, *closures, body=body, num_states=len(zeros), num_scan=len(scanned),
                      save_states=save_states, directions=(direction,) * len(scanned),
                      out_directions=(0,) * len(sequence))
        outs = [outs] if isinstance(outs, Value) else list(outs)
        k = len(self.state_names)
        return (outs[k] if sequence else None), outs[:k]

    def _lower_native(self, b, x, params):
        xt = b.Transpose(x, perm=(1, 0, 2))
        w, r, bias = self._onnx_weights(b, params)
        extra = {"linear_before_reset": 1} if getattr(self, "reset_after", False) else {}
        outs = b.emit(self.onnx_op, xt, w, r, bias, hidden_size=self.units,
                      direction="reverse" if self.go_backwards else "forward", **extra, hint=self.onnx_op)
        seq = b.Squeeze(outs[0], axes=(1,))
        if self.go_backwards:  # ONNX aligns outputs with input positions; Keras returns them in processing order
            seq = b.Slice(seq, starts=(-1,), ends=(-(2 ** 62),), axes=(0,), steps=(-1,))
        states = [b.Squeeze(o, axes=(0,)) for o in outs[1:]]
        return seq, states

    def _to_onnx_rows(self, b, kernel, order):
        """Keras (in, gates*u) columns -> ONNX (1, gates*u, in) rows in ONNX's gate order."""
        rows = b.Transpose(kernel, perm=(1, 0))
        if order != tuple(range(self.gates)):
            parts = b.Split(rows, axis=0, sizes=(self.units,) * self.gates)
            rows = b.Concat(*[parts[i] for i in order], axis=0)
        return b.Unsqueeze(rows, axes=(0,))

    def _onnx_bias(self, b, bias, order, dtype):
        if bias is None:
            return b.Zeros(shape=(1, 2 * self.gates * self.units), dtype=dtype)
        if order != tuple(range(self.gates)):
            parts = b.Split(bias, axis=0, sizes=(self.units,) * self.gates)
            bias = b.Concat(*[parts[i] for i in order], axis=0)
        zeros = b.Zeros(shape=(self.gates * self.units,), dtype=dtype)
        return b.Unsqueeze(b.Concat(bias, zeros, axis=0), axes=(0,))

    onnx_order = (0,)

    def _onnx_weights(self, b, params):
        w = self._to_onnx_rows(b, params["kernel"], self.onnx_order)
        r = self._to_onnx_rows(b, params["recurrent_kernel"], self.onnx_order)
        return w, r, self._onnx_bias(b, params.get("bias"), self.onnx_order, b.type(w).dtype)

    def _closures(self, b, params):
        return [params["recurrent_kernel"]]

    def get_config(self):
        from .config import activation_config, initializer_config

        activations_ = {"activation": activation_config(self.activation, self._act)}
        if not isinstance(self, SimpleRNN):   # Keras' SimpleRNN has no recurrent_activation (nor seed)
            activations_["recurrent_activation"] = activation_config(self.recurrent_activation, self._rec_act)
        return {**super().get_config(), "return_sequences": self.return_sequences,
                "return_state": self.return_state, "go_backwards": self.go_backwards, "stateful": self.stateful,
                "unroll": self.unroll, "units": self.units, **activations_, "use_bias": self.use_bias,
                "kernel_initializer": initializer_config(self.kernel_initializer),
                "recurrent_initializer": initializer_config(self.recurrent_initializer),
                "bias_initializer": initializer_config(self.bias_initializer),
                "dropout": self.dropout, "recurrent_dropout": self.recurrent_dropout,
                **({} if isinstance(self, SimpleRNN) else {"seed": self.seed})}


def _body_builder(body, layer):
    from fgc.primitives import Builder

    return Builder(body, "cell", layer)


class SimpleRNN(_RNN):
    def cell(self, b, states, zx, closures):
        (h,) = states
        return [self._act(b, b.Add(zx, b.MatMul(h, closures[0])))]


class LSTM(_RNN):
    gates = 4
    onnx_op = "LSTM"
    state_names = ("h", "c")
    onnx_order = (0, 3, 1, 2)  # Keras i, f, c, o -> ONNX i, o, f, c

    def __init__(self, units, unit_forget_bias=True, **kwargs):
        super().__init__(units, **kwargs)
        self.unit_forget_bias = unit_forget_bias

    def _bias_init(self):
        if not self.unit_forget_bias:
            return self.bias_initializer
        from fgc import initializers

        base = initializers.get(self.bias_initializer)
        u = self.units
        return lambda shape: np.concatenate([base((u,)), np.ones(u), base((2 * u,))])

    def cell(self, b, states, zx, closures):
        h, c = states
        z = b.Add(zx, b.MatMul(h, closures[0]))
        i, f, g, o = b.Split(z, axis=-1, sizes=(self.units,) * 4)
        i, f, o = self._rec_act(b, i), self._rec_act(b, f), self._rec_act(b, o)
        c_new = b.Add(b.Mul(f, c), b.Mul(i, self._act(b, g)))
        return [b.Mul(o, self._act(b, c_new)), c_new]

    def get_config(self):
        return {**super().get_config(), "unit_forget_bias": self.unit_forget_bias}


class GRU(_RNN):
    gates = 3
    onnx_op = "GRU"
    onnx_order = (0, 1, 2)  # z, r, h in both

    def __init__(self, units, reset_after=True, **kwargs):
        super().__init__(units, **kwargs)
        self.reset_after = reset_after

    def _bias_shape(self):
        return (2, 3 * self.units) if self.reset_after else (3 * self.units,)

    def _input_bias(self, b, params):
        if not self.reset_after:
            return params["bias"]
        return b.Squeeze(b.Slice(params["bias"], starts=(0,), ends=(1,), axes=(0,)), axes=(0,))

    def _closures(self, b, params):
        r = params["recurrent_kernel"]
        if self.reset_after:
            rb = b.Squeeze(b.Slice(params["bias"], starts=(1,), ends=(2,), axes=(0,)), axes=(0,)) \
                if self.use_bias else b.Zeros(shape=(3 * self.units,), dtype=b.type(r).dtype)
            return [r, rb]
        u = self.units
        return [b.Slice(r, starts=(0,), ends=(2 * u,), axes=(1,)), b.Slice(r, starts=(2 * u,), ends=(3 * u,), axes=(1,))]

    def cell(self, b, states, zx, closures):
        (h,) = states
        u = self.units
        xz, xr, xh = b.Split(zx, axis=-1, sizes=(u, u, u))
        if self.reset_after:
            rz, rr, rh = b.Split(b.Add(b.MatMul(h, closures[0]), closures[1]), axis=-1, sizes=(u, u, u))
            z, r = self._rec_act(b, b.Add(xz, rz)), self._rec_act(b, b.Add(xr, rr))
            hh = self._act(b, b.Add(xh, b.Mul(r, rh)))
        else:
            rz, rr = b.Split(b.MatMul(h, closures[0]), axis=-1, sizes=(u, u))
            z, r = self._rec_act(b, b.Add(xz, rz)), self._rec_act(b, b.Add(xr, rr))
            hh = self._act(b, b.Add(xh, b.MatMul(b.Mul(r, h), closures[1])))
        return [b.Add(b.Mul(z, h), b.Mul(b.Sub(1.0, z), hh))]

    def _onnx_weights(self, b, params):
        w = self._to_onnx_rows(b, params["kernel"], self.onnx_order)
        r = self._to_onnx_rows(b, params["recurrent_kernel"], self.onnx_order)
        if not self.use_bias:
            return w, r, b.Zeros(shape=(1, 6 * self.units), dtype=b.type(w).dtype)
        if self.reset_after:
            return w, r, b.Reshape(params["bias"], shape=(1, 6 * self.units))
        return w, r, self._onnx_bias(b, params["bias"], self.onnx_order, b.type(w).dtype)

    def get_config(self):
        return {**super().get_config(), "reset_after": self.reset_after}


class Bidirectional(Layer):
    """Runs ``layer`` forwards and a copy backwards, then merges (concat, sum, mul, ave).

    A mask reaches both directions; with return_sequences the masked steps output zeros (Keras 3 forces
    zero_output_for_mask on the wrapped layers)."""

    supports_masking = consumes_mask = True

    def __init__(self, layer, merge_mode="concat", backward_layer=None, weights=None, **kwargs):
        if not isinstance(layer, _RNN):
            raise TypeError(f"Bidirectional wraps a recurrent layer (LSTM, GRU, SimpleRNN), got {type(layer).__name__}")
        super().__init__(**kwargs)  # auto-named bidirectional, bidirectional_1, ... as in Keras
        if merge_mode not in ("concat", "sum", "mul", "ave", None):
            raise ValueError(f"merge_mode must be 'concat', 'sum', 'mul', 'ave' or None, got {merge_mode!r}")
        self.merge_mode = merge_mode
        # The backward copy gets the forward layer's whole configuration (as Keras rebuilds it from get_config).
        config = {k: getattr(layer, k) for k in ("units", "use_bias", "kernel_initializer", "recurrent_initializer",
                                                 "bias_initializer", "dropout", "recurrent_dropout",
                                                 "return_sequences", "return_state")}
        for k, fn in (("activation", layer._act), ("recurrent_activation", layer._rec_act)):
            config[k] = getattr(layer, k) if getattr(layer, k) in activations.ACTIVATIONS else fn  # name, or callable
        extra = {"reset_after": layer.reset_after} if isinstance(layer, GRU) else {}
        if isinstance(layer, LSTM):
            extra["unit_forget_bias"] = layer.unit_forget_bias
        self.forward_layer = layer
        layer.name = f"forward_{layer.name}"
        self.backward_layer = backward_layer or type(layer)(**config, **extra, go_backwards=not layer.go_backwards,
                                                            name=f"backward_{layer.name[len('forward_'):]}")
        self.return_sequences, self.return_state = layer.return_sequences, layer.return_state

    @property
    def weights(self):
        return self.forward_layer.weights + self.backward_layer.weights

    def get_config(self):
        from fgc.saving.serialization import serialize_keras_object

        def wrapped(layer):
            # Keras makes a wrapped layer that returns sequences output zeros at masked steps, as fgc's does.
            from fgc.saving.serialization import build_input_shape

            entry = serialize_keras_object(layer)
            entry["config"]["zero_output_for_mask"] = bool(layer.return_sequences)
            if layer.built and (self._inbound_nodes or hasattr(self, "_config_build_shape")):   # built by this wrapper
                entry["build_config"] = {"input_shape": build_input_shape(self)}
            return entry

        return {**super().get_config(), "merge_mode": self.merge_mode,
                "layer": wrapped(self.forward_layer), "backward_layer": wrapped(self.backward_layer)}

    @classmethod
    def from_config(cls, config):
        from fgc.saving.serialization import deserialize_keras_object

        config = dict(config)
        # the wrapped layers are built by this wrapper, for its input: not from their own build_config
        layer = {k: v for k, v in config.pop("layer").items() if k != "build_config"}
        # Keras writes the wrapped layer under its "forward_" name; the wrapper adds that prefix itself.
        inner = dict(layer["config"])
        inner["name"] = inner["name"][len("forward_"):] if inner["name"].startswith("forward_") else inner["name"]
        # Bidirectional zeroes masked steps itself (Keras forces zero_output_for_mask on the wrapped layers).
        inner.pop("zero_output_for_mask", None)
        forward = deserialize_keras_object({**layer, "config": inner})
        backward = config.pop("backward_layer", None)
        if backward is not None:
            backward = {**{k: v for k, v in backward.items() if k != "build_config"},
                        "config": {k: v for k, v in backward["config"].items() if k != "zero_output_for_mask"}}
            backward = deserialize_keras_object(backward)
        from fgc.layers.config import init_arguments

        return cls(forward, backward_layer=backward, **init_arguments(cls, config))

    def build(self, input_types):
        for sub in (self.forward_layer, self.backward_layer):
            sub.build(input_types)
            sub.built = True

    def _returns_list(self):
        return self.return_state

    def compute_mask(self, inputs, mask=None):
        """Keras: the merged sequence keeps the mask (each of the two, with merge_mode=None)."""
        if isinstance(mask, (list, tuple)):
            mask = mask[0]
        outs = [mask if self.return_sequences else None] * (1 if self.merge_mode else 2)
        if self.return_state:
            return outs + [None] * (2 * len(self.forward_layer.state_names))
        return outs[0] if self.merge_mode else outs

    def compute_output_types(self, input_types, node_attrs=None):
        fwd = self.forward_layer.compute_output_types(input_types)
        out = fwd[0]
        if self.merge_mode == "concat":
            out = out.with_shape(out.shape[:-1] + (2 * out.shape[-1],))
        outs = [out] if self.merge_mode else [fwd[0], fwd[0]]
        return outs + (fwd[1:] * 2 if self.return_state else [])

    def lower(self, b, inputs, params, training=False, call_args=None):
        def sub_params(layer):
            return {w.name: params[w] for w in layer.weights}
        fwd = self.forward_layer.lower_call(b, inputs, sub_params(self.forward_layer), training, call_args)
        bwd = self.backward_layer.lower_call(b, inputs, sub_params(self.backward_layer), training, call_args)
        y_f, y_b = fwd[0], bwd[0]
        if self.return_sequences:
            _, keep = split_mask(b, inputs, call_args, b.type(y_f).dtype)
            if keep is not None:  # masked steps output zeros (zero_output_for_mask), in each layer's own order
                y_f = _zero_masked_steps(b, y_f, keep, self.forward_layer.go_backwards)
                y_b = _zero_masked_steps(b, y_b, keep, self.backward_layer.go_backwards)
            # Keras flips the backward layer's sequence (it comes in processing order) and only that one.
            y_b = _flip_time(b, y_b)
        merged = {"concat": lambda: [b.Concat(y_f, y_b, axis=-1)], "sum": lambda: [b.Add(y_f, y_b)],
                  "mul": lambda: [b.Mul(y_f, y_b)], "ave": lambda: [b.Mul(b.Add(y_f, y_b), 0.5)],
                  None: lambda: [y_f, y_b]}[self.merge_mode]()
        return merged + (fwd[1:] + bwd[1:] if self.return_state else [])


def _flip_time(b, seq):
    return b.Slice(seq, starts=(-1,), ends=(-(2 ** 62),), axes=(1,), steps=(-1,))


def _zero_masked_steps(b, seq, keep, go_backwards):
    """Zero a (N, T, u) output sequence where its step was masked; a go_backwards sequence is in
    processing order, so its mask is read backwards."""
    keep = b.Unsqueeze(keep, axes=(-1,))
    return b.Mul(seq, _flip_time(b, keep) if go_backwards else keep)


CASES = [
    (SimpleRNN, dict(units=3), [("N", 5, 4)], ("N", 3), 4 * 3 + 3 * 3 + 3),
    (LSTM, dict(units=3), [("N", 5, 4)], ("N", 3), 4 * (4 * 3 + 3 * 3 + 3)),
    (LSTM, dict(units=2, return_sequences=True), [("N", 5, 4)], ("N", 5, 2), 4 * (4 * 2 + 2 * 2 + 2)),
    (GRU, dict(units=3), [("N", 5, 4)], ("N", 3), 3 * (4 * 3 + 3 * 3 + 2 * 3)),
    (GRU, dict(units=3, reset_after=False), [("N", 5, 4)], ("N", 3), 3 * (4 * 3 + 3 * 3 + 3)),
]
