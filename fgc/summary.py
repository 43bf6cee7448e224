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


def data_inputs(node) -> list:
    """A node's inputs without the mask leaves a mask-consuming layer also reads."""
    from fgc.layers.masks import mask_input_count

    n = mask_input_count(node.call_args)
    return node.inputs[:-n] if n else node.inputs


def _is_chain(model) -> bool:
    from fgc.functional import Sequential

    if isinstance(model, Sequential):
        return True
    if len(model.inputs) != 1 or len(model.outputs) != 1:
        return False
    consumed = set()
    for node in model._nodes:
        inputs = data_inputs(node)
        if len(inputs) > 1 or len(node.outputs) > 1:
            return False
        for t in inputs:
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
            for t in data_inputs(n):
                src, ni, ti = t._keras_history
                connected.append(f"{src.name}[{ni}][{ti}]")
        name = ("  " * depth) + f"{layer.name} ({type(layer).__name__ if type(layer).__name__ != 'Model' else 'Functional'})"
        params = layer.count_params() if layer.built else 0
        rows.append((name, _shape_text(outputs[:len(nodes[0].outputs)] if nodes else []), f"{params:,}",
                     (connected or ["-"]) if not chain else [], layer, depth))
        if expand and isinstance(layer, Model):
            rows += _layer_rows(layer, _is_chain(layer), depth + 1, expand)
    return rows


def _in_range(rows, layer_range):
    """Keras' ``layer_range=(first, last)``: the top-level rows from the first layer whose name matches
    ``first`` to the last whose name matches ``last`` (regular expressions, both inclusive)."""
    import re

    if layer_range is None:
        return rows
    if len(layer_range) != 2:
        raise ValueError(f"layer_range must be a list of 2 layer names, got {layer_range!r}")
    names = [row[4].name if row[5] == 0 else None for row in rows]
    starts = [i for i, n in enumerate(names) if n is not None and re.match(layer_range[0], n)]
    ends = [i for i, n in enumerate(names) if n is not None and re.match(layer_range[1], n)]
    if not starts or not ends or starts[0] > ends[-1]:
        raise ValueError(f"layer_range {list(layer_range)} matches no layers in order; layers: "
                         f"{[n for n in names if n is not None]}")
    end = ends[-1] + 1
    while end < len(rows) and rows[end][5] > 0:  # keep the expanded rows of a nested model
        end += 1
    return rows[starts[0]:end]


def summary(model, line_length=None, positions=None, print_fn=None, expand_nested=False, show_trainable=False,
            layer_range=None):
    if not model.built:
        raise ValueError(f"model '{model.name}' has not been built: give the first layer an input_shape= or an "
                         f"Input, or call fit/predict once, before summary()")
    print_fn = print_fn or print
    chain = _is_chain(model)
    headers = ["Layer (type)", "Output Shape", "Param #"] + ([] if chain else ["Connected to"])
    aligns = ["l", "l", "r", "l"][: len(headers)]
    default_length = 88 if chain else 108
    positions = positions or ([0.45, 0.84, 1.0] if chain else [0.3, 0.6, 0.70, 1.0])
    if show_trainable:
        # As Keras 3: 12 more characters by default for a centred "Trainable" column.
        default_length += 12
        headers.append("Trainable")
        aligns.append("c")
    line_length = line_length or default_length
    if show_trainable:
        # The new column gets room for its header ("Trainable" + 4); the others keep their proportions.
        keep = 1 - 13 / line_length
        positions = [p * keep for p in positions] + [1.0] if positions[-1] <= 1 else \
            list(positions) + [positions[-1] + 13]
    if positions[-1] <= 1:
        positions = [int(line_length * p) for p in positions]
    widths = [positions[0]] + [b - a for a, b in zip(positions, positions[1:])]
    # A cell takes its text width + 3 ("│ " and " "); the closing "│" takes 1 more, so the last column
    # gives it up and the table is exactly line_length wide.
    widths = [max(w - 3 - (i == len(widths) - 1), 6) for i, w in enumerate(widths)]
    excess = sum(w + 3 for w in widths) + 1 - line_length
    if excess > 0:  # the minimum column width pushed past line_length: the widest column gives it back
        i = widths.index(max(widths))
        widths[i] = max(6, widths[i] - excess)

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
                parts.append({"r": text.rjust, "c": text.center}.get(a, text.ljust)(w))
            out.append("│ " + " │ ".join(parts) + " │")
        return out

    print_fn(f'Model: "{model.name}"')
    print_fn(border("┏", "┳", "┓", "━"))
    for line in row([[h] for h in headers], aligns):
        print_fn(line.replace("│", "┃"))
    print_fn(border("┡", "╇", "┩", "━"))
    rows = _in_range(_layer_rows(model, chain, 0, expand_nested), layer_range)
    for i, (name, shape, params, connected, layer, _) in enumerate(rows):
        cells = [[name], [shape], [params]] + ([] if chain else [connected])
        if show_trainable:
            cells.append([("Y" if layer.trainable else "N") if layer.weights else "-"])
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
