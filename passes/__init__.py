"""Compiler passes over fgc's IR (installed as ``fgc.passes``). Imports only fgc.ir and fgc.primitives."""
from .cancel_transposes import CancelTransposes
from .cse import CSE
from .dce import DCE
from .dedup_shared_weights import DedupSharedWeights
from .fuse_conv_bias import FuseConvBias
from .fuse_gemm import FuseGemm
from .inline_models import InlineModels
from .lower_layers import LowerLayers
from .manager import Pass, PassError, PassManager
from .param_layouts import ParamLayouts
from .shape_inference import ShapeInference
from .simplify import Simplify
from .sink_activations import SinkActivations


def lowering_pipeline(training: bool) -> list[Pass]:
    """Up to primitives: the part the inference and the training pipelines share, plus, for training,
    the rewrites that make the forward cheaper to differentiate (they run before autodiff)."""
    passes = [InlineModels(), ShapeInference(), LowerLayers(training=training), DedupSharedWeights(),
              ShapeInference(), CSE()]
    return passes + ([CancelTransposes(), SinkActivations()] if training else [])


def optimization_pipeline() -> list[Pass]:
    return [CSE(), Simplify(), FuseGemm(), FuseConvBias(), CancelTransposes(), DCE()]


def inference_pipeline() -> list[Pass]:
    return lowering_pipeline(training=False) + optimization_pipeline()


__all__ = ["CancelTransposes", "CSE", "DCE", "DedupSharedWeights", "FuseConvBias", "FuseGemm", "InlineModels",
           "LowerLayers", "ParamLayouts", "Pass", "PassError", "PassManager", "ShapeInference", "Simplify", "SinkActivations",
           "inference_pipeline", "lowering_pipeline", "optimization_pipeline"]
