"""The encoder's architecture, as one frozen dataclass, and the paper's S/M/L presets."""

from __future__ import annotations

from dataclasses import dataclass

_PER_STACK = (
    "num_layers",
    "downsampling",
    "dims",
    "num_heads",
    "feedforward_dims",
    "conv_kernels",
)


@dataclass(frozen=True)
class ZipformerConfig:
    """Everything that determines what the encoder computes in eval, and nothing else.

    Per-stack tuples have one entry per stack (six in the paper). Defaults are Zipformer-M,
    the icefall LibriSpeech recipe's default. Use :meth:`small`, :meth:`medium`, :meth:`large`
    for the paper's presets and ``dataclasses.replace`` for variations.

    Attributes:
        feature_dim: input feature size (80-dim fbank).
        num_layers: Zipformer blocks per stack.
        downsampling: each stack's frame-rate reduction relative to 50 Hz.
        dims: each stack's embedding width C.
        num_heads: attention heads H per stack.
        feedforward_dims: F per stack; the three feed-forward modules use 3F/4, F and 5F/4.
        conv_kernels: depthwise convolution kernel size K per stack (odd).
        query_head_dim: query/key size per head.
        value_head_dim: value size per head.
        pos_head_dim: positional-query size per head.
        pos_dim: size of the relative positional encoding.
        causal: chunk-causal convolutions, so that the model can stream.
    """

    feature_dim: int = 80
    num_layers: tuple[int, ...] = (2, 2, 3, 4, 3, 2)
    downsampling: tuple[int, ...] = (1, 2, 4, 8, 4, 2)
    dims: tuple[int, ...] = (192, 256, 384, 512, 384, 256)
    num_heads: tuple[int, ...] = (4, 4, 4, 8, 4, 4)
    feedforward_dims: tuple[int, ...] = (512, 768, 1024, 1536, 1024, 768)
    conv_kernels: tuple[int, ...] = (31, 31, 15, 15, 15, 31)
    query_head_dim: int = 32
    value_head_dim: int = 12
    pos_head_dim: int = 4
    pos_dim: int = 48
    causal: bool = False

    def __post_init__(self) -> None:
        for name in _PER_STACK:
            value = getattr(self, name)
            if isinstance(value, int):  # a single int means "the same for every stack"
                object.__setattr__(self, name, (value,) * len(self.downsampling))
            else:
                object.__setattr__(self, name, tuple(int(v) for v in value))
        n = len(self.downsampling)
        for name in _PER_STACK:
            value = getattr(self, name)
            if len(value) != n:
                raise ValueError(
                    f"{name} has {len(value)} entries but downsampling has {n}; give one per stack"
                )
            if any(v < 1 for v in value):
                raise ValueError(f"{name}={value} must be all positive")
        if any(k % 2 == 0 for k in self.conv_kernels):
            raise ValueError(f"conv_kernels={self.conv_kernels} must all be odd")
        if self.pos_dim % 2 != 0:
            raise ValueError(f"pos_dim={self.pos_dim} must be even")
        for name in ("feature_dim", "query_head_dim", "value_head_dim", "pos_head_dim"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name}={getattr(self, name)} must be positive")

    @property
    def num_stacks(self) -> int:
        return len(self.downsampling)

    @property
    def output_dim(self) -> int:
        """Width of the encoder output: the widest stack."""
        return max(self.dims)

    @classmethod
    def tiny(cls, causal: bool = False) -> ZipformerConfig:
        """Six one-layer stacks, about 70k parameters: for unit tests and smoke runs
        (``zipasr demo --quick``), not for recognising speech."""
        return cls(
            num_layers=(1, 1, 1, 1, 1, 1),
            dims=(16, 24, 32, 32, 24, 16),
            num_heads=(2, 2, 2, 2, 2, 2),
            feedforward_dims=(32, 48, 64, 64, 48, 32),
            conv_kernels=(7, 7, 5, 3, 5, 7),
            query_head_dim=8,
            value_head_dim=4,
            pos_head_dim=2,
            pos_dim=8,
            causal=causal,
        )

    @classmethod
    def small(cls, causal: bool = False) -> ZipformerConfig:
        """Zipformer-S (icefall RESULTS.md: 23.3 M parameters as a transducer)."""
        return cls(
            num_layers=(2, 2, 2, 2, 2, 2),
            dims=(192, 256, 256, 256, 256, 256),
            feedforward_dims=(512, 768, 768, 768, 768, 768),
            causal=causal,
        )

    @classmethod
    def medium(cls, causal: bool = False) -> ZipformerConfig:
        """Zipformer-M, the recipe default (65.5 M parameters as a transducer)."""
        return cls(causal=causal)

    @classmethod
    def large(cls, causal: bool = False) -> ZipformerConfig:
        """Zipformer-L (148.4 M parameters as a transducer)."""
        return cls(
            num_layers=(2, 2, 4, 5, 4, 2),
            dims=(192, 256, 512, 768, 512, 256),
            feedforward_dims=(512, 768, 1536, 2048, 1536, 768),
            causal=causal,
        )

    def check_chunking(self, chunk_frames: int | None, left_context_frames: int | None) -> None:
        """Raises ValueError unless the simulated-streaming arguments are valid for this model.

        Both are counted in 50 Hz frames (after the front end); None means unlimited.
        """
        if chunk_frames is None:
            if left_context_frames is not None:
                raise ValueError(
                    f"left_context_frames={left_context_frames} needs chunk_frames; "
                    "give both or neither"
                )
            return
        if not self.causal:
            raise ValueError(
                f"chunk_frames={chunk_frames} needs a causal model (ZipformerConfig.causal=True); "
                "a non-causal model only runs with full context (chunk_frames=None)"
            )
        largest = max(self.downsampling)
        if chunk_frames < 1 or any(chunk_frames % d for d in self.downsampling):
            raise ValueError(
                f"chunk_frames={chunk_frames} must be a positive multiple of every stack's "
                f"downsampling {self.downsampling} (e.g. a multiple of {largest}), or None"
            )
        if left_context_frames is not None:
            if left_context_frames < 0:
                raise ValueError(f"left_context_frames={left_context_frames} must be >= 0 or None")
            seen = chunk_frames * max(1, left_context_frames // chunk_frames)
            for i, (k, d) in enumerate(zip(self.conv_kernels, self.downsampling)):
                if seen < (k // 2) * d:
                    raise ValueError(
                        f"left_context_frames={left_context_frames} with chunk_frames="
                        f"{chunk_frames} sees fewer past frames than stack {i}'s convolution "
                        f"needs ({(k // 2) * d}); use a longer left context"
                    )


# The recipe's training-only feature-mask boundaries (encoder_unmasked_dim) for its presets.
_RECIPE_UNMASKED_DIMS = {
    ZipformerConfig.small().dims: (192, 192, 192, 192, 192, 192),
    ZipformerConfig.medium().dims: (192, 192, 256, 256, 256, 192),
    ZipformerConfig.large().dims: (192, 192, 256, 320, 256, 192),
}


def recipe_unmasked_dims(config: ZipformerConfig) -> tuple[int, ...]:
    """The channels per stack that training never masks (a training-only knob).

    The recipe's values for S/M/L; otherwise min(C, 192) per stack.
    """
    return _RECIPE_UNMASKED_DIMS.get(config.dims, tuple(min(d, 192) for d in config.dims))
