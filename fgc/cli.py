"""The ``fgc`` command: ``fgc demo`` shows the whole path on the seed MLP."""
from __future__ import annotations

import argparse
import sys


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="fgc", description="fgc: a functional graph compiler for deep learning")
    sub = parser.add_subparsers(dest="command", required=True)
    demo = sub.add_parser("demo", help="build, compile, export, run and train the seed models")
    demo.add_argument("--out", default=None, help="folder for the exported .onnx files (default: a temp folder)")
    demo.add_argument("--quick", action="store_true", help="fewer epochs")
    args = parser.parse_args(argv)
    if args.command == "demo":
        from fgc.demo import run_demo

        return run_demo(out_dir=args.out, quick=args.quick)
    return 2


if __name__ == "__main__":
    sys.exit(main())
