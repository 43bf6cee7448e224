"""``Model.summary()``: the Keras 3 table (Layer (type) | Output Shape | Param # | Connected to)."""
from __future__ import annotations


def readable_size(nbytes: float) -> str:
    for unit in ("B", "KB", "MB", "GB", "TB"):
        if nbytes < 1024 or unit == "TB":
            return f"{nbytes:.2f} {unit}"
        nbytes /= 1024


def _shape_text(tensors) -> str:
    shapes = [str(t.shape).replace(",)", ")") for t in tensors]
    return shapes[0] if len(shapes) == 1 else "[" + ", ".join(shapes) + "]"


def _is_chain(model) -> bool:
    from fgc.functional import Sequential

    if isinstance(model, Sequential):
        return True
    if len(model.inputs) != 1 or len(model.outputs) != 1:
        return False
    consumed = set()
    for node in model._nodes:
        if len(node.inputs) > 1 or len(node.outputs) > 1:
            return False
        for t in node.inputs:
            if id(t) in consumed:
                return False
            consumed.add(id(t))
    return True


def _layer_rows(model, chain: bool, depth: int, expand: bool):
    from fgc.functional import Model

    node_ids = {id(n) for n in model._nodes}
    rows = []
    for layer in model.layers:
        nodes = [n for n in layer._inbound_nodes if id(n) in node_ids] or layer._inbound_nodes[:1]
        outputs = [t for n in nodes for t in n.outputs]
        connected = []
        for n in nodes:
            for t in n.inputs:
                src, ni, ti = t._keras_history
                connected.append(f"{src.name}[{ni}][{ti}]")
        name = ("  " * depth) + f"{layer.name} ({type(layer).__name__ if type(layer).__name__ != 'Model' else 'Functional'})"
        params = layer.count_params() if layer.built else 0
        rows.append((name, _shape_text(outputs[:len(nodes[0].outputs)] if nodes else []), f"{params:,}",
                     (connected or ["-"]) if not chain else [], layer))
        if expand and isinstance(layer, Model):
            rows += _layer_rows(layer, _is_chain(layer), depth + 1, expand)
    return rows


def summary(model, line_length=None, positions=None, print_fn=None, expand_nested=False, show_trainable=False):
    if not model.built:
        raise ValueError(f"model '{model.name}' has not been built: give the first layer an input_shape= or an "
                         f"Input, or call fit/predict once, before summary()")
    print_fn = print_fn or print
    chain = _is_chain(model)
    headers = ["Layer (type)", "Output Shape", "Param #"] + ([] if chain else ["Connected to"])
    line_length = line_length or (88 if chain else 108)
    positions = positions or ([0.45, 0.84, 1.0] if chain else [0.3, 0.6, 0.70, 1.0])
    if positions[-1] <= 1:
        positions = [int(line_length * p) for p in positions]
    widths = [positions[0]] + [b - a for a, b in zip(positions, positions[1:])]
    widths = [max(w - 3, 6) for w in widths]

    def border(left, mid, right, fill):
        return left + mid.join(fill * (w + 2) for w in widths) + right

    def row(cells, aligns):
        lines = max(len(c) for c in cells)
        out = []
        for i in range(lines):
            parts = []
            for c, w, a in zip(cells, widths, aligns):
                text = c[i] if i < len(c) else ""
                text = text if len(text) <= w else text[: w - 1] + "…"
                parts.append(text.rjust(w) if a == "r" else text.ljust(w))
            out.append("│ " + " │ ".join(parts) + " │")
        return out

    aligns = ["l", "l", "r", "l"][: len(headers)]
    print_fn(f'Model: "{model.name}"')
    print_fn(border("┏", "┳", "┓", "━"))
    for line in row([[h] for h in headers], aligns):
        print_fn(line.replace("│", "┃"))
    print_fn(border("┡", "╇", "┩", "━"))
    rows = _layer_rows(model, chain, 0, expand_nested)
    for i, (name, shape, params, connected, _) in enumerate(rows):
        cells = [[name], [shape], [params]] + ([] if chain else [connected])
        for line in row(cells, aligns):
            print_fn(line)
        if i < len(rows) - 1:
            print_fn(border("├", "┼", "┤", "─"))
    print_fn(border("└", "┴", "┘", "─"))
    variables = model._variables_trainable()
    total = sum(v._value.size for v, _ in variables)
    trainable = sum(v._value.size for v, t in variables if t)
    nbytes = lambda items: sum(v._value.nbytes for v, t in variables if items(t))  # noqa: E731
    print_fn(f" Total params: {total:,} ({readable_size(nbytes(lambda t: True))})")
    print_fn(f" Trainable params: {trainable:,} ({readable_size(nbytes(lambda t: t))})")
    print_fn(f" Non-trainable params: {total - trainable:,} ({readable_size(nbytes(lambda t: not t))})")
