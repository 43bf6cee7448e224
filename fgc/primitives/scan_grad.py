"""The gradient of a Scan: another Scan, running the other way.

Its body is the forward body followed by that body's vjp (built by the same autodiff driver),
then optimized like any loop body would be:
- save instead of recompute: forward values the vjp reads become per-step outputs of the forward
  Scan (the forward graph node gains ``saved_values``);
- loop-invariant code motion: work on the closures alone (a transposed weight) runs once outside;
- weight gradients ``sum_t a_t^T z_t`` leave the loop as one large MatMul over the stacked steps
  (one per row block when z_t is split among a batch-fused Scan's members);
- time vectorization: elementwise work on per-step inputs alone (activation derivatives) runs on
  the stacked arrays outside the loop, after reassociating products to expose more of it; on one
  thread only while those arrays are small enough for the cache, larger ones keeping it in the loop
  (an If picks at run time when the length or batch is unknown); on more threads at every size;
- scanned inputs the body no longer reads are dropped.
"""
from __future__ import annotations

from contextlib import contextmanager
from dataclasses import dataclass

from fgc.ir import Graph, Value
from fgc.ir.types import is_float

from .builder import Builder
from .control import _scan_infer as scan_infer


def inline(dst: Graph, src: Graph, inputs: list[Value], prefix: str, mapping: dict | None = None) -> list[Value]:
    """Copy ``src``'s nodes into ``dst`` reading ``inputs`` for src's inputs; returns its outputs there.
    ``mapping`` (if given) receives src value -> dst value for every copied value."""
    mapping = {} if mapping is None else mapping
    mapping.update(zip(src.inputs, inputs))
    for name in src.topo_order():
        d = src.node(name)
        if d["op"] == "input":
            continue
        new = dst.add_node(f"{prefix}{name}", d["op"], [mapping[v] for v in d["inputs"]], d["outputs"],
                           d["attrs"], d["layer"])
        for i in range(len(d["outputs"])):
            mapping[Value(name, i)] = Value(new, i)
    return [mapping[v] for v in src.outputs]


def prune(graph: Graph) -> None:
    """Drop the nodes no output needs (a body's dead recomputation, say); inputs stay."""
    import networkx as nx

    live = set().union(*(nx.ancestors(graph.nx, v.node) | {v.node} for v in graph.outputs))
    for name in reversed(graph.topo_order()):
        if name not in live and graph.op(name) != "input":
            graph.remove_node(name)


