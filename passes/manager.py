"""PassManager: runs passes in order with one hook between them for verification, IR printing
and timing. ``FGC_VERIFY_EACH=1`` verifies after every pass; ``FGC_PRINT_IR_AFTER_ALL=1`` or
``FGC_PRINT_IR_AFTER=autodiff,fuse_gemm`` prints the IR after the named passes."""
from __future__ import annotations

import os
import sys
import time
from dataclasses import dataclass

from fgc.ir import Graph, print_graph, verify


class PassError(RuntimeError):
    pass


@dataclass(frozen=True)
class Pass:
    """A graph transformation: ``run`` mutates the graph and says whether it changed anything."""

    name = "pass"

    def run(self, graph: Graph) -> bool:
        raise NotImplementedError


class PassManager:
    def __init__(self, passes, verify_each: bool | None = None, print_after=None, stream=None):
        self.passes = list(passes)
        env_verify = os.environ.get("FGC_VERIFY_EACH", "") not in ("", "0")
        self.verify_each = env_verify if verify_each is None else verify_each
        if print_after is None:
            if os.environ.get("FGC_PRINT_IR_AFTER_ALL", "") not in ("", "0"):
                print_after = "all"
            else:
                print_after = [p for p in os.environ.get("FGC_PRINT_IR_AFTER", "").split(",") if p]
        self.print_after = print_after
        self.stream = stream or sys.stderr
        self.timings: list[tuple[str, float, bool]] = []

    def _after(self, p: Pass, graph: Graph) -> None:
        if self.verify_each:
            verify(graph)
        if self.print_after == "all" or p.name in self.print_after:
            print(f"// ----- IR after {p.name}\n{print_graph(graph)}", file=self.stream)

    def run(self, graph: Graph) -> Graph:
        ran = []
        for p in self.passes:
            start = time.perf_counter()
            try:
                modified = p.run(graph)
                self._after(p, graph)
            except (ValueError, TypeError) as e:
                raise type(e)(str(e)) from e  # user-facing errors pass through unchanged
            except Exception as e:
                before = ", ".join(ran) or "nothing"
                raise PassError(f"pass '{p.name}' failed (after: {before}): {type(e).__name__}: {e}") from e
            self.timings.append((p.name, time.perf_counter() - start, bool(modified)))
            ran.append(p.name)
        return graph

    def report(self) -> str:
        return "\n".join(f"{name:<24} {sec * 1e3:8.2f} ms  {'modified' if mod else ''}"
                         for name, sec, mod in self.timings)
