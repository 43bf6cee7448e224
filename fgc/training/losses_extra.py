"""The rest of Keras 3's loss catalogue: focal crossentropies, Dice, Tversky, generalized crossentropy
and Circle, as graph fragments (``values``) like the core losses in losses.py.

Each follows Keras' function of the same name (keras/src/losses/losses.py): the clip to
[eps, 1 - eps] in float32, the order of operations, the reduction axes. Where Keras reduces over the
whole batch (``Dice``/``Tversky`` with ``axis=None``) the loss is one number per batch, which the
train step weighs like a per-sample loss (Keras multiplies a scalar by the sample weights, then
takes their mean)."""
from __future__ import annotations

import numpy as np

from .losses import (_P_HI, _P_LO, EPSILON, Loss, _check_bool, _check_int, _check_smoothing, canonical_axis,
                     traced_elements_per_sample)


def _check_number(value, what: str) -> float:
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, float, np.integer, np.floating)):
        raise TypeError(f"{what} must be a number, got {value!r}")
    return float(value)


def _check_axes(value, what: str):
    """None (every axis), an int, or a tuple of ints (Keras' ``axis`` of Dice and Tversky)."""
    if value is None:
        return None
    if isinstance(value, (list, tuple)):
        return tuple(_check_int(a, what) for a in value)
    return _check_int(value, what)


def _clipped(b, p):
    return b.Clip(p, min=_P_LO, max=_P_HI)


def _power(b, x, gamma: float):
    # x ** 0 is 1; skipping it also keeps the gradient finite where x is 0
    return None if gamma == 0.0 else b.Pow(x, gamma)


def _focal_arguments(loss, where, gamma, from_logits, label_smoothing, axis):
    """The arguments both focal crossentropies take, checked and set on ``loss``."""
    loss.gamma = _check_number(gamma, f"{where}(gamma=...)")
    loss.from_logits = _check_bool(from_logits, f"{where}(from_logits=...)")
    loss.label_smoothing = _check_smoothing(label_smoothing, f"{where}(label_smoothing=...)")
    loss.axis = _check_int(axis, f"{where}(axis=...)")


class BinaryFocalCrossentropy(Loss):
    """``mean(focal_factor * bce, axis)`` with ``focal_factor = (1 - p_t) ** gamma`` (Lin et al., 2018)."""

    name = "binary_focal_crossentropy"

    def __init__(self, apply_class_balancing=False, alpha=0.25, gamma=2.0, from_logits=False, label_smoothing=0.0,
                 axis=-1, **kwargs):
        super().__init__(**kwargs)
        where = "BinaryFocalCrossentropy"
        self.apply_class_balancing = _check_bool(apply_class_balancing, f"{where}(apply_class_balancing=...)")
        self.alpha = _check_number(alpha, f"{where}(alpha=...)")
        _focal_arguments(self, where, gamma, from_logits, label_smoothing, axis)

    def values(self, b, t, p):
        axis = canonical_axis(self.axis, b.type(p).rank, type(self).__name__)
        if self.label_smoothing:
            t = b.Add(b.Mul(t, 1.0 - self.label_smoothing), 0.5 * self.label_smoothing)
        if self.from_logits:
            p = b.Sigmoid(p)
        q = _clipped(b, p)   # Keras: the crossentropy clips, the focal factor uses p itself
        not_t = b.Sub(1.0, t)
        bce = b.Neg(b.Add(b.Mul(t, b.Log(q)), b.Mul(not_t, b.Log(b.Sub(1.0, q)))))
        p_t = b.Add(b.Mul(t, p), b.Mul(not_t, b.Sub(1.0, p)))
        factor = _power(b, b.Sub(1.0, p_t), self.gamma)
        focal = bce if factor is None else b.Mul(factor, bce)
        if self.apply_class_balancing:
            focal = b.Mul(b.Add(b.Mul(t, self.alpha), b.Mul(not_t, 1.0 - self.alpha)), focal)
        return b.ReduceMean(focal, axes=(axis,), keepdims=0)

    def get_config(self):
        return {**super().get_config(), "from_logits": self.from_logits, "label_smoothing": self.label_smoothing,
                "axis": self.axis, "apply_class_balancing": self.apply_class_balancing, "alpha": self.alpha,
                "gamma": self.gamma}