def scan_vjp(b, n, gs):
    """The reverse Scan. Its body is the forward body's vjp; forward values the vjp needs are
    saved by the forward Scan as extra per-step outputs rather than recomputed, and work that
    only depends on the closures (a transposed weight) is hoisted out of the loop."""
    from .autodiff import backprop
    from .builder import Builder

    body, ns, nx = n.attrs["body"], n.attrs["num_states"], n.attrs["num_scan"]
    if not n.attrs.get("save_states"):
        raise NotImplementedError("this Scan was lowered for inference (no saved states)")
    n_out = len(body.outputs) - ns
    ins = list(n.inputs)
    xs, closures = ins[ns:ns + nx], ins[ns + nx:]
    saved = list(n.outputs[ns + n_out:ns + n_out + ns])
    diff_closures = [i for i, c in enumerate(closures) if is_float(b.type(c).dtype)]

    # Backward body: (dstate..., dclosure_acc..., saved state_t..., x_t..., dy_t..., saved values..., closures...)
    g = Graph(f"{n.name}_grad_body")
    d_states = [g.add_input(f"d_state{i}", body.type_of(body.inputs[i])) for i in range(ns)]
    d_acc = [g.add_input(f"d_closure{i}", b.type(closures[i])) for i in diff_closures]
    s_prev = [g.add_input(f"state{i}", body.type_of(body.inputs[i])) for i in range(ns)]
    x_t = [g.add_input(f"x{i}", body.type_of(body.inputs[ns + i])) for i in range(nx)]
    # Per-step outputs nothing downstream differentiates get no cotangent input at all.
    dy_t = [g.add_input(f"dy{i}", body.type_of(body.outputs[ns + i])) if gs[ns + i] is not None else None
            for i in range(n_out)]
    inner_closures = [g.add_input(f"closure{i}", b.type(c)) for i, c in enumerate(closures)]
    copy: dict = {}
    outs = inline(g, body, s_prev + x_t + inner_closures, "fwd/", copy)
    wrt = s_prev + x_t + [inner_closures[i] for i in diff_closures]
    cots = backprop(g, outs, d_states + dy_t, wrt)
    dy_t = [v for v in dy_t if v is not None]
    gb = Builder(g, "bwd")
    zeros = [c if c is not None else gb.ZerosLike(v) for c, v in zip(cots, wrt)]
    d_prev, d_x, d_c = zeros[:ns], zeros[ns:ns + nx], zeros[ns + nx:]
    new_acc = [gb.Add(a, c) for a, c in zip(d_acc, d_c)]
    g.outputs = d_prev + new_acc + d_x
    g.output_names = [f"out{i}" for i in range(len(g.outputs))]

    # Save instead of recompute: forward values the vjp reads become per-step outputs of the forward Scan.
    saved_values = _reuse_forward_values(g, body, copy)
    fwd = b.graph.node(n.name)
    base = len(fwd["outputs"])
    fwd["attrs"]["saved_values"] = tuple(fwd["attrs"].get("saved_values", ())) + tuple(saved_values)
    fwd["outputs"] = tuple(scan_infer([b.type(v) for v in ins], fwd["attrs"]))
    saved_outer = [Value(n.name, base + k) for k in range(len(saved_values))]
    dirs = n.attrs.get("directions") or (0,) * nx
    out_dirs = n.attrs.get("out_directions") or (0,) * n_out
    # Each scanned input of the backward body: its outer stacked value and whether it is stacked in
    # the forward iteration order (saved values are; reversed scans' inputs are not).
    scanned = list(zip(s_prev, saved, [True] * ns)) + list(zip(x_t, xs, [d == 0 for d in dirs])) \
        + list(zip(dy_t, [None] * len(dy_t), [d == 0 for i, d in enumerate(out_dirs) if gs[ns + i] is not None]))
    scanned += [(g.inputs[g.input_names.index(f"saved{k}")], v, True) for k, v in enumerate(saved_outer)]
    outer_dx_order = [d == 0 for d in dirs]
    hoisted_grads = _hoist_weight_gradients(g, d_acc, new_acc, scanned, d_x)
    kept = [k for k in range(len(diff_closures)) if k not in hoisted_grads]
    hoisted = _hoist_invariants(b, g, inner_closures, closures)

    # Outer reverse Scan: zeros where no cotangent reached an output; scanned inputs the body no
    # longer reads (an input projection, a state only the hoisted weight gradient needed) are dropped.
    final_cots = [gs[i] if gs[i] is not None else b.ZerosLike(n.outputs[i]) for i in range(ns)]
    y_cots = [gs[ns + i] for i in range(n_out) if gs[ns + i] is not None]
    out_dirs = [d for i, d in enumerate(out_dirs) if gs[ns + i] is not None]
    acc0 = [b.ZerosLike(closures[diff_closures[k]]) for k in kept]
    plan = list(zip(s_prev, saved, [1] * ns)) + list(zip(x_t, xs, [1 - d for d in dirs])) \
        + list(zip(dy_t, y_cots, [1 - d for d in out_dirs])) + list(zip(scanned[ns + nx + len(dy_t):], saved_outer,
                                                                         [1] * len(saved_outer)))
    plan = [(v if isinstance(v, Value) else v[0], outer_v, d) for v, outer_v, d in plan]
    closure_outer = dict(zip(inner_closures, closures)) | _hoisted_map(g, hoisted)
    reverse = _ReverseScan(final_cots + acc0, plan, list(closures) + list(hoisted), closure_outer,
                           num_states=ns + len(kept), out_directions=tuple(1 - d for d in dirs))
    back = _reverse_scan_by_size(b, g, reverse, saved[0], n.name)
    d_states0 = back[:ns]
    d_closures = {diff_closures[k]: v for k, v in zip(kept, back[ns:ns + len(kept)])}
    d_xs = back[ns + len(kept):]
    outer = {v: (o, order) for v, o, order in scanned}
    outer.update({v: (o, order) for v, o, order in zip(d_x, d_xs, outer_dx_order)})
    outer.update({v: (y, order) for v, y, order in zip(dy_t, y_cots, [d == 0 for d in out_dirs])})
    for k, (a, zs) in hoisted_grads.items():
        d_closures[diff_closures[k]] = _sum_over_row_blocks(b, outer[a], [outer[z] for z in zs])
    return d_states0 + d_xs + [d_closures.get(i) for i in range(len(closures))]


