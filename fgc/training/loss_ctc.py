"""Keras 3's CTC loss (Connectionist Temporal Classification) as a graph fragment.

``y_true`` (batch, max_label_length) holds integer labels, 0 being the blank that also pads them;
``y_pred`` (batch, timesteps, classes) holds logits. Every sequence is ``timesteps`` long (Keras'
``ctc`` passes the full length) and a label sequence is as long as its non-zero entries.

The forward recursion is the one of Keras' JAX backend (optax's ``ctc_loss_with_forward_probs``):
log-probabilities of being at label position n after a blank (``phi``, n = 0..L) or after emitting
label n (``emit``, n = 1..L), impossible paths held at log(eps) = -1e5 rather than -inf so that
gradients stay finite. It runs as one Scan over time whose gradient is the reverse Scan autodiff
derives (fgc/primitives/scan_grad.py). ``phi`` is split into its first column (the path that has
emitted nothing, which only ever takes blanks) and the rest, so every state keeps the label axis.

Targets are padded with blanks to ``timesteps`` on the host (a label sequence cannot be longer than
the sequence it labels); padding changes nothing, since the recursion only moves to higher
positions and the loss is read at each sample's label length.
"""
from __future__ import annotations

import numpy as np

from fgc.ir import Graph, TensorType

from .losses import Loss

LOG_EPSILON = -1e5
BLANK = 0


def _logaddexp(b, x, y):
    """log(exp x + exp y) = max + softplus(-|x - y|), stable for the -1e5 of impossible paths."""
    return b.Add(b.Max(x, y), b.Softplus(b.Neg(b.Abs(b.Sub(x, y)))))


def _step_body(batch, length: int):
    """One time step: (phi0, phi, emit, logprob of each label, logprob of the blank, repeat) -> new states."""
    from fgc.primitives import Builder

    body = Graph("ctc_step")
    cb = Builder(body, "ctc")
    f32 = "float32"
    phi0 = body.add_input("phi0", TensorType((batch, 1), f32))
    phi = body.add_input("phi", TensorType((batch, length), f32))
    emit = body.add_input("emit", TensorType((batch, length), f32))
    lp_emit = body.add_input("lp_emit", TensorType((batch, length), f32))
    lp_blank = body.add_input("lp_blank", TensorType((batch, 1), f32))
    repeat = body.add_input("repeat", TensorType((batch, length), f32))
    # emit -> blank, except before a repeated label (it needs the blank in between)
    phi = _logaddexp(cb, phi, cb.Add(emit, cb.Mul(repeat, LOG_EPSILON)))
    before = cb.Concat(phi0, cb.Slice(phi, starts=(0,), ends=(length - 1,), axes=(1,)), axis=1) if length > 1 \
        else phi0
    new_emit = _logaddexp(cb, cb.Add(before, lp_emit), cb.Add(emit, lp_emit))   # blank -> label, label self-loop
    new_phi0 = cb.Add(phi0, lp_blank)
    # blank self-loop, and label -> blank in the same step only before a repeated label
    blank_after_emit = cb.Add(cb.Add(emit, lp_blank), cb.Mul(cb.Sub(1.0, repeat), LOG_EPSILON))
    new_phi = _logaddexp(cb, cb.Add(phi, lp_blank), blank_after_emit)
    body.outputs, body.output_names = [new_phi0, new_phi, new_emit], ["phi0_new", "phi_new", "emit_new"]
    return body


