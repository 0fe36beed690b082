"""Zipformer: the front end and the U-Net of stacks, as one module."""

from __future__ import annotations

import torch
from torch import Tensor, nn

from zipasr.encoder.config import ZipformerConfig, recipe_unmasked_dims
from zipasr.encoder.embed import Conv2dSubsampling
from zipasr.encoder.layer import ZipformerLayer
from zipasr.encoder.masks import chunk_causal_mask, padding_mask
from zipasr.encoder.stack import SimpleDownsample, ZipformerStack
from zipasr.encoder.state import EncoderState, LayerState
from zipasr.frontend import (
    MIN_FEATURE_FRAMES,
    OUTPUT_DOWNSAMPLING,
    STREAMING_OVERLAP,
    chunk_input_frames,
    embedded_frames,
    encoder_frames,
)
from zipasr.regularizers import FeatureMask
from zipasr.schedule import Schedule, TrainingClock

#: Layer skipping is warmed up stack by stack over this many reference batches.
LAYER_SKIP_WARMUP = 4000.0


def _layer_skip_schedules(config: ZipformerConfig) -> list[list[Schedule]]:
    """Each stack starts with a high skip rate for its layers in its own slice of the warm-up,
    one layer after the other, and keeps a small rate after it (larger at lower frame rates)."""
    n = config.num_stacks
    schedules = []
    for i, (layers, ds) in enumerate(zip(config.num_layers, config.downsampling)):
        begin = LAYER_SKIP_WARMUP * (i + 1) / (n + 1)
        step = LAYER_SKIP_WARMUP / (n + 1) / layers
        final = 0.035 * ds**0.5
        schedules.append(
            [
                Schedule((begin + j * step, 0.5), (begin + (j + 1) * step, final))
                for j in range(layers)
            ]
        )
    return schedules