VECTORIZE_OVER_TIME = True   # A/B switch for measurements: False keeps every body op in the loop
# Stacked (T, N, units) states of at least this many elements run the gradient loop with its elementwise
# work inside (see _reverse_scan_by_size); smaller ones vectorize that work over time (None: always).
LOOP_FROM_ELEMENTS = 1 << 18
# The same limit for a step whose session runs more than one intra-op thread (built under built_for_pool):
# None, vectorized at every size. Outside the loop the vectorized passes split across the pool, while every
# elementwise kernel inside the loop stays on one thread ((N, units) blocks are under onnxruntime's parallel
# cost threshold; only the per-step product splits, and pays a join each step), so the second thread helps
# the vectorized form only. Train steps at FGC_NUM_THREADS=2, vectorized / the one-thread rule's form (in the
# loop at these sizes), paired median of 25 interleaved rounds, 2-core machine (benchmarks/recurrent_threads.py):
# siamese (50 x 256 x 32) 0.85-0.92 in five runs, qa (100 x 128 x 32) 0.91-0.99 in five; at length 200
# siamese 0.95-0.97, at 400 qa 0.63 (its in-loop step ran no faster on 2 threads than on 1; at 1 thread the
# in-loop form still wins there, 1.05-1.15). Only while other work held the second core (2-thread steps
# slower than 1-thread ones) did the pairs read 1.02-1.08.
POOLED_LOOP_FROM_ELEMENTS = None


@dataclass
class _PoolRule:
    """Which limit a build uses, and whether a choice it made would differ under the other thread count."""
    pooled: bool = False
    thread_dependent: bool = False

    def limit(self):
        return POOLED_LOOP_FROM_ELEMENTS if self.pooled else LOOP_FROM_ELEMENTS

    def note(self, size) -> None:
        other = LOOP_FROM_ELEMENTS if self.pooled else POOLED_LOOP_FROM_ELEMENTS
        if _form(self.limit(), size) != _form(other, size):
            self.thread_dependent = True


_rule = _PoolRule()


@contextmanager
def built_for_pool(pooled: bool):
    """Reverse loops built inside pick their form for a session of more than one intra-op thread
    (``pooled``) or of one; yields the rule, whose ``thread_dependent`` says afterwards whether any choice
    depended on it (the step builder then rebuilds a step that ends up on one thread)."""
    global _rule
    saved, _rule = _rule, _PoolRule(pooled)
    try:
        yield _rule
    finally:
        _rule = saved


def _form(limit, size):
    """The form a limit gives a stacked state of ``size`` elements (None: unknown until run time)."""
    if limit is None:
        return "vectorized"
    if size is None:
        return ("if", limit)
    return "vectorized" if size < limit else "in_loop"