class CategoricalFocalCrossentropy(Loss):
    """``sum(alpha * (1 - p) ** gamma * -y * log p, axis)`` over probabilities renormalized and clipped."""

    name = "categorical_focal_crossentropy"

    def __init__(self, alpha=0.25, gamma=2.0, from_logits=False, label_smoothing=0.0, axis=-1, **kwargs):
        super().__init__(**kwargs)
        where = "CategoricalFocalCrossentropy"
        if isinstance(alpha, (list, tuple, np.ndarray)):   # one weight per class, as Keras allows
            self.alpha = [_check_number(a, f"{where}(alpha=...)") for a in np.asarray(alpha).reshape(-1).tolist()]
        else:
            self.alpha = _check_number(alpha, f"{where}(alpha=...)")
        _focal_arguments(self, where, gamma, from_logits, label_smoothing, axis)

    def values(self, b, t, p):
        axis = canonical_axis(self.axis, b.type(p).rank, type(self).__name__)
        if self.label_smoothing:
            t = b.Add(b.Mul(t, 1.0 - self.label_smoothing), self.label_smoothing / b.type(p).shape[axis])
        if self.from_logits:
            p = b.Softmax(p, axis=axis)
        out = _clipped(b, b.Div(p, b.ReduceSum(p, axes=(axis,), keepdims=1)))
        cce = b.Neg(b.Mul(t, b.Log(out)))
        factor = _power(b, b.Sub(1.0, out), self.gamma)
        alpha = b.const(np.asarray(self.alpha, np.float32)) if isinstance(self.alpha, list) else self.alpha
        weight = b.Mul(factor, alpha) if factor is not None else alpha
        focal = b.Mul(weight, cce) if not isinstance(weight, float) else b.Mul(cce, weight)
        return b.ReduceSum(focal, axes=(axis,), keepdims=0)

    def get_config(self):
        return {**super().get_config(), "from_logits": self.from_logits, "label_smoothing": self.label_smoothing,
                "axis": self.axis, "alpha": self.alpha, "gamma": self.gamma}


class _OverlapLoss(Loss):
    """Dice and Tversky: one minus an overlap ratio, summed over ``axis`` (None: every axis, the batch too)."""

    def _sum(self, b, x):
        if self.axis is None:
            return b.ReduceSum(x, keepdims=0)
        axes = self.axis if isinstance(self.axis, tuple) else (self.axis,)
        rank = b.type(x).rank
        axes = tuple(sorted({canonical_axis(a, rank, type(self).__name__) for a in axes}))
        return b.ReduceSum(x, axes=axes, keepdims=0)

    @property
    def couples_samples(self) -> bool:
        """Whether one value mixes several samples (the overlap summed over the batch axis)."""
        axes = self.axis if isinstance(self.axis, tuple) else (self.axis,)
        return self.axis is None or 0 in axes

    def elements_per_sample(self, target_shape: tuple) -> int:
        if self.axis is not None:
            axes = self.axis if isinstance(self.axis, tuple) else (self.axis,)
            rank = len(target_shape)
            if any(canonical_axis(a, rank, type(self).__name__) == 0 for a in axes):
                raise ValueError(f"{type(self).__name__}(axis={self.axis}) sums over the batch axis but not over "
                                 f"all of them; in training use axis=None (the whole batch) or per-sample axes "
                                 f"(1 to {rank - 1})")
        return traced_elements_per_sample(self, target_shape)

    def get_config(self):
        return {**super().get_config(), "axis": self.axis}


class Dice(_OverlapLoss):
    """``1 - 2 sum(y p) / (sum(y) + sum(p) + eps)`` over ``axis``."""

    name = "dice"

    def __init__(self, reduction="sum_over_batch_size", name=None, axis=None, dtype=None, **kwargs):
        super().__init__(reduction=reduction, name=name, dtype=dtype, **kwargs)
        self.axis = _check_axes(axis, "Dice(axis=...)")

    def values(self, b, t, p):
        overlap = self._sum(b, b.Mul(t, p))
        total = b.Add(b.Add(self._sum(b, t), self._sum(b, p)), EPSILON)
        return b.Sub(1.0, b.Div(b.Mul(overlap, 2.0), total))


class Tversky(_OverlapLoss):
    """``1 - TP / (TP + alpha FP + beta FN + eps)`` over ``axis`` (Salehi et al., 2017)."""

    name = "tversky"

    def __init__(self, alpha=0.5, beta=0.5, reduction="sum_over_batch_size", name=None, axis=None, dtype=None,
                 **kwargs):
        super().__init__(reduction=reduction, name=name, dtype=dtype, **kwargs)
        self.alpha = _check_number(alpha, "Tversky(alpha=...)")
        self.beta = _check_number(beta, "Tversky(beta=...)")
        self.axis = _check_axes(axis, "Tversky(axis=...)")

    def values(self, b, t, p):
        tp = self._sum(b, b.Mul(p, t))
        fp = self._sum(b, b.Mul(b.Sub(1.0, t), p))
        fn = self._sum(b, b.Mul(t, b.Sub(1.0, p)))
        denominator = b.Add(b.Add(b.Add(tp, b.Mul(fp, self.alpha)), b.Mul(fn, self.beta)), EPSILON)
        return b.Sub(1.0, b.Div(tp, denominator))

    def get_config(self):
        return {**super().get_config(), "alpha": self.alpha, "beta": self.beta}


