"""ZipformerLayer: the Zipformer block, in the paper's order."""

from __future__ import annotations

from torch import Tensor, nn

from zipasr.encoder.attention import RelPositionAttentionWeights, SelfAttention
from zipasr.encoder.bypass import Bypass
from zipasr.encoder.convolution import ConvolutionModule
from zipasr.encoder.feedforward import FeedForward
from zipasr.encoder.nonlin_attention import NonlinAttention
from zipasr.encoder.state import LayerState
from zipasr.nn.bias_norm import BiasNorm
from zipasr.regularizers import Balancer, ConstantAttention, SequenceDropout, Whiten
from zipasr.regularizers.whiten import whitening_schedule
from zipasr.schedule import Schedule, TrainingClock

# Rates at which whole sub-module outputs are dropped for an utterance (training only).
ATTENTION_SKIP = Schedule((0.0, 0.2), (4000.0, 0.05), (16000.0, 0.0))
FEEDFORWARD_SKIP = Schedule((0.0, 0.1), (4000.0, 0.01), (50000.0, 0.0))
CONSTANT_ATTENTION = Schedule((0.0, 0.25), (4000.0, 0.025))


class ZipformerLayer(nn.Module):
    """One Zipformer block.

    Attention weights are computed once from the block input and shared by NonlinAttention
    (head 0) and both SelfAttention modules. The block is FF -> NLA -> SA -> Conv -> FF ->
    mid-bypass -> SA -> Conv -> FF -> BiasNorm -> bypass.

    The same sequence streams: given a :class:`LayerState` (the caches of the L frames before
    x, which is then one chunk), the attentions and convolutions also see those frames, and
    the new state is returned.

    Args:
        dim: C.
        num_heads: H.
        feedforward_dim: F (the three feed-forward modules use 3F/4, F, 5F/4).
        kernel_size: K of the convolution modules.
        causal: chunk-causal convolutions.
        skip_rate: layer-skip schedule (training only).

    Shapes:
        x: (T, B, C); pos: (1, 2T + L - 1, P); attn_mask: bool broadcastable to (B, T, L + T),
        True = masked, or None; padding_mask: (B, T) bool, True = padding, or None
        ->  (T, B, C) and the new state (None without one)
    """

    def __init__(
        self,
        dim: int,
        num_heads: int,
        feedforward_dim: int,
        kernel_size: int,
        *,
        query_head_dim: int,
        value_head_dim: int,
        pos_head_dim: int,
        pos_dim: int,
        causal: bool,
        clock: TrainingClock,
        skip_rate: Schedule | None = None,
    ) -> None:
        super().__init__()
        self.attn_weights = RelPositionAttentionWeights(
            dim, num_heads, query_head_dim, pos_head_dim, pos_dim, clock
        )
        self.ff1 = FeedForward(dim, feedforward_dim * 3 // 4, clock)
        self.nonlin_attn = NonlinAttention(dim, dim * 3 // 4, clock)
        self.self_attn1 = SelfAttention(dim, num_heads, value_head_dim, clock)
        self.conv1 = ConvolutionModule(dim, kernel_size, causal, clock)
        self.ff2 = FeedForward(dim, feedforward_dim, clock)
        self.bypass_mid = Bypass(dim, clock)
        self.self_attn2 = SelfAttention(dim, num_heads, value_head_dim, clock)
        self.conv2 = ConvolutionModule(dim, kernel_size, causal, clock)
        self.ff3 = FeedForward(dim, feedforward_dim * 5 // 4, clock)
        self.norm = BiasNorm(dim)
        self.bypass = Bypass(dim, clock, skip_rate)

        self.constant_attn = ConstantAttention(CONSTANT_ATTENTION, clock)
        self.attn_skip = SequenceDropout(ATTENTION_SKIP, 1, clock)
        self.conv_skip = SequenceDropout(ATTENTION_SKIP, 1, clock)
        self.ff2_skip = SequenceDropout(FEEDFORWARD_SKIP, 1, clock)
        self.ff3_skip = SequenceDropout(FEEDFORWARD_SKIP, 1, clock)
        self.nonlin_balancer = Balancer(
            dim, -1, min_positive=0.3, max_positive=0.7,
            min_abs=Schedule((0.0, 0.004), (4000.0, 0.02)), prob=0.05, clock=clock,
        )  # fmt: skip
        self.ff2_balancer = Balancer(
            dim, -1, min_positive=0.3, max_positive=0.7,
            min_abs=Schedule((0.0, 0.0), (4000.0, 0.1)), max_abs=2.0, prob=0.05, clock=clock,
        )  # fmt: skip
        self.ff3_balancer = Balancer(
            dim, -1, min_positive=0.3, max_positive=0.7,
            min_abs=Schedule((0.0, 0.0), (4000.0, 0.2)), max_abs=4.0, prob=0.05, clock=clock,
        )  # fmt: skip
        self.norm_balancer = Balancer(
            dim, -1, min_positive=0.45, max_positive=0.55, min_abs=0.2, max_abs=4.0, clock=clock
        )
        self.out_balancer = Balancer(
            dim, -1, min_positive=0.45, max_positive=0.55, min_abs=0.1, max_abs=4.0, clock=clock
        )
        self.out_whiten = Whiten(
            1, whitening_schedule(4.0, ratio=3.0), grad_scale=0.01, clock=clock
        )

    def forward(
        self,
        x: Tensor,
        pos: Tensor,
        attn_mask: Tensor | None = None,
        padding_mask: Tensor | None = None,
        chunk_frames: int | None = None,
        state: LayerState | None = None,
    ) -> tuple[Tensor, LayerState | None]:
        # Streaming: the caches of the frames before x, which come back updated.
        key, nonlin_attn, value1, value2, conv1, conv2 = (
            state.tensors() if state is not None else [None] * 6
        )
        x_in = x
        w, key = self.attn_weights(x, pos, attn_mask, key)  # w: (H, B, T, L + T)
        # NLA and both self-attentions are dropped together for an utterance.
        keep = self.attn_skip.sample(x) if self.training else None

        x = x + self.ff1(x)
        nla, nonlin_attn = self.nonlin_attn(x, self.constant_attn(w[:1]), nonlin_attn)
        x = x + self.attn_skip(self.nonlin_balancer(nla), keep)
        out, value1 = self.self_attn1(x, w, value1)
        x = x + self.attn_skip(out, keep)
        out, conv1 = self.conv1(x, padding_mask, chunk_frames, conv1)
        x = x + self.conv_skip(out)
        x = x + self.ff2_skip(self.ff2_balancer(self.ff2(x)))
        x = self.bypass_mid(x_in, x)

        out, value2 = self.self_attn2(x, w, value2)
        x = x + self.attn_skip(out, keep)
        out, conv2 = self.conv2(x, padding_mask, chunk_frames, conv2)
        x = x + self.conv_skip(out)
        x = x + self.ff3_skip(self.ff3_balancer(self.ff3(x)))
        x = self.norm(self.norm_balancer(x))
        x = self.bypass(x_in, x)
        x = self.out_whiten(self.out_balancer(x))
        if state is None:
            return x, None
        return x, LayerState(key, nonlin_attn, value1, value2, conv1, conv2)