@dataclass
class _ReverseScan:
    """What the reverse Scan is made of, in outer values: initial states (final cotangents, zeroed
    accumulators), the scan plan (body input, outer stacked value, direction), the closures and
    hoisted invariants (passed whole), and the inner closure -> outer value map vectorization reads."""
    states0: list
    plan: list
    fixed: list
    closure_outer: dict
    num_states: int
    out_directions: tuple

    def outer_values(self) -> list:
        seen: dict = {}
        for v in self.states0 + [o for _, o, _ in self.plan] + self.fixed + list(self.closure_outer.values()):
            seen.setdefault(v, None)
        return list(seen)

    def renamed(self, new: dict) -> "_ReverseScan":
        return _ReverseScan([new[v] for v in self.states0], [(v, new[o], d) for v, o, d in self.plan],
                            [new[v] for v in self.fixed], {k: new[v] for k, v in self.closure_outer.items()},
                            self.num_states, self.out_directions)


def _reverse_scan_by_size(b, g: Graph, r: _ReverseScan, stacked_state, name: str) -> list[Value]:
    """The reverse Scan, with its per-step elementwise work (activation derivatives) either vectorized
    over time outside the loop or left in it, whichever is faster for the size of the stacked arrays.

    Outside, each such op is one pass over whole (T, N, units) arrays: cheap while they stay in the
    L2 cache, memory-bound once they do not (qa's 100 x 128 x 32 = 1.6 MB each: ~0.2 ms per pass, 15
    passes per LSTM). Inside, each op adds a node launch per step on an (N, units) block that is in
    cache. Interleaved train steps, one thread (T x N x units): 20x16x16 and 50x32x32 were 18-24 %
    and 16 % faster vectorized, 100x32x32 6-11 %; 50x128x32 and 100x64x32 (205K) break even; qa
    (410K and 205K) and the siamese pair (50x256x32) 2-6 % faster in the loop. With the length or
    batch unknown until run time an If picks at run time, on the stacked state's element count."""
    if not VECTORIZE_OVER_TIME or not _vectorizable_work(g, r):
        return _reverse_scan(b, g, r, vectorize=False)
    size = b.type(stacked_state).numel()
    _rule.note(size)
    limit = _rule.limit()
    if limit is None:
        return _reverse_scan(b, g, r, vectorize=True)
    if size is not None:
        return _reverse_scan(b, g, r, vectorize=size < limit)
    outer = r.outer_values()
    branches = []
    for vectorize in (True, False):
        branch = Graph(f"{name}_grad_{'vectorized' if vectorize else 'in_loop'}")
        inner = {v: branch.add_input(f"in{i}", b.type(v)) for i, v in enumerate(outer)}
        outs = _reverse_scan(Builder(branch, b.prefix, b.layer), g.copy(), r.renamed(inner), vectorize)
        branch.outputs, branch.output_names = outs, [f"out{i}" for i in range(len(outs))]
        branches.append(branch)
    back = b.If(b.SizeBelow(stacked_state, start=0, limit=limit), *outer,
                then_body=branches[0], else_body=branches[1])
    return [back] if isinstance(back, Value) else list(back)


def _vectorizable_work(g: Graph, r: _ReverseScan) -> bool:
    """Whether the body has elementwise work on per-step inputs alone (once products are reassociated, as
    vectorizing does) that vectorizing would move out."""
    per_step = {v for v, _, _ in r.plan}
    trial = g.copy()
    _reassociate_products(trial, _step_only_values(trial, per_step, r.closure_outer))
    return any(v not in per_step for v in _step_only_values(trial, per_step, r.closure_outer))


