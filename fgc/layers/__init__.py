"""Keras layers (Keras 3 names), their function forms, and the Keras 1/2 spellings the seeds use."""
from .base import Input, InputLayer, KerasTensor, Layer, Variable
from .core import Activation, Dense, Dropout, Flatten, Lambda, Reshape
from .merge import (Add, Average, Concatenate, Maximum, Minimum, Multiply, Subtract, add, average, concatenate,
                    maximum, merge, minimum, multiply, subtract)

__all__ = ["Input", "InputLayer", "KerasTensor", "Layer", "Variable", "Activation", "Dense", "Dropout", "Flatten", "Lambda",
           "Reshape", "Add", "Average", "Concatenate", "Maximum", "Minimum", "Multiply", "Subtract", "add",
           "average", "concatenate", "maximum", "merge", "minimum", "multiply", "subtract"]
from .embedding import Embedding  # noqa: E402
from .recurrent import GRU, LSTM, Bidirectional, SimpleRNN  # noqa: E402

__all__ += ["Embedding", "GRU", "LSTM", "Bidirectional", "SimpleRNN"]
from .reshaping import Masking, Permute, RepeatVector  # noqa: E402

__all__ += ["Masking", "Permute", "RepeatVector"]
from .conv import Conv1D, Conv2D, Convolution1D, Convolution2D  # noqa: E402
from .normalization import BatchNormalization  # noqa: E402
from .pooling import (AveragePooling1D, AveragePooling2D, AvgPool1D, AvgPool2D, GlobalAveragePooling1D,  # noqa: E402
                      GlobalAveragePooling2D, GlobalAvgPool1D, GlobalAvgPool2D, GlobalMaxPool1D, GlobalMaxPool2D,
                      GlobalMaxPooling1D, GlobalMaxPooling2D, MaxPool1D, MaxPool2D, MaxPooling1D, MaxPooling2D)
from .wrappers import TimeDistributed  # noqa: E402

__all__ += ["Conv1D", "Conv2D", "Convolution1D", "Convolution2D", "BatchNormalization", "AveragePooling1D",
            "AveragePooling2D", "AvgPool1D", "AvgPool2D", "GlobalAveragePooling1D", "GlobalAveragePooling2D",
            "GlobalAvgPool1D", "GlobalAvgPool2D", "GlobalMaxPool1D", "GlobalMaxPool2D", "GlobalMaxPooling1D",
            "GlobalMaxPooling2D", "MaxPool1D", "MaxPool2D", "MaxPooling1D", "MaxPooling2D", "TimeDistributed"]
from .separable import SeparableConv2D  # noqa: E402

SeparableConvolution2D = SeparableConv2D
__all__ += ["SeparableConv2D", "SeparableConvolution2D"]
from .activation_layers import ELU, Identity, LeakyReLU, PReLU, ReLU, Softmax  # noqa: E402
from .layer_norm import LayerNormalization  # noqa: E402

__all__ += ["ELU", "Identity", "LeakyReLU", "PReLU", "ReLU", "Softmax", "LayerNormalization"]
from .attention import AdditiveAttention, Attention, MultiHeadAttention  # noqa: E402
from .dot import Dot  # noqa: E402

__all__ += ["AdditiveAttention", "Attention", "MultiHeadAttention", "Dot"]
from .conv_transpose import Conv1DTranspose, Conv2DTranspose, Conv3DTranspose  # noqa: E402

__all__ += ["Conv1DTranspose", "Conv2DTranspose", "Conv3DTranspose"]
from .upsampling import (Cropping1D, Cropping2D, Cropping3D, UpSampling1D, UpSampling2D, UpSampling3D,  # noqa: E402
                         ZeroPadding1D, ZeroPadding2D, ZeroPadding3D)

__all__ += ["Cropping1D", "Cropping2D", "Cropping3D", "UpSampling1D", "UpSampling2D", "UpSampling3D", "ZeroPadding1D",
            "ZeroPadding2D", "ZeroPadding3D"]
from .depthwise import (AveragePooling3D, Conv3D, DepthwiseConv1D, DepthwiseConv2D, GlobalAveragePooling3D,  # noqa: E402
                        GlobalMaxPooling3D, MaxPooling3D, SeparableConv1D)

AvgPool3D, MaxPool3D, GlobalAvgPool3D, GlobalMaxPool3D = AveragePooling3D, MaxPooling3D, GlobalAveragePooling3D, \
    GlobalMaxPooling3D
__all__ += ["AveragePooling3D", "Conv3D", "DepthwiseConv1D", "DepthwiseConv2D", "GlobalAveragePooling3D",
            "GlobalMaxPooling3D", "MaxPooling3D", "SeparableConv1D", "AvgPool3D", "MaxPool3D", "GlobalAvgPool3D",
            "GlobalMaxPool3D"]
from .group_norm import GroupNormalization, UnitNormalization  # noqa: E402

__all__ += ["GroupNormalization", "UnitNormalization"]
from .noise import (AlphaDropout, GaussianDropout, GaussianNoise, SpatialDropout1D, SpatialDropout2D,  # noqa: E402
                    SpatialDropout3D)

__all__ += ["AlphaDropout", "GaussianDropout", "GaussianNoise", "SpatialDropout1D", "SpatialDropout2D",
            "SpatialDropout3D"]
from .preprocessing import CenterCrop, Normalization, Rescaling, Resizing  # noqa: E402

__all__ += ["CenterCrop", "Normalization", "Rescaling", "Resizing"]


def serialize(layer) -> dict:
    """A layer as Keras 3's config dict (``fgc.saving.serialize_keras_object``)."""
    from fgc.saving.serialization import serialize_keras_object

    return serialize_keras_object(layer)


def deserialize(config, custom_objects=None, safe_mode=True):
    """The layer a Keras 3 config dict describes (fresh weights)."""
    from fgc.saving.serialization import deserialize_keras_object

    layer = deserialize_keras_object(config, custom_objects=custom_objects, safe_mode=safe_mode)
    if not isinstance(layer, Layer):
        raise ValueError(f"the config {config.get('class_name')!r} is not a layer (got {layer!r})")
    return layer


def get(identifier, custom_objects=None):
    """A layer from an instance, a config dict or a class name (Keras' ``layers.get``)."""
    if isinstance(identifier, Layer):
        return identifier
    if isinstance(identifier, dict):
        return deserialize(identifier, custom_objects)
    if isinstance(identifier, str):
        return deserialize({"class_name": identifier, "config": {}}, custom_objects)
    raise TypeError(f"a layer must be a Layer, a config dict or a class name, got {identifier!r}")


__all__ += ["serialize", "deserialize", "get"]
from .regularization import ActivityRegularization  # noqa: E402

__all__ += ["ActivityRegularization"]
