"""The node-saving rewrites of small train steps leave the step's numbers as they were: a model trained
with each rewrite switched off and on ends with the same weights (bit for bit, or within float32 rounding
where a sum's order changes)."""
import numpy as np
import pytest

import fgc
from fgc.passes import fold_negation, simplify
from fgc.training import losses


def _classifier(loss):
    x = fgc.Input(shape=(6,))
    h = fgc.layers.Dense(5, activation="relu")(x)
    activation = "sigmoid" if loss == "binary_crossentropy" else "softmax"
    model = fgc.Model(x, fgc.layers.Dense(4, activation=activation)(h))
    model.compile(optimizer="rmsprop", loss=loss, metrics=["accuracy"])
    return model


def _trained_weights(loss, steps=3, losses=None):
    model = _classifier(loss)
    rng = np.random.default_rng(0)
    model.set_weights([rng.normal(size=w.shape).astype(np.float32) for w in model.get_weights()])
    for _ in range(steps):
        x = rng.normal(size=(8, 6)).astype(np.float32) * 3
        ids = rng.integers(0, 4, 8)
        y = ids if loss.startswith("sparse") else np.eye(4, dtype=np.float32)[ids]
        if loss == "binary_crossentropy":   # several labels on, and targets at the clip's bounds' side
            y = np.maximum(y, (rng.random((8, 4)) < 0.3).astype(np.float32))
        reported = model.train_on_batch(x, y, sample_weight=rng.random(8).astype(np.float32))
        if losses is not None:
            losses.append(reported)
    return model.get_weights(), model._trainer.step(True).proto


def _ops(proto):
    return [n.op_type for n in proto.graph.node]


LOSSES = ["categorical_crossentropy", "sparse_categorical_crossentropy", "binary_crossentropy"]


@pytest.mark.parametrize("loss", LOSSES)
def test_folding_the_negation_through_joins_keeps_the_weights(loss, monkeypatch):
    monkeypatch.setattr(fold_negation, "FOLD_THROUGH_JOINS", False)
    before, old = _trained_weights(loss)
    monkeypatch.setattr(fold_negation, "FOLD_THROUGH_JOINS", True)
    after, new = _trained_weights(loss)
    for b, a in zip(before, after):
        np.testing.assert_array_equal(a, b)
    assert _ops(new).count("Neg") < _ops(old).count("Neg")


@pytest.mark.parametrize("loss", LOSSES)
def test_the_weighted_loss_total_as_one_matmul_keeps_the_weights(loss, monkeypatch):
    monkeypatch.setattr(simplify, "DOT_RULE", False)
    old_losses, new_losses = [], []
    before, old = _trained_weights(loss, losses=old_losses)
    monkeypatch.setattr(simplify, "DOT_RULE", True)
    after, new = _trained_weights(loss, losses=new_losses)
    for b, a in zip(before, after):   # the gradients never read the total
        np.testing.assert_array_equal(a, b)
    np.testing.assert_allclose(np.array(new_losses, dtype=float), np.array(old_losses, dtype=float), rtol=1e-6)
    assert len(new.graph.node) < len(old.graph.node)


def test_the_binary_crossentropy_without_negations_keeps_the_weights(monkeypatch):
    monkeypatch.setattr(losses, "BCE_WITHOUT_NEGATIONS", False)
    old_losses, new_losses = [], []
    before, old = _trained_weights("binary_crossentropy", losses=old_losses)
    monkeypatch.setattr(losses, "BCE_WITHOUT_NEGATIONS", True)
    after, new = _trained_weights("binary_crossentropy", losses=new_losses)
    for b, a in zip(before, after):
        np.testing.assert_array_equal(a, b)
    # the reported loss: the same sum negated, which a vectorised dot may round 1 ulp apart
    np.testing.assert_allclose(np.array(new_losses, dtype=float), np.array(old_losses, dtype=float), rtol=1e-6)
    assert _ops(new).count("Neg") < _ops(old).count("Neg")


def _sequence_model_weights(steps=3):
    """Dense layers on (N, T, C) inputs: their bias gradients sum over (N, T); the first one's output cotangent
    comes from a Reshape's vjp, as attention's fused projection's does."""
    x = fgc.Input(shape=(5, 6))
    h = fgc.layers.Reshape((10, 2))(fgc.layers.Dense(4)(x))
    h = fgc.layers.Dense(8, activation="relu")(h)
    model = fgc.Model(x, fgc.layers.Dense(3)(fgc.layers.GlobalAveragePooling1D()(h)))
    model.compile(optimizer="adam", loss="mse")
    rng = np.random.default_rng(0)
    model.set_weights([rng.normal(size=w.shape).astype(np.float32) for w in model.get_weights()])
    for _ in range(steps):
        model.train_on_batch(rng.normal(size=(7, 5, 6)).astype(np.float32), rng.normal(size=(7, 3)).astype(np.float32))
    return model.get_weights(), model._trainer.step(True).proto


def test_bias_gradients_summed_over_the_weight_gradient_rows_keep_the_weights(monkeypatch):
    monkeypatch.setattr(simplify, "FLAT_SUMS", False)
    before, old = _sequence_model_weights()
    monkeypatch.setattr(simplify, "FLAT_SUMS", True)
    after, new = _sequence_model_weights()
    for b, a in zip(before, after):
        np.testing.assert_array_equal(a, b)
    assert _ops(new).count("Reshape") < _ops(old).count("Reshape")