def _reverse_scan(b, g: Graph, r: _ReverseScan, vectorize: bool) -> list[Value]:
    """Emit the reverse Scan over body ``g`` (modified: vectorized work leaves it, unread inputs go)."""
    plan = list(r.plan)
    if vectorize:
        plan += _vectorize_over_time(b, g, plan, r.closure_outer)
    unread = [p for p in plan if not g.users(p[0].node)]
    if len(unread) == len(plan):   # a Scan counts its steps from a scanned input: keep one, even if unread
        unread = unread[1:]
    for v, _, _ in unread:
        g.remove_input(v)
    plan = [p for p in plan if p[0].node in g]
    back = b.Scan(*r.states0, *[o for _, o, _ in plan], *r.fixed, body=g, num_states=r.num_states,
                  num_scan=len(plan), directions=tuple(d for _, _, d in plan), out_directions=r.out_directions)
    return [back] if isinstance(back, Value) else list(back)


_TIME_VECTORIZABLE = {"Add", "Sub", "Mul", "Div", "Neg", "Sigmoid", "Tanh", "Exp", "Log", "Sqrt", "Relu", "Abs",
                      "Sign", "Reciprocal", "Softplus", "Max", "Min", "Pow", "Where", "Equal", "Greater", "Less",
                      "Not", "And", "Or", "Cast", "Identity"}


def _hoisted_map(g: Graph, hoisted_outer: list[Value]) -> dict:
    inner = [v for v in g.inputs if g.node(v.node)["attrs"]["name"].startswith("hoisted")]
    return dict(zip(inner, hoisted_outer))


def _vectorize_over_time(b, g: Graph, plan, closures: dict) -> list:
    """Elementwise work that reads only per-step inputs (saved activations), closures and constants
    does not depend on the loop's carried state: compute it for all time steps at once outside
    the loop, on the stacked arrays, and scan the results in. Returns the new plan entries."""
    stacked = {v: (outer, d) for v, outer, d in plan}
    _reassociate_products(g, _step_only_values(g, set(stacked), closures))
    done: dict = {}
    for name in g.topo_order():
        d = g.node(name)
        if d["op"] not in _TIME_VECTORIZABLE:
            continue
        step_ins = [v for v in d["inputs"] if v in stacked or v in done]
        others = [v for v in d["inputs"] if v not in stacked and v not in done]
        if not step_ins or any(v not in closures and g.op(v.node) != "constant" for v in others):
            continue
        dirs = {(stacked.get(v) or done[v])[1] for v in step_ins}
        rank = d["outputs"][0].rank
        if len(dirs) != 1 or any(g.type_of(v).rank > rank for v in others) \
                or any(g.type_of(v).rank != rank for v in step_ins):
            continue
        args = [(stacked.get(v) or done[v])[0] if v in step_ins else
                closures[v] if v in closures else b.const(g.node(v.node)["attrs"]["value"], g.type_of(v).dtype)
                for v in d["inputs"]]
        done[Value(name)] = (b.emit(d["op"], *args, hint=name.rsplit("/", 1)[-1], **d["attrs"]), dirs.pop())
    entries = []
    for name in g.topo_order():
        if name not in g or Value(name) in done:
            continue
        for v in g.node(name)["inputs"]:
            if v in done and v not in [e[0] for e in entries]:
                entries.append((v, *done[v]))
    new_plan = []
    first_closure = next((i for i, v in enumerate(g.inputs) if g.node(v.node)["attrs"]["name"].startswith(
        ("closure", "hoisted"))), len(g.inputs))
    new_inputs = []
    for k, (v, outer, direction) in enumerate(entries):
        inp = g.add_input(f"vec{k}", g.type_of(v))
        g.replace_uses(v, inp)
        new_inputs.append(inp)
        new_plan.append((inp, outer, direction))
    g.inputs = g.inputs[:first_closure] + new_inputs + [v for v in g.inputs[first_closure:] if v not in new_inputs]
    g.input_names = [g.node(v.node)["attrs"]["name"] for v in g.inputs]
    prune(g)
    return new_plan


def _step_only_values(g: Graph, per_step: set, closures: dict) -> set:
    """Values computed (by time-vectorizable ops) from per-step inputs, closures and constants only."""
    found = set(per_step)
    for name in g.topo_order():
        d = g.node(name)
        if d["op"] in _TIME_VECTORIZABLE and all(v in found or v in closures or g.op(v.node) == "constant"
                                                 for v in d["inputs"]) and any(v in found for v in d["inputs"]):
            found.add(Value(name))
    return found


