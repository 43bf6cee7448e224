"""A small U-Net (Conv2D encoder, Conv2DTranspose decoder, concatenate skip connections) segmenting a
synthetic task: find the filled squares in noisy grey images. Training reports the per-pixel loss and
the mean IoU over the two classes (background, square) with Keras' BinaryIoU metric (the MeanIoU of a
sigmoid output thresholded at 0.5: per class TP / (TP + FP + FN), averaged), exact over each epoch; the
test score is checked against the same formula in numpy. Then the model is exported to ONNX and plain
onnxruntime reproduces predict().

    python examples/unet.py            # 32x32 images, 800 of them, 6 epochs
    python examples/unet.py --small    # the test suite's reduced run (16x16 images)
"""
import argparse
import os
import tempfile

import numpy as np
import onnxruntime as ort

import fgc
from fgc import layers

parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
parser.add_argument("--small", action="store_true", help="a reduced run (smaller images, fewer epochs)")
args = parser.parse_args()
size, num_samples, epochs = (16, 320, 4) if args.small else (32, 800, 6)
fgc.utils.set_random_seed(0)


def make_data(n, rng):
    """Grey noise with 1-3 brighter filled squares per image; the mask marks the squares."""
    images = rng.normal(0.0, 0.35, size=(n, size, size, 1))
    masks = np.zeros((n, size, size, 1))
    for i in range(n):
        for _ in range(rng.integers(1, 4)):
            side = rng.integers(size // 8 + 1, size // 3 + 1)
            r, c = rng.integers(0, size - side, size=2)
            masks[i, r:r + side, c:c + side] = 1.0
    images += masks
    return images.astype("float32"), masks.astype("float32")


def conv_block(x, filters, name):
    x = layers.Conv2D(filters, 3, padding="same", activation="relu", name=f"{name}_conv1")(x)
    return layers.Conv2D(filters, 3, padding="same", activation="relu", name=f"{name}_conv2")(x)


def mean_iou(y_true, y_pred, num_classes=2):
    ious = []
    for k in range(num_classes):
        t, p = y_true == k, y_pred == k
        union = np.logical_or(t, p).sum()
        if union:                                   # Keras averages over the classes that occur
            ious.append(np.logical_and(t, p).sum() / union)
    return float(np.mean(ious))


image = fgc.Input(shape=(size, size, 1), name="image")
skip1 = conv_block(image, 8, "down1")
skip2 = conv_block(layers.MaxPooling2D(2)(skip1), 16, "down2")
bottom = conv_block(layers.MaxPooling2D(2)(skip2), 32, "bottom")
up2 = layers.Conv2DTranspose(16, 2, strides=2, padding="same", name="up2")(bottom)
x = conv_block(layers.concatenate([up2, skip2]), 16, "decode2")
up1 = layers.Conv2DTranspose(8, 2, strides=2, padding="same", name="up1")(x)
x = conv_block(layers.concatenate([up1, skip1]), 8, "decode1")
mask = layers.Conv2D(1, 1, activation="sigmoid", name="mask")(x)
model = fgc.Model(image, mask)
model.summary()

rng = np.random.default_rng(0)
x_train, y_train = make_data(num_samples, rng)
x_test, y_test = make_data(100, rng)
model.compile(optimizer=fgc.optimizers.Adam(3e-3), loss="binary_crossentropy",
              metrics=[fgc.metrics.BinaryIoU(target_class_ids=[0, 1], threshold=0.5, name="mean_iou")])
history = model.fit(x_train, y_train, batch_size=16, epochs=epochs, verbose=2)
losses = history.history["loss"]
print(f"training loss: first epoch {losses[0]:.4f}, last epoch {losses[-1]:.4f}")

iou = model.evaluate(x_test, y_test, batch_size=16, verbose=0, return_dict=True)["mean_iou"]
predicted = (model.predict(x_test, verbose=0) > 0.5).astype(int)
background = mean_iou(y_test.astype(int), np.zeros_like(predicted))
print(f"test mean IoU {iou:.3f} (all background: {background:.3f})")
print(f"the metric equals numpy's mean IoU: {abs(iou - mean_iou(y_test.astype(int), predicted)) < 1e-4}")

with tempfile.TemporaryDirectory() as tmp:
    path = os.path.join(tmp, "unet.onnx")
    model.export(path)
    session = ort.InferenceSession(path, providers=["CPUExecutionProvider"])
    onnx_masks = session.run(None, {session.get_inputs()[0].name: x_test[:16]})[0]
diff = float(np.abs(onnx_masks - model.predict(x_test[:16], verbose=0)).max())
print(f"ONNX export run by plain onnxruntime matches predict: {diff < 1e-5} (max abs difference {diff:.2e})")
