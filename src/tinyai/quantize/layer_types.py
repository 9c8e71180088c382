"""Every converted (deployable) quantized layer type: what the ONNX rewrite and the model
directory's record know how to handle."""

from tinyai.quantize.modules import (
                   LowBitLinear,
                   QuantizedConv2d,
                   QuantizedEmbedding,
                   QuantizedLinear,
)
from tinyai.quantize.weight_int8 import Int8WeightConv, Int8WeightRNN

QUANTIZED_TYPES = (QuantizedLinear, LowBitLinear, QuantizedEmbedding, QuantizedConv2d,
                   Int8WeightConv, Int8WeightRNN)
