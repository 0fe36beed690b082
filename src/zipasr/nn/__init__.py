"""Building blocks of the Zipformer paper that know nothing about the encoder's topology."""

from zipasr.nn.activations import SwooshL, SwooshR, swoosh_l, swoosh_r
from zipasr.nn.bias_norm import BiasNorm
from zipasr.nn.causal_conv import ChunkCausalDepthwiseConv1d
from zipasr.nn.scaled_init import scaled_conv1d, scaled_conv2d, scaled_linear

__all__ = [
    "BiasNorm",
    "ChunkCausalDepthwiseConv1d",
    "SwooshL",
    "SwooshR",
    "scaled_conv1d",
    "scaled_conv2d",
    "scaled_linear",
    "swoosh_l",
    "swoosh_r",
]
