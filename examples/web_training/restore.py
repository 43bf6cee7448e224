"""Bring the weights that train.mjs saved back into fgc: unpack the checkpoint's flat ``params``
(and any weight fed by name) into Keras layout, in get_weights order, and set them on the model.

    python examples/web_training/restore.py                      # data/checkpoint -> data/trained.onnx
    python examples/web_training/restore.py --data /tmp/conv --checkpoint /tmp/conv/checkpoint

The model is rebuilt by prepare.build_model (the same architecture as the exported step); the
result is exported as an inference model, ready for onnxruntime-web's InferenceSession.
"""
from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np

DTYPES = {"float32": np.dtype("<f4"), "int64": np.dtype("<i8")}


def read_checkpoint(path: Path) -> tuple[dict[str, np.ndarray], int]:
    """The state tensors train.mjs wrote (FILE.json indexes FILE.bin) and the steps taken."""
    index = json.loads(path.with_name(path.name + ".json").read_text())
    blob = path.with_name(path.name + ".bin").read_bytes()
    tensors = {}
    for t in index["tensors"]:
        values = np.frombuffer(blob, DTYPES[t["dtype"]], count=int(np.prod(t["shape"], dtype=np.int64)),
                               offset=t["offset"])
        tensors[t["name"]] = values.reshape(t["shape"])
    return tensors, index["step"]


def keras_weights(data_dir: Path, manifest: dict, state: dict[str, np.ndarray]) -> list[np.ndarray]:
    """The inverse of train.mjs' packing: slice each weight out of ``params`` (or take it by name)
    and undo its stored layout, giving the list set_weights expects."""
    flat, perms = manifest["layout"]["flat_params"], manifest["layout"]["weight_layouts"]
    weights = []
    for entry in manifest["weights"]:
        name = entry["name"]
        if name in flat:
            offset, size, shape = flat[name]
            stored = state["params"][offset:offset + size].reshape(shape)
        elif name in state:
            stored = state[name]
        else:   # a weight the step neither reads nor updates keeps its initial value
            raw = (data_dir / entry["file"]).read_bytes()
            stored = np.frombuffer(raw, DTYPES[entry["dtype"]]).reshape(entry["shape"])
        weights.append(np.transpose(stored, np.argsort(perms[name])) if name in perms else np.array(stored))
    return weights


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=Path(__file__).parent / "data")
    parser.add_argument("--checkpoint", type=Path, help="default: <data>/checkpoint")
    args = parser.parse_args()
    from prepare import build_model   # the same architecture the step was exported from

    manifest = json.loads((args.data / "manifest.json").read_text())
    state, steps = read_checkpoint(args.checkpoint or args.data / "checkpoint")
    model = build_model(manifest["model_kind"])
    model.set_weights(keras_weights(args.data, manifest, state))
    model.export(str(args.data / "trained.onnx"))
    print(f"set the weights of {steps} steps on '{model.name}' and exported {args.data / 'trained.onnx'}")


if __name__ == "__main__":
    main()
