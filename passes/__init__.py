"""Compiler passes over fgc's IR (installed as ``fgc.passes``). Imports only fgc.ir and fgc.primitives."""
from .broadcast_forms import BroadcastForms
from .cancel_transposes import CancelTransposes
from .cse import CSE
from .dce import DCE
from .dedup_shared_weights import DedupSharedWeights
from .float16 import ConvertFloat16
from .fold_batchnorm import FoldBatchNorm
from .fold_negation import FoldNegation
from .fold_params import FoldParams
from .fuse_conv_bias import FuseConvBias
from .fuse_gemm import FuseGemm
from .fuse_scans import FuseScans
from .hoist_transposes import HoistTransposes
from .inline_models import InlineModels
from .int64_inputs import Int64Inputs
from .lower_layers import LowerLayers
from .manager import Pass, PassError, PassManager
from .param_layouts import ParamLayouts
from .row_sums import RowSumsAsProducts
from .shape_inference import ShapeInference
from .simplify import Simplify
from .sink_activations import SinkActivations
from .transpose_ids import TransposeIds


def lowering_pipeline(training: bool) -> list[Pass]:
    """Up to primitives: the part the inference and the training pipelines share, plus, for training,
    the rewrites that make the forward cheaper to differentiate (they run before autodiff)."""
    passes = [InlineModels(), ShapeInference(), LowerLayers(training=training), DedupSharedWeights(),
              ShapeInference(), CSE()]
    return passes + ([CancelTransposes(), HoistTransposes(), CancelTransposes(), SinkActivations(), TransposeIds(),
                      FuseScans()] if training else [])


def optimization_pipeline() -> list[Pass]:
    # FoldNegation after DCE: dead readers (gradients nobody needs) would make a negated value look shared;
    # BroadcastForms last: no other pass meets its reshaped and expanded operands
    return [CSE(), Simplify(), FuseGemm(), FuseConvBias(), CancelTransposes(), HoistTransposes(), CancelTransposes(), DCE(),
            FoldNegation(), BroadcastForms()]


def inference_pipeline() -> list[Pass]:
    # FoldBatchNorm needs the Gemm and Conv biases fused and runs before transposes move
    passes = optimization_pipeline()
    at = passes.index(next(p for p in passes if isinstance(p, CancelTransposes)))
    return lowering_pipeline(training=False) + passes[:at] + [FoldBatchNorm()] + passes[at:]


def export_pipeline(precision: str = "float32", keep_io_types: bool = True) -> list[Pass]:
    """Run on an inference graph before it is written to a file that carries its weights."""
    convert = [ConvertFloat16(keep_io_types=keep_io_types)] if precision == "float16" else []
    return [Int64Inputs()] + convert + [FoldParams()]


__all__ = ["BroadcastForms", "CancelTransposes", "ConvertFloat16", "CSE", "DCE", "DedupSharedWeights", "FoldBatchNorm", "FoldNegation", "FoldParams", "FuseConvBias", "FuseGemm", "FuseScans", "HoistTransposes", "InlineModels", "Int64Inputs",
           "LowerLayers", "ParamLayouts", "Pass", "PassError", "PassManager", "RowSumsAsProducts", "ShapeInference", "Simplify", "SinkActivations", "TransposeIds",
           "export_pipeline", "inference_pipeline", "lowering_pipeline", "optimization_pipeline"]