class Zipformer(nn.Module):
    """The Zipformer acoustic encoder: fbank (100 Hz) in, embeddings (25 Hz) out.

    A Conv2d front end takes the features to 50 Hz; six stacks of Zipformer blocks run at 50,
    25, 12.5, 6.25, 12.5 and 25 Hz (each taking and returning 50 Hz); the output takes each
    channel from the last stack that has it and is downsampled to 25 Hz.

    Args:
        config: the architecture.
        clock: the training clock that drives the training-only schedules (a new one if None);
            exposed as ``self.clock``.
        unmasked_dims: training-only feature-mask boundaries (the recipe's values if None).

    Example:
        >>> import torch, zipasr, zipasr.testing
        >>> model = zipasr.Zipformer(zipasr.testing.tiny_config()).eval()
        >>> out, lengths = model(torch.randn(2, 100, 80), torch.tensor([100, 61]))
        >>> tuple(out.shape), lengths.tolist()
        ((2, 23, 32), [23, 14])
    """

    def __init__(
        self,
        config: ZipformerConfig,
        *,
        clock: TrainingClock | None = None,
        unmasked_dims: tuple[int, ...] | None = None,
    ) -> None:
        super().__init__()
        self.config = config
        self.clock = clock if clock is not None else TrainingClock()
        self.embed = Conv2dSubsampling(config.feature_dim, config.dims[0], self.clock)
        stacks = []
        for i, skip_rates in enumerate(_layer_skip_schedules(config)):
            layers = [
                ZipformerLayer(
                    config.dims[i],
                    config.num_heads[i],
                    config.feedforward_dims[i],
                    config.conv_kernels[i],
                    query_head_dim=config.query_head_dim,
                    value_head_dim=config.value_head_dim,
                    pos_head_dim=config.pos_head_dim,
                    pos_dim=config.pos_dim,
                    causal=config.causal,
                    clock=self.clock,
                    skip_rate=rate,
                )
                for rate in skip_rates
            ]
            stacks.append(
                ZipformerStack(
                    layers, config.dims[i], config.downsampling[i], config.pos_dim, self.clock
                )
            )
        self.stacks = nn.ModuleList(stacks)
        self.feature_mask = FeatureMask(unmasked_dims or recipe_unmasked_dims(config), config.dims)
        self.output_downsample = SimpleDownsample(OUTPUT_DOWNSAMPLING)

    @property
    def output_dim(self) -> int:
        """C of the output: the widest stack."""
        return self.config.output_dim

    def forward(
        self,
        features: Tensor,
        lengths: Tensor,
        *,
        chunk_frames: int | None = None,
        left_context_frames: int | None = None,
    ) -> tuple[Tensor, Tensor]:
        """Encodes a padded batch.

        Args:
            features: (B, T, 80) float log-mel fbank at 100 Hz, padded at the end, T >= 9.
            lengths: (B,) int64 valid frames per utterance, each in [9, T]. Only their shape
                and dtype are checked here (reading the values would wait for the device);
                entry points check the values once with :func:`check_lengths`.
            chunk_frames: causal models only: simulate streaming with chunks of this many 50 Hz
                frames (a multiple of every stack's downsampling); None = full context.
            left_context_frames: with ``chunk_frames``: how many 50 Hz frames of past context
                each chunk sees; None = all.

        Returns:
            (B, T', C) encoder output at 25 Hz with T' = ((T - 7) // 2 + 1) // 2, and the (B,)
            valid output lengths. Frames beyond an utterance's length are padding.
        """
        self._check_shapes(features, lengths)
        self.config.check_chunking(chunk_frames, left_context_frames)
        t = embedded_frames(features.shape[1])
        padding = padding_mask(embedded_frames(lengths), t)  # (B, T) at 50 Hz
        attn_mask = padding.unsqueeze(1)  # no query attends to padding
        if chunk_frames is not None:
            causal = chunk_causal_mask(t, chunk_frames, left_context_frames, features.device)
            attn_mask = attn_mask | causal  # (B, T, T)
        x, _ = self._forward_impl(features, attn_mask, padding, chunk_frames, None)
        return x, encoder_frames(lengths)

    def initial_state(
        self, batch_size: int, left_context_frames: int, device: torch.device | str | None = None
    ) -> EncoderState:
        """The state of ``batch_size`` new streams for :meth:`forward_chunk`."""
        return EncoderState.initial(self.config, batch_size, left_context_frames, device)

    def chunk_input_frames(self, chunk_frames: int) -> int:
        """Feature frames (100 Hz) that :meth:`forward_chunk` takes for ``chunk_frames`` 50 Hz
        frames: 2 * chunk + 13. Consecutive windows advance by 2 * chunk frames."""
        return chunk_input_frames(chunk_frames)

    def forward_chunk(self, features: Tensor, state: EncoderState) -> tuple[Tensor, EncoderState]:
        """Encodes the next chunk of each stream (eval; causal models only).

        Args:
            features: (B, 2 * chunk + 13, 80), the next window of each stream's fbank; windows
                overlap by 13 frames (the front end's context). ``chunk`` (in 50 Hz frames) must
                be a multiple of every stack's downsampling.
            state: the streams' state, from :meth:`initial_state` or the previous call.

        Returns:
            (B, chunk // 2, C) encoder output at 25 Hz, and the new state. The concatenated
            outputs equal :meth:`forward` with ``chunk_frames=chunk`` and the state's left
            context, except near an utterance's end, where the offline front end sees padding.
        """
        if not self.config.causal:
            raise ValueError("streaming needs a causal model (ZipformerConfig.causal=True)")
        chunk, rest = divmod(features.shape[1] - STREAMING_OVERLAP, 2)
        if features.ndim != 3 or features.shape[2] != self.config.feature_dim:
            raise ValueError(
                f"features must have shape (batch, 2 * chunk + 13, {self.config.feature_dim}), "
                f"got {tuple(features.shape)}"
            )
        if rest or chunk <= 0 or any(chunk % d for d in self.config.downsampling):
            raise ValueError(
                f"a window of {features.shape[1]} frames is not 2 * chunk + 13 for a chunk that "
                f"is a positive multiple of every stack's downsampling {self.config.downsampling}"
            )
        if state.batch_size != features.shape[0]:
            raise ValueError(
                f"state holds {state.batch_size} streams but features have {features.shape[0]}"
            )
        # Each chunk sees the cached frames and itself; cache slots not yet filled (fewer
        # frames processed than the left context) are masked.
        slots = torch.arange(state.left_context_frames, device=features.device)
        unfilled = (state.processed_frames.unsqueeze(1) <= slots).flip(1)
        attn_mask = torch.cat((unfilled, unfilled.new_zeros(features.shape[0], chunk)), dim=1)
        x, new_state = self._forward_impl(features, attn_mask.unsqueeze(1), None, None, state)
        assert new_state is not None
        return x, new_state

    def _forward_impl(
        self,
        features: Tensor,
        attn_mask: Tensor,
        padding_mask: Tensor | None,
        chunk_frames: int | None,
        state: EncoderState | None,
    ) -> tuple[Tensor, EncoderState | None]:
        """The encoder, offline (``state`` None) or one streaming step (the new state is
        returned). features: (B, T, 80) -> (B, T', C) at 25 Hz; the masks are at 50 Hz: see
        :class:`ZipformerStack`."""
        x, embed_cache = self.embed(features, None if state is None else state.embed_left_pad)
        frames = x.shape[1]
        x = x.permute(1, 0, 2)  # time-major inside the encoder
        feature_masks = self.feature_mask.sample(x) if self.training else None
        outputs: list[Tensor] = []
        layers: list[LayerState] = []  # the new states, stack 0's first
        for i, stack in enumerate(self.stacks):
            x = _match_channels(x, self.config.dims[i])
            states = None
            if state is not None:
                states = state.layers[len(layers) : len(layers) + self.config.num_layers[i]]
            mask = None if feature_masks is None else feature_masks[i]
            x, states = stack(x, attn_mask, padding_mask, chunk_frames, mask, states)
            if states is not None:
                layers += states
            outputs.append(x)
        x = self.output_downsample(_combine_stacks(outputs)).permute(1, 0, 2)
        if state is None or embed_cache is None:
            return x, None
        return x, EncoderState(layers, embed_cache, state.processed_frames + frames)

    def _check_shapes(self, features: Tensor, lengths: Tensor) -> None:
        """The checks that read no tensor values (no device sync)."""
        dim = self.config.feature_dim
        if not torch.is_floating_point(features):
            raise ValueError(f"features must be a float tensor, got dtype {features.dtype}")
        if features.ndim != 3 or features.shape[2] != dim:
            raise ValueError(
                f"features must have shape (batch, frames, {dim}), got {tuple(features.shape)}"
            )
        if features.shape[1] < MIN_FEATURE_FRAMES:
            raise ValueError(
                f"features have T={features.shape[1]} frames; the front end needs at least "
                f"{MIN_FEATURE_FRAMES} (90 ms at 100 Hz)"
            )
        if lengths.ndim != 1 or lengths.shape[0] != features.shape[0]:
            raise ValueError(
                f"lengths must have shape ({features.shape[0]},), got {tuple(lengths.shape)}"
            )
        if torch.is_floating_point(lengths) or lengths.dtype == torch.bool:
            raise ValueError(f"lengths must be an integer tensor, got dtype {lengths.dtype}")