class CTC(Loss):
    """CTC loss of logits ``y_pred`` (batch, timesteps, classes) against labels ``y_true`` (batch,
    max_label_length), blank 0; one value per sample."""

    name = "ctc"
    sparse = True   # integer labels; step.py types them like y_pred without its class axis

    def __init__(self, reduction="sum_over_batch_size", name=None, dtype=None, **kwargs):
        super().__init__(reduction=reduction, name=name, dtype=dtype, **kwargs)

    def elements_per_sample(self, target_shape: tuple) -> int:
        return 1   # one loss per label sequence, however long the (padded) labels

    def fit_targets(self, labels: np.ndarray, pred_shape: tuple) -> np.ndarray:
        """Labels padded with blanks to the number of timesteps (what the graph's target input holds)."""
        if labels.ndim != 2 or len(pred_shape) != 3:
            raise ValueError(f"CTC takes labels of shape (batch, max_label_length) and logits of shape (batch, "
                             f"timesteps, classes); got labels of shape {labels.shape} and logits of shape "
                             f"{tuple(pred_shape)}")
        steps = pred_shape[1]
        if not isinstance(steps, (int, np.integer)):
            raise ValueError("CTC needs a fixed number of timesteps in y_pred (an Input with a known sequence "
                             "length); fgc does not support variable-length CTC yet")
        if labels.shape[1] > steps:
            if np.any(labels[:, steps:] != BLANK):
                raise ValueError(f"CTC: label sequences of length up to {labels.shape[1]} cannot be aligned with "
                                 f"{steps} timesteps; each sequence needs at least as many steps as labels")
            return np.ascontiguousarray(labels[:, :steps])
        return np.pad(labels, ((0, 0), (0, steps - labels.shape[1])), constant_values=BLANK)

    def values(self, b, t, p):
        ptype = b.type(p)
        if ptype.rank != 3:
            raise ValueError(f"CTC expects logits y_pred of shape (batch, timesteps, classes), got {ptype.shape}")
        batch, steps, classes = ptype.shape
        if not isinstance(steps, int) or not isinstance(classes, int):
            raise ValueError(f"CTC needs y_pred with a fixed number of timesteps and classes, got {ptype.shape}")
        ids = b.Cast(t, to="int64")                        # (N, L), L == steps after fit_targets
        length = b.type(ids).shape[1]
        logprobs = b.LogSoftmax(p, axis=-1)                # (N, T, C)
        one_hot = b.Cast(b.Equal(b.Unsqueeze(ids, axes=(-1,)), b.const(np.arange(classes, dtype=np.int64))),
                         to="float32")                     # (N, L, C)
        lp_emit = b.Transpose(b.MatMul(logprobs, b.Transpose(one_hot, perm=(0, 2, 1))), perm=(1, 0, 2))
        lp_blank = b.Transpose(b.Slice(logprobs, starts=(BLANK,), ends=(BLANK + 1,), axes=(2,)), perm=(1, 0, 2))
        repeat = b.BatchFill(ids, dims=(1,), dtype="float32")   # the last label repeats nothing
        if length > 1:   # repeat[:, n]: label n + 1 equals label n
            same = b.Equal(b.Slice(ids, starts=(0,), ends=(length - 1,), axes=(1,)),
                           b.Slice(ids, starts=(1,), ends=(length,), axes=(1,)))
            repeat = b.Concat(b.Cast(same, to="float32"), repeat, axis=1)
        states = [b.BatchFill(ids, dims=(1,), dtype="float32", value=0.0),
                  b.BatchFill(ids, dims=(length,), dtype="float32", value=LOG_EPSILON),
                  b.BatchFill(ids, dims=(length,), dtype="float32", value=LOG_EPSILON)]
        outs = b.Scan(*states, lp_emit, lp_blank, repeat, body=_step_body(batch, length), num_states=3, num_scan=2,
                      save_states=True, directions=(0, 0), out_directions=())
        phi0, phi, emit = outs[:3]   # the final states (the saved per-step states follow, for the gradient)
        last = b.Concat(phi0, _logaddexp(b, phi, emit), axis=1)   # the final emit -> blank transition
        label_length = b.ReduceSum(b.Cast(b.Not(b.Equal(ids, BLANK)), to="int64"), axes=(1,), keepdims=1)
        return b.Neg(b.Squeeze(b.GatherElements(last, label_length, axis=1), axes=(1,)))