class CategoricalGeneralizedCrossEntropy(Loss):
    """``(1 - p ** q) / q`` with ``p`` the predicted probability of the true class (Zhang & Sabuncu, 2018);
    the targets are class ids, as for sparse_categorical_crossentropy."""

    name = "categorical_generalized_cross_entropy"
    sparse = True

    def __init__(self, q=0.5, reduction="sum_over_batch_size", name=None, dtype=None, **kwargs):
        q = _check_number(q, "CategoricalGeneralizedCrossEntropy(q=...)")
        if not 0.0 < q < 1.0:
            raise ValueError(f"CategoricalGeneralizedCrossEntropy(q=...) must be in the open interval (0, 1), got {q}")
        super().__init__(reduction=reduction, name=name, dtype=dtype, **kwargs)
        self.q = q

    def values(self, b, t, p):
        ids = b.Unsqueeze(b.Cast(t, to="int64"), axes=(-1,))
        picked = b.Squeeze(b.GatherElements(p, ids, axis=-1), axes=(-1,))
        return b.Div(b.Sub(1.0, b.Pow(picked, self.q)), self.q)

    def get_config(self):
        return {**super().get_config(), "q": self.q}


_NO_PAIR = -1e30   # stands for Keras' -inf in the masked logsumexp: exp gives 0, and gradients stay finite


class Circle(Loss):
    """Circle loss (Sun et al., 2020) of L2-normalized embeddings ``y_pred`` (N, D) with integer labels
    ``y_true`` (N,): every other sample of the batch is a positive or a negative pair. Samples whose
    loss is 0 are masked out of the mean, as Keras masks them."""

    name = "circle"
    sparse = True
    couples_samples = True   # every sample is paired with the others of its batch
    class_ids = False   # labels are any integers, not indices into y_pred's last axis

    def __init__(self, gamma=80.0, margin=0.4, remove_diagonal=True, reduction="sum_over_batch_size", name=None,
                 dtype=None, **kwargs):
        super().__init__(reduction=reduction, name=name, dtype=dtype, **kwargs)
        self.gamma = _check_number(gamma, "Circle(gamma=...)")
        self.margin = _check_number(margin, "Circle(margin=...)")
        self.remove_diagonal = _check_bool(remove_diagonal, "Circle(remove_diagonal=...)")

    def _masks(self, b, labels):
        ids = b.Cast(labels, to="int64")
        same = b.Equal(b.Unsqueeze(ids, axes=(1,)), b.Unsqueeze(ids, axes=(0,)))   # (N, N)
        negative = b.Not(same)
        if self.remove_diagonal:
            ones = b.Add(b.Mul(b.Cast(same, to="float32"), 0.0), 1.0)
            diagonal = b.Cast(b.Trilu(b.Trilu(ones, upper=1), upper=0), to="bool")
            same = b.And(same, b.Not(diagonal))
        return same, negative

    def _masked_logsumexp(self, b, x, mask):
        x = b.Where(mask, x, _NO_PAIR)
        top = b.StopGradient(b.ReduceMax(x, axes=(1,), keepdims=1))
        total = b.ReduceSum(b.Exp(b.Sub(x, top)), axes=(1,), keepdims=0)
        return b.Add(b.Log(total), b.Squeeze(top, axes=(1,)))

    def values(self, b, t, p):
        if b.type(p).rank != 2:
            raise ValueError(f"Circle expects embeddings y_pred of shape (batch, dim), got {b.type(p).shape}")
        distance = b.Max(b.Sub(1.0, b.MatMul(p, b.Transpose(p, perm=(1, 0)))), 0.0)
        positive, negative = self._masks(b, t)
        pos_f, neg_f = b.Cast(positive, to="float32"), b.Cast(negative, to="float32")
        m = self.margin
        pos_weight = b.Max(b.Mul(b.Add(distance, m), pos_f), 0.0)
        neg_weight = b.Max(b.Mul(b.Sub(1.0 + m, distance), neg_f), 0.0)
        pos_logits = b.Mul(b.Mul(pos_weight, b.Sub(m, distance)), -self.gamma)
        neg_logits = b.Mul(b.Mul(neg_weight, b.Sub(1.0 - m, distance)), self.gamma)
        return b.Softplus(b.Add(self._masked_logsumexp(b, pos_logits, positive),
                                self._masked_logsumexp(b, neg_logits, negative)))

    def valid_mask(self, b, t, p):
        return b.Greater(self.values(b, t, p), 0.0)

    def get_config(self):
        return {**super().get_config(), "gamma": self.gamma, "margin": self.margin,
                "remove_diagonal": self.remove_diagonal}
