"""``model.export(path, training=True)``: the compiled train step as a standalone ONNX model.

Inputs: the model inputs, ``y/<output>`` targets, ``sw/<output>`` sample weights divided by the
number of loss elements in the batch (``1/N`` each for unweighted (N, classes) outputs; ``1/(N*T)``
for (N, T, classes) sequence outputs), ``params`` (every trainable weight under ``FLAT_LIMIT`` elements flattened and concatenated
in get_weights order; bigger weights, or every weight when the optimizer clips per weight, are
inputs by name; a weight listed in the doc string's ``weight_layouts`` is stored as
``np.transpose(keras_value, perm)``, the layout its ops read: a conv kernel as ONNX's (O, C, k)), frozen
weights by name, optimizer state ``opt/<slot>/<params>`` (zeros to start, see the doc string
of the file for the initial values), ``lr`` and ``step`` (0-based iteration count), both float
scalars. Outputs: ``loss``, per-output losses and metrics, then ``new/<input>`` for every weight
and state input the step updates: feed them back as the next step's inputs.
"""
from __future__ import annotations

import json


def train_step_proto(model):
    if model._trainer is None:
        raise RuntimeError("export(training=True) needs a compiled model: call model.compile(...) first")
    step = model._trainer.general_step()   # runs batches of any lengths
    proto = type(step.proto)()
    proto.CopyFrom(step.proto)
    from .step import stored_layouts

    layout = {"flat_params": {k: list(v) for k, v in step.spec.slices.items()},
              "weight_layouts": {k: list(v) for k, v in stored_layouts(step.graph).items()},
              "state_init": {k: v[1] for k, v in step.spec.state_init.items()},
              "updates": step.spec.update_outputs, "reports": step.spec.report_outputs}
    proto.doc_string = (f"fgc train step of model '{model.name}'. Layout (flat_params: name -> [offset, size, "
                        f"shape]; weight_layouts: name -> perm, the weight is stored as np.transpose(keras value, "
                        f"perm); state_init: initial fill value of each optimizer state input): " + json.dumps(layout))
    return proto
