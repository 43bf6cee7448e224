"""The ``fgc`` command (also ``python -m fgc``): demo, convert, summary, --version."""
from __future__ import annotations

import argparse
import sys


def _parser() -> argparse.ArgumentParser:
    from fgc import __version__

    parser = argparse.ArgumentParser(prog="fgc", description="fgc: a functional graph compiler for deep learning "
                                                             "(the Keras API, compiled to ONNX)")
    parser.add_argument("--version", action="version", version=f"fgc {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    demo = sub.add_parser("demo", help="train, export and run two models end to end, printing each step")
    demo.add_argument("--out", default=None, help="keep the files written under this folder (default: a temporary "
                                                  "folder, removed at exit)")
    demo.add_argument("--quick", action="store_true", help="fewer epochs")
    convert = sub.add_parser("convert", help="a Keras 3 .keras model file -> plain ONNX (checked in onnxruntime)")
    convert.add_argument("source", help="the .keras file (written by Keras 3 or by fgc)")
    convert.add_argument("target", help="the .onnx file to write")
    convert.add_argument("--training", action="store_true",
                         help="write the compiled train step instead (the file must hold a compile config)")
    summary = sub.add_parser("summary", help="print the Keras summary table of a .keras model file")
    summary.add_argument("source", help="the .keras file")
    return parser


def main(argv=None) -> int:
    args = _parser().parse_args(argv)
    try:
        if args.command == "demo":
            from fgc.demo import run_demo

            return run_demo(out_dir=args.out, quick=args.quick)
        if args.command == "convert":
            return _convert(args.source, args.target, args.training)
        if args.command == "summary":
            from fgc.saving.keras_file import load_model

            load_model(args.source, compile=False).summary()
            return 0
    except (ValueError, OSError, TypeError, RuntimeError) as e:
        print(f"fgc {args.command}: {e}", file=sys.stderr)
        return 1
    return 2


def _convert(source: str, target: str, training: bool) -> int:
    import numpy as np

    from fgc.saving.keras_file import load_model

    model = load_model(source, compile=training)
    if training and model._compiled is None:
        raise ValueError(f"'{source}' holds no compile config, so it has no train step; compile and save the model "
                         f"first, or convert without --training")
    model.export(target, training=training)
    if training:
        print(f"wrote {target}: the train step of '{model.name}' (see the README for its inputs and outputs)")
        return 0
    import onnxruntime as ort

    rng = np.random.default_rng(0)
    feeds = []
    for t in model.inputs:
        shape = tuple(2 if i == 0 else (4 if not isinstance(d, int) else d) for i, d in enumerate(t.type.shape))
        feeds.append(np.zeros(shape, t.dtype) if "int" in t.dtype else rng.random(shape).astype(t.dtype))
    session = ort.InferenceSession(target, providers=["CPUExecutionProvider"])
    declared = {"tensor(int64)": np.int64, "tensor(int32)": np.int32, "tensor(float)": np.float32,
                "tensor(float16)": np.float16, "tensor(uint8)": np.uint8, "tensor(bool)": np.bool_}
    got = session.run(None, {i.name: a.astype(declared.get(i.type, a.dtype))   # exported ids take int64
                             for i, a in zip(session.get_inputs(), feeds)})
    want = model.predict(feeds, verbose=0)
    want = list(want.values()) if isinstance(want, dict) else (want if isinstance(want, list) else [want])
    diff = max(float(np.max(np.abs(g - w))) if g.size else 0.0 for g, w in zip(got, want))
    print(f"wrote {target}: '{model.name}', {len(session.get_inputs())} input(s), {len(got)} output(s); "
          f"checked in onnxruntime {ort.__version__}: max |onnxruntime - fgc| = {diff:.2e}")
    return 0 if diff < 1e-3 else 1


if __name__ == "__main__":
    sys.exit(main())
