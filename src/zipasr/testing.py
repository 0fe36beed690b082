"""Small configurations and inputs for tests, ours and downstream users'."""

from __future__ import annotations

import math
import zlib

import torch
from torch import Tensor

from zipasr.encoder.config import ZipformerConfig
from zipasr.frontend import FBANK_PAD_VALUE


def tiny_config(causal: bool = False) -> ZipformerConfig:
    """A six-stack Zipformer small enough for unit tests: :meth:`ZipformerConfig.tiny`."""
    return ZipformerConfig.tiny(causal)


def tiny_recognizer(tokens: list[str], *, seed: int = 0):  # -> zipasr.AsrModel
    """A random causal transducer + CTC model on :func:`tiny_config`, one output per entry of
    ``tokens``, whose joiner is nudged away from blank so that it emits tokens on any input
    (decoding tests then have something to compare). Built after ``torch.manual_seed(seed)``."""
    from zipasr.models import AsrModel, AsrModelConfig, TransducerConfig

    torch.manual_seed(seed)
    config = AsrModelConfig(
        tiny_config(causal=True),
        vocab_size=len(tokens),
        transducer=TransducerConfig(16, 24, 2),
        ctc=True,
    )
    model = AsrModel(config, tokens=tokens)
    with torch.no_grad():
        model.transducer.joiner.output_linear.bias[0] -= 1.0  # type: ignore[union-attr]
    return model.eval()


def random_features(
    lengths: list[int], feature_dim: int = 80, *, seed: int = 0
) -> tuple[Tensor, Tensor]:
    """A padded batch of random fbank-like features: (B, max(lengths), feature_dim) padded with
    :data:`FBANK_PAD_VALUE`, and the (B,) int64 lengths."""
    gen = torch.Generator().manual_seed(seed)
    batch = torch.full((len(lengths), max(lengths), feature_dim), FBANK_PAD_VALUE)
    for i, n in enumerate(lengths):
        batch[i, :n] = torch.randn(n, feature_dim, generator=gen) * 2.0 - 8.0
    return batch, torch.tensor(lengths, dtype=torch.int64)


def random_parameter(name: str, shape: tuple[int, ...], *, seed: int = 0) -> Tensor:
    """A deterministic random value for the parameter called ``name`` (any naming scheme).

    The value depends only on the name, the shape and ``seed``, so two implementations that
    name a parameter differently but agree on the shape get the same value once the name is
    translated. Values are not the init values: bypass scales are spread over (0.1, 0.9),
    downsampling biases and chunk-edge gains are non-zero, log-scales vary, so that a swapped
    or ignored parameter shows up in the output.
    """
    gen = torch.Generator().manual_seed(zlib.crc32(name.encode()) + 7919 * seed)
    last = name.rsplit(".", 1)[-1]
    if "bypass" in last or name.endswith("bypass_scale"):
        return torch.rand(shape, generator=gen) * 0.8 + 0.1
    if last == "log_scale":
        return torch.rand(shape, generator=gen) * 0.6 - 0.3
    if len(shape) <= 1 or "chunkwise_conv_scale" in last or "chunkwise_scale" in last:
        return torch.randn(shape, generator=gen) * 0.2
    fan_in = math.prod(shape[1:])
    return torch.randn(shape, generator=gen) / math.sqrt(fan_in)


def random_state_dict(shapes: dict[str, tuple[int, ...]], *, seed: int = 0) -> dict[str, Tensor]:
    """:func:`random_parameter` for every (name, shape)."""
    return {name: random_parameter(name, tuple(shape), seed=seed) for name, shape in shapes.items()}