def _reassociate_products(g: Graph, per_step: set) -> None:
    """(carried * a) * b -> carried * (a * b) when a and b are per-step inputs and the inner product
    has no other reader, so that a * b can be vectorized over time (float rounding may differ in
    the last bit, like any reassociation)."""
    for name in g.topo_order():
        if name not in g or g.op(name) != "Mul":
            continue
        outer_ins = g.node(name)["inputs"]
        for pos in (0, 1):
            inner, b_val = outer_ins[pos], outer_ins[1 - pos]
            if b_val not in per_step or g.op(inner.node) != "Mul" or len(g.users(inner.node)) != 1:
                continue
            x, a = g.node(inner.node)["inputs"]
            if x in per_step:
                x, a = a, x
            if a not in per_step or x in per_step or g.type_of(a) != g.type_of(b_val):
                continue
            from .builder import Builder

            ab = Builder(g, f"{name}/reassoc").Mul(a, b_val)
            g.set_inputs_of(name, (x, ab))
            g.remove_node(inner.node)
            break


def _hoist_weight_gradients(g: Graph, d_acc, new_acc, scanned, d_x) -> dict:
    """Closure gradients accumulated as ``acc += a_t^T @ z_t`` (a recurrent kernel's) with a_t and
    z_t both stacked outside the loop become one big MatMul after it: the accumulator state and
    its per-step MatMul and Add leave the body. Returns {closure position: (a, z)} in body values."""
    per_step = {v for v, _, _ in scanned} | set(d_x)
    hoisted = {}
    for k, (acc_in, acc_out) in enumerate(zip(d_acc, new_acc)):
        add = g.node(acc_out.node)
        term = add["inputs"][1]
        if g.op(term.node) != "MatMul":
            continue
        left, z = g.node(term.node)["inputs"]
        if g.op(left.node) != "Transpose" or tuple(g.node(left.node)["attrs"]["perm"]) != (1, 0):
            continue
        a = g.node(left.node)["inputs"][0]
        z_rows = [z] if z in per_step else _row_blocks(g, z)
        if a in per_step and z_rows and all(v in per_step for v in z_rows) and g.type_of(a).rank == 2:
            hoisted[k] = (a, z_rows)
    for k in hoisted:
        g.outputs.remove(new_acc[k])
    g.output_names = [f"out{i}" for i in range(len(g.outputs))]
    prune(g)
    for k in hoisted:
        g.remove_input(d_acc[k])
    return hoisted


def _row_blocks(g: Graph, z: Value) -> list[Value]:
    """The equal row blocks of ``z`` that a SplitEqual hands out (a batch-fused Scan's per-member
    cotangents, passes/fuse_scans.py), or [] when nothing splits z by rows."""
    for user, _ in g.value_users(z):
        d = g.node(user)
        if d["op"] == "SplitEqual" and d["attrs"]["axis"] in (0, -2) and g.type_of(z).rank == 2:
            return [Value(user, i) for i in range(len(d["outputs"]))]
    return []


def _sum_over_row_blocks(b, a_stacked, z_blocks):
    """sum_t a[t]^T @ z[t] where z[t] is the row blocks z_blocks[k][t] stacked: a's rows split alike."""
    a, a_in_order = a_stacked
    if len(z_blocks) == 1:
        return _sum_of_outer_products(b, a, a_in_order, *z_blocks[0])
    a_blocks = b.SplitEqual(a, axis=1, parts=len(z_blocks))
    terms = [_sum_of_outer_products(b, a_k, a_in_order, z, z_in_order)
             for a_k, (z, z_in_order) in zip(a_blocks, z_blocks)]
    total = terms[0]
    for term in terms[1:]:
        total = b.Add(total, term)
    return total


