"""Intersection-over-union metrics from an accumulated (num_classes, num_classes) confusion matrix."""
from __future__ import annotations

import numpy as np

from fgc import ops

from .base import Metric

_EPSILON = 1e-7


def _weight_dtype(where: str, dtype) -> tuple[bool, str]:
    """(whether sample weights are truncated to integers, the dtype the config reports). Keras' IoU
    metrics default to an integer dtype, so float weights lose their fractions there too."""
    name = getattr(dtype, "name", dtype)
    if name in (None, "int", "int32"):
        return True, "int32" if name in (None, "int32") else "int"
    if name == "float32":
        return False, "float32"
    raise ValueError(f"{where}(dtype={dtype!r}): fgc's IoU metrics take dtype 'int32' (Keras' default) or 'float32'")


class _IoUBase(Metric):
    def __init__(self, num_classes, name=None, dtype=None, ignore_class=None, sparse_y_true=True,
                 sparse_y_pred=True, axis=-1):
        integer, reported = _weight_dtype(type(self).__name__, dtype)
        super().__init__(name=name)
        self._integer_weights, self._dtype = integer, reported
        self.num_classes, self.ignore_class = num_classes, ignore_class
        self.sparse_y_true, self.sparse_y_pred, self.axis = sparse_y_true, sparse_y_pred, axis
        # counts are kept in float32 (exact up to 2**24 per cell, plenty for a metric)
        self.total_cm = self.add_variable((num_classes, num_classes), "zeros", dtype="float32",
                                          name="total_confusion_matrix")

    def update_state(self, y_true, y_pred, sample_weight=None):
        if not self.sparse_y_true:
            y_true = ops.argmax(y_true, axis=self.axis)
        if not self.sparse_y_pred:
            y_pred = ops.argmax(y_pred, axis=self.axis)
        y_true = ops.reshape(ops.cast(y_true, "int32"), (-1,))
        y_pred = ops.reshape(ops.cast(y_pred, "int32"), (-1,))
        weight = ops.ones_like(y_true, dtype="float32") if sample_weight is None else \
            ops.multiply(ops.reshape(ops.cast(sample_weight, "float32"), (-1,)), ops.ones_like(y_true, dtype="float32"))
        if self._integer_weights:
            weight = ops.cast(ops.cast(weight, "int32"), "float32")
        valid = ops.logical_and(ops.logical_and(ops.greater_equal(y_true, 0), ops.less(y_true, self.num_classes)),
                                ops.logical_and(ops.greater_equal(y_pred, 0), ops.less(y_pred, self.num_classes)))
        if self.ignore_class is not None:
            valid = ops.logical_and(valid, ops.not_equal(y_true, self.ignore_class))
        weight = ops.where(valid, weight, 0.0)
        y_true, y_pred = ops.where(valid, y_true, 0), ops.where(valid, y_pred, 0)
        rows = ops.multiply(ops.one_hot(y_true, self.num_classes), ops.expand_dims(weight, -1))
        batch_cm = ops.matmul(ops.transpose(rows), ops.one_hot(y_pred, self.num_classes))
        self.total_cm.assign(ops.add(self.total_cm, batch_cm))

    def reset_state(self):
        self.total_cm.assign(np.zeros(self.total_cm.shape, np.float32))

    def get_config(self):
        return {"name": self.name, "dtype": self._dtype}


class IoU(_IoUBase):
    def __init__(self, num_classes, target_class_ids, name=None, dtype=None, ignore_class=None, sparse_y_true=True,
                 sparse_y_pred=True, axis=-1):
        super().__init__(num_classes, name, dtype, ignore_class, sparse_y_true, sparse_y_pred, axis)
        if max(target_class_ids) >= num_classes:
            raise ValueError(f"IoU: target class id {max(target_class_ids)} is out of range, which is "
                             f"[0, {num_classes})")
        self.target_class_ids = list(target_class_ids)

    def result(self):
        cm = self.total_cm
        diagonal = ops.sum(ops.multiply(cm, np.eye(self.num_classes, dtype=np.float32)), axis=0)
        denominator = ops.subtract(ops.add(ops.sum(cm, axis=0), ops.sum(cm, axis=1)), diagonal)
        ids = np.asarray(self.target_class_ids, np.int32)
        true_positives = ops.take(diagonal, ids)
        denominator = ops.take(denominator, ids)
        valid = ops.greater(denominator, 1e-9)
        iou = ops.where(valid, ops.divide(true_positives, ops.add(denominator, _EPSILON)), 0.0)
        return ops.divide(ops.sum(iou, axis=self.axis),
                          ops.add(ops.sum(ops.cast(valid, "float32")), _EPSILON))

    def get_config(self):
        return {**super().get_config(), "num_classes": self.num_classes, "target_class_ids": self.target_class_ids,
                "ignore_class": self.ignore_class, "sparse_y_true": self.sparse_y_true,
                "sparse_y_pred": self.sparse_y_pred, "axis": self.axis}


class BinaryIoU(IoU):
    def __init__(self, target_class_ids=(0, 1), threshold=0.5, name=None, dtype=None):
        super().__init__(num_classes=2, target_class_ids=target_class_ids, name=name, dtype=dtype)
        self.threshold = threshold

    def update_state(self, y_true, y_pred, sample_weight=None):
        predicted = ops.cast(ops.greater_equal(ops.cast(y_pred, "float32"), self.threshold), "int32")
        return super().update_state(y_true, predicted, sample_weight)

    def get_config(self):
        return {"target_class_ids": self.target_class_ids, "threshold": self.threshold, "name": self.name,
                "dtype": self._dtype}


class MeanIoU(IoU):
    def __init__(self, num_classes, name=None, dtype=None, ignore_class=None, sparse_y_true=True,
                 sparse_y_pred=True, axis=-1):
        super().__init__(num_classes, list(range(num_classes)), name, dtype, ignore_class, sparse_y_true,
                         sparse_y_pred, axis)

    def get_config(self):
        return {"num_classes": self.num_classes, "name": self.name, "dtype": self._dtype,
                "ignore_class": self.ignore_class, "sparse_y_true": self.sparse_y_true,
                "sparse_y_pred": self.sparse_y_pred, "axis": self.axis}


class OneHotIoU(IoU):
    def __init__(self, num_classes, target_class_ids, name=None, dtype=None, ignore_class=None, sparse_y_pred=False,
                 axis=-1):
        super().__init__(num_classes, target_class_ids, name, dtype, ignore_class, False, sparse_y_pred, axis)

    def get_config(self):
        return {"num_classes": self.num_classes, "target_class_ids": self.target_class_ids, "name": self.name,
                "dtype": self._dtype, "ignore_class": self.ignore_class, "sparse_y_pred": self.sparse_y_pred,
                "axis": self.axis}


class OneHotMeanIoU(MeanIoU):
    def __init__(self, num_classes, name=None, dtype=None, ignore_class=None, sparse_y_pred=False, axis=-1):
        super().__init__(num_classes, name, dtype, ignore_class, False, sparse_y_pred, axis)

    def get_config(self):
        return {"num_classes": self.num_classes, "name": self.name, "dtype": self._dtype,
                "ignore_class": self.ignore_class, "sparse_y_pred": self.sparse_y_pred, "axis": self.axis}