def check_lengths(lengths: Tensor, num_frames: int) -> None:
    """Raises ValueError unless every length is in [9, ``num_frames``]: what
    :meth:`Zipformer.forward` needs of its ``lengths`` and does not check itself.

    Reading the values waits for the device, so entry points call this once per batch where
    the batch is made, not inside a compiled or exported graph.

    Args:
        lengths: (B,) integer valid feature frames (100 Hz) per utterance.
        num_frames: T, the padded length of the batch's features (B, T, 80).
    """
    if not bool(((lengths > num_frames) | (lengths < MIN_FEATURE_FRAMES)).any()):
        return  # one device sync on the good path
    if bool((lengths > num_frames).any()):
        raise ValueError(
            f"lengths {lengths.tolist()} exceed the number of feature frames T={num_frames}"
        )
    raise ValueError(
        f"lengths {lengths.tolist()} include utterances shorter than "
        f"{MIN_FEATURE_FRAMES} frames, the front end's minimum; drop or pad them"
    )


def _match_channels(x: Tensor, dim: int) -> Tensor:
    """Truncates the channel axis to ``dim``, or zero-pads it. x: (T, B, C)."""
    c = x.shape[-1]
    if c >= dim:
        return x[..., :dim]
    return torch.nn.functional.pad(x, (0, dim - c))


def _combine_stacks(outputs: list[Tensor]) -> Tensor:
    """Full-width output: each channel from the last stack that has it. (T, B, max C)."""
    pieces, width = [outputs[-1]], outputs[-1].shape[-1]
    for x in reversed(outputs[:-1]):
        if x.shape[-1] > width:
            pieces.append(x[..., width:])
            width = x.shape[-1]
    return pieces[0] if len(pieces) == 1 else torch.cat(pieces, dim=-1)