def _sum_of_outer_products(b, a, a_in_order: bool, z, z_in_order: bool):
    """sum_t a[t]^T @ z[t] for stacked (T, N, k) and (T, N, m): one (k, T*N) @ (T*N, m) MatMul."""
    if a_in_order != z_in_order:
        a = b.Slice(a, starts=(-1,), ends=(-(2 ** 62),), axes=(0,), steps=(-1,))
    rows_a = b.Reshape(a, shape=(-1, b.type(a).shape[-1]))
    rows_z = b.Reshape(z, shape=(-1, b.type(z).shape[-1]))
    return b.MatMul(b.Transpose(rows_a, perm=(1, 0)), rows_z)


def _reuse_forward_values(g: Graph, body: Graph, copy: dict) -> list[Value]:
    """Replace the recomputed forward values the vjp reads by scanned inputs; returns the body
    values the forward Scan must save, in the order of the new inputs (placed before the closures)."""
    back_map = {v: k for k, v in copy.items()}
    recomputed = {v.node for k, v in copy.items() if k.node not in {i.node for i in body.inputs}}
    wanted: list[Value] = []
    for name in g.topo_order():
        if name in recomputed:
            continue
        for v in g.node(name)["inputs"]:
            if v.node in recomputed and v not in wanted:
                wanted.append(v)
    for v in g.outputs:
        if v.node in recomputed and v not in wanted:
            wanted.append(v)
    first_closure = next(i for i, v in enumerate(g.inputs) if g.node(v.node)["attrs"]["name"].startswith("closure")) \
        if any(g.node(v.node)["attrs"]["name"].startswith("closure") for v in g.inputs) else len(g.inputs)
    new_inputs = []
    for k, v in enumerate(wanted):
        new_inputs.append(g.add_input(f"saved{k}", g.type_of(v)))
        g.replace_uses(v, new_inputs[-1])
    # Scanned inputs must come before the closures: move the new inputs into place.
    g.inputs = g.inputs[:first_closure] + new_inputs + [v for v in g.inputs[first_closure:] if v not in new_inputs]
    g.input_names = [g.node(v.node)["attrs"]["name"] for v in g.inputs]
    prune(g)
    return [back_map[v] for v in wanted]


def _hoist_invariants(b, g: Graph, inner_closures: list[Value], closures: list[Value]) -> list[Value]:
    """Loop-invariant code motion: nodes of ``g`` computed only from closures and constants run
    once outside (in ``b``'s graph) and enter the body as new closures. Returns the outer values."""
    outer = dict(zip(inner_closures, closures))
    invariant = set(inner_closures)
    hoisted_inner, hoisted_outer = [], []
    for name in g.topo_order():
        d = g.node(name)
        if d["op"] in ("input", "Dropout"):
            continue
        if d["op"] == "constant" or all(v in invariant for v in d["inputs"]) and d["inputs"]:
            for i in range(len(d["outputs"])):
                invariant.add(Value(name, i))
            if d["op"] == "constant":
                outer[Value(name)] = b.const(d["attrs"]["value"])
                continue
            result = b.emit(d["op"], *[outer[v] for v in d["inputs"]], hint=name.rsplit("/", 1)[-1], **d["attrs"])
            for i, r in enumerate((result,) if isinstance(result, Value) else result):
                outer[Value(name, i)] = r
    for name in g.topo_order():
        if name not in g or g.op(name) in ("input", "constant"):
            continue
        for v in list(g.node(name)["inputs"]):
            if v in invariant and g.op(v.node) not in ("input", "constant") and v not in hoisted_inner:
                hoisted_inner.append(v)
    new = []
    for k, v in enumerate(hoisted_inner):
        new.append(g.add_input(f"hoisted{k}", g.type_of(v)))
        g.replace_uses(v, new[-1])
        hoisted_outer.append(outer[v])
    prune(g)
    return hoisted_outer


