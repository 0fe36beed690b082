"""The streaming state of the encoder: explicit, typed, batchable.

One :class:`LayerState` per Zipformer layer and an :class:`EncoderState` around them. The
tensor layouts follow the reference's (and so sherpa-onnx's) cached_* inputs, so that export
only has to name them. L_i is the left context at stack i's frame rate.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor

from zipasr.encoder.config import ZipformerConfig
from zipasr.encoder.embed import CONV_CHANNELS, CONVNEXT_CONTEXT, freq_bins

# The axis that holds the batch, per field.
_LAYER_BATCH_AXIS = {"key": 1, "nonlin_attn": 1, "value1": 1, "value2": 1, "conv1": 0, "conv2": 0}


@dataclass
class LayerState:
    """Caches of one layer.

    Attributes:
        key: (L_i, B, H * Q) attention keys of the last L_i frames.
        nonlin_attn: (1, B, L_i, 3C/4) NonlinAttention's gated values.
        value1, value2: (L_i, B, H * V) values of the two self-attentions.
        conv1, conv2: (B, C, K//2) inputs of the two depthwise convolutions.
    """

    key: Tensor
    nonlin_attn: Tensor
    value1: Tensor
    value2: Tensor
    conv1: Tensor
    conv2: Tensor

    def tensors(self) -> list[Tensor]:
        """The six tensors in the reference's order (the fields' order). Spelled out: each
        layer of each streaming step unpacks them, and ``dataclasses.fields`` is slow."""
        return [self.key, self.nonlin_attn, self.value1, self.value2, self.conv1, self.conv2]


@dataclass
class EncoderState:
    """Everything the encoder remembers between chunks of one or more streams.

    Attributes:
        layers: one state per layer, stack 0's first.
        embed_left_pad: (B, 128, 3, 19) the front end's last 3 frames before its ConvNeXt.
        processed_frames: (B,) int64, 50 Hz frames consumed so far (masks unused cache slots).
    """

    layers: list[LayerState]
    embed_left_pad: Tensor
    processed_frames: Tensor

    @property
    def batch_size(self) -> int:
        # No int(): under torch.export the batch size is symbolic, and int() would fix it.
        return self.processed_frames.shape[0]

    @property
    def left_context_frames(self) -> int:
        """Left context at 50 Hz (stack 0's cache length; stack 0 runs at 50 Hz)."""
        return int(self.layers[0].key.shape[0])

    @classmethod
    def initial(
        cls,
        config: ZipformerConfig,
        batch_size: int,
        left_context_frames: int,
        device: torch.device | str | None = None,
        dtype: torch.dtype = torch.float32,
    ) -> EncoderState:
        """All-zero state for ``batch_size`` new streams; ``left_context_frames`` at 50 Hz."""
        if left_context_frames <= 0 or any(left_context_frames % d for d in config.downsampling):
            raise ValueError(
                f"left_context_frames={left_context_frames} must be a positive multiple of every "
                f"stack's downsampling {config.downsampling}"
            )

        def zeros(*shape: int) -> Tensor:
            return torch.zeros(*shape, device=device, dtype=dtype)

        layers = []
        for i, n in enumerate(config.num_layers):
            left = left_context_frames // config.downsampling[i]
            dim, heads = config.dims[i], config.num_heads[i]
            half = config.conv_kernels[i] // 2
            for _ in range(n):
                layers.append(
                    LayerState(
                        key=zeros(left, batch_size, heads * config.query_head_dim),
                        nonlin_attn=zeros(1, batch_size, left, dim * 3 // 4),
                        value1=zeros(left, batch_size, heads * config.value_head_dim),
                        value2=zeros(left, batch_size, heads * config.value_head_dim),
                        conv1=zeros(batch_size, dim, half),
                        conv2=zeros(batch_size, dim, half),
                    )
                )
        embed = zeros(
            batch_size, CONV_CHANNELS[-1], CONVNEXT_CONTEXT, freq_bins(config.feature_dim)
        )
        processed = torch.zeros(batch_size, dtype=torch.int64, device=device)
        return cls(layers, embed, processed)

    @classmethod
    def stack(cls, states: list[EncoderState]) -> EncoderState:
        """Batches the states of several streams (each may itself be a batch)."""
        if not states:
            raise ValueError("stack needs at least one state")
        layers = [
            LayerState(
                **{
                    name: torch.cat([getattr(s.layers[j], name) for s in states], dim=axis)
                    for name, axis in _LAYER_BATCH_AXIS.items()
                }
            )
            for j in range(len(states[0].layers))
        ]
        return cls(
            layers,
            torch.cat([s.embed_left_pad for s in states]),
            torch.cat([s.processed_frames for s in states]),
        )

    def select(self, index: int) -> EncoderState:
        """The state of stream ``index`` (a batch of one)."""
        return self.select_many(slice(index, index + 1))

    def select_many(self, index: slice | Tensor) -> EncoderState:
        """The states of the streams picked by a slice or an index tensor."""
        layers = []
        for layer in self.layers:
            picked = {}
            for name, axis in _LAYER_BATCH_AXIS.items():
                value = getattr(layer, name)
                picked[name] = value[index] if axis == 0 else value[:, index]
            layers.append(LayerState(**picked))
        return EncoderState(layers, self.embed_left_pad[index], self.processed_frames[index])

    def to_flat(self) -> list[Tensor]:
        """The reference's flat list: 6 tensors per layer, then embed_left_pad, then
        processed_frames (the order of sherpa-onnx's cached_* inputs)."""
        flat = [t for layer in self.layers for t in layer.tensors()]
        return [*flat, self.embed_left_pad, self.processed_frames]

    @classmethod
    def from_flat(cls, tensors: list[Tensor]) -> EncoderState:
        """Inverse of :meth:`to_flat`."""
        if len(tensors) < 2 or (len(tensors) - 2) % 6:
            raise ValueError(f"expected 6 tensors per layer plus 2, got {len(tensors)}")
        body = tensors[:-2]
        layers = [LayerState(*body[i : i + 6]) for i in range(0, len(body), 6)]
        return cls(layers, tensors[-2], tensors[-1].to(torch.int64))
