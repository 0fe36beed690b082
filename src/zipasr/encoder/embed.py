"""The convolutional front end: 100 Hz fbank -> 50 Hz embeddings (``encoder_embed``)."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from zipasr.nn.activations import swoosh_l, swoosh_r
from zipasr.nn.bias_norm import BiasNorm
from zipasr.nn.inference import blockwise_inference, row_block
from zipasr.nn.scaled_init import scaled_conv2d
from zipasr.regularizers import Balancer, ScaleGrad, SequenceDropout, SharedDropout, Whiten
from zipasr.regularizers.whiten import whitening_schedule
from zipasr.schedule import Schedule, TrainingClock

CONV_CHANNELS = (8, 32, 128)
CONVNEXT_HIDDEN = 384
DEPTHWISE_KERNEL = 7
#: ConvNeXt look-ahead at 50 Hz: its 7x7 kernel sees 3 future frames.
CONVNEXT_CONTEXT = DEPTHWISE_KERNEL // 2
#: Activations per utterance (C x T x F) from which eval mode runs the ConvNeXt's 1x1
#: convolutions block by block: 512 KiB of float32, 54 frames at 50 Hz (about 1.1 s of
#: audio). The windows of streaming chunks up to 32 frames stay below it, so a batch of
#: streams keeps one matrix product per 1x1 convolution. (Zipformer-S, 1 x 5 s, 2 threads:
#: 67.6 -> 63.4 ms with the threshold lowered from 4 MiB for the whole batch; 1 x 2 s 41.7 ->
#: 39.4 ms. Measured for batches of one.)
BLOCKWISE_MIN_NUMEL = 1 << 17


def freq_bins(in_features: int) -> int:
    """Frequency bins left after the front end's two stride-2 convolutions (80 -> 19)."""
    return ((in_features - 1) // 2 - 1) // 2


class ConvNeXt(nn.Module):
    """Residual ConvNeXt block on (B, C, T, F): depthwise 7x7 -> 1x1 (3C) -> SwooshL -> 1x1 (C).

    The two 1x1 convolutions are applied as matrix products over a channels-last view, which is
    what they are; the parameters keep nn.Conv2d's layout. With channels-last input (as the
    front end makes it) no layout copy is made.

    Streaming passes the 3 frames before x as ``cache`` (the last ones emitted before). The
    last 3 frames of x are then look-ahead only: they are not emitted, and come again at the
    start of the next window; the 3 frames before them are the new cache.

    Shapes:
        x: (B, C, T, F); cache: (B, C, 3, F) or None  ->  (B, C, T, F), or (B, C, T - 3, F)
        and the new cache with one
    """

    def __init__(self, channels: int, hidden: int, clock: TrainingClock) -> None:
        super().__init__()
        self.depthwise = nn.Conv2d(
            channels, channels, DEPTHWISE_KERNEL, padding=DEPTHWISE_KERNEL // 2, groups=channels
        )
        self.pointwise1 = nn.Conv2d(channels, hidden, 1)
        self.pointwise2 = scaled_conv2d(hidden, channels, 1, initial_scale=0.01)
        self.hidden_balancer = Balancer(
            hidden, -1, min_positive=0.3, max_positive=1.0, min_abs=0.75, max_abs=5.0, clock=clock
        )
        self.layer_drop = SequenceDropout(Schedule((0.0, 0.2), (20000.0, 0.015)), 0, clock)
        self.out_balancer = Balancer(
            channels, 1, min_positive=0.4, max_positive=0.6, min_abs=1.0, max_abs=6.0, clock=clock
        )
        self.out_whiten = Whiten(1, 5.0, grad_scale=0.01, clock=clock)

    def forward(self, x: Tensor, cache: Tensor | None = None) -> tuple[Tensor, Tensor | None]:
        if cache is None:
            h = self.depthwise(x)  # zero padding on both sides
        else:
            # In time, the cache stands in for the zero padding before x, and no frame is
            # padded after it.
            h = F.conv2d(
                torch.cat((cache, x), dim=2), self.depthwise.weight, self.depthwise.bias,
                padding=(0, DEPTHWISE_KERNEL // 2), groups=self.depthwise.groups,
            )  # fmt: skip
            emitted = x.shape[2] - CONVNEXT_CONTEXT
            x, cache = x[:, :, :emitted], x[:, :, emitted - CONVNEXT_CONTEXT : emitted]
        if (
            not self.training
            and blockwise_inference(
                h, x, weights=(*self.pointwise1.parameters(), *self.pointwise2.parameters())
            )
            # last: a size test would be a compile guard
            and h.numel() >= BLOCKWISE_MIN_NUMEL * h.shape[0]
        ):
            return self.residual_blockwise(x, h), cache
        x = self.out_balancer(x + self.layer_drop(self.pointwise(h)))
        return self.out_whiten(x.transpose(1, 3)).transpose(1, 3), cache

    def pointwise(self, h: Tensor) -> Tensor:
        """1x1 conv -> SwooshL -> 1x1 conv, as matrix products over channels-last views."""
        h = h.permute(0, 2, 3, 1)  # (B, T, F, C)
        h = F.linear(h, self.pointwise1.weight.flatten(1), self.pointwise1.bias)
        h = swoosh_l(self.hidden_balancer(h))
        h = F.linear(h, self.pointwise2.weight.flatten(1), self.pointwise2.bias)
        return h.permute(0, 3, 1, 2)

    def residual_blockwise(self, x: Tensor, h: Tensor) -> Tensor:
        """Eval mode's ``x + pointwise(h)``, computed a block of frames at a time into one
        channels-last output, so that the 3x wider hidden layer never exists whole (see
        :mod:`zipasr.nn.inference`). Same operations, same values up to float rounding.

        x, h: (B, C, T, F) with h channels-last  ->  (B, C, T, F) channels-last
        """
        b, c, t, f = x.shape
        w1, b1 = self.pointwise1.weight.flatten(1).t(), self.pointwise1.bias
        w2, b2 = self.pointwise2.weight.flatten(1).t(), self.pointwise2.bias
        out = torch.empty_like(h, memory_format=torch.channels_last)
        frames = row_block(f * w1.shape[1])
        hidden_buffer = h.new_empty(frames * f, w1.shape[1])
        for utt in range(b):
            for start in range(0, t, frames):
                end = min(t, start + frames)
                # (frames * F, C) views of the channels-last blocks, rows in (time, freq) order
                rows = h[utt, :, start:end].permute(1, 2, 0).reshape(-1, c)
                dest = out[utt, :, start:end].permute(1, 2, 0).view(-1, c)
                hidden = hidden_buffer[: rows.shape[0]]
                if b1 is None:
                    torch.mm(rows, w1, out=hidden)
                else:
                    torch.addmm(b1, rows, w1, out=hidden)
                # dest = x + b2 + swoosh(hidden) @ w2, accumulated in place
                residual = x[utt, :, start:end].permute(1, 2, 0).reshape(-1, c)
                if b2 is None:
                    dest.copy_(residual)
                else:
                    torch.add(residual, b2, out=dest)
                dest.addmm_(swoosh_l(hidden), w2)
        return out


class Conv2dSubsampling(nn.Module):
    """Front end: three 3x3 convolutions (time stride 1, 2, 1), a ConvNeXt block, a linear
    projection and BiasNorm. 100 Hz -> 50 Hz; 80 bins -> 19 after the strides.

    Streaming passes the ConvNeXt's ``cache`` (see :class:`ConvNeXt`): the window of T frames
    then emits 3 frames fewer, and consecutive windows overlap by 13 frames (2 * 3 + 7).

    Args:
        in_features: feature bins (80).
        out_dim: C0, the first stack's width.

    Shapes:
        x: (B, T, in_features); cache: (B, 128, 3, 19) or None  ->  (B, T', out_dim) with
        T' = (T - 7) // 2 (:func:`zipasr.frontend.embedded_frames`), 3 fewer with a cache,
        and the new cache or None
    """

    def __init__(self, in_features: int, out_dim: int, clock: TrainingClock) -> None:
        super().__init__()
        c1, c2, c3 = CONV_CHANNELS
        self.conv1 = nn.Conv2d(1, c1, 3, padding=(0, 1))
        self.conv2 = nn.Conv2d(c1, c2, 3, stride=2)
        self.conv3 = nn.Conv2d(c2, c3, 3, stride=(1, 2))
        self.grad_scale = ScaleGrad(0.2)
        self.balancer1 = Balancer(c1, 1, max_abs=1.0, clock=clock)
        self.balancer2 = Balancer(c2, 1, max_abs=4.0, clock=clock)
        self.balancer3 = Balancer(c3, 1, max_abs=4.0, clock=clock)
        self.convnext = ConvNeXt(c3, CONVNEXT_HIDDEN, clock)
        self.proj = nn.Linear(c3 * freq_bins(in_features), out_dim)
        self.whiten = Whiten(1, whitening_schedule(4.0), grad_scale=0.02, clock=clock)
        self.norm = BiasNorm(out_dim)
        self.dropout = SharedDropout(Schedule((0.0, 0.3), (20000.0, 0.1)), 1, clock)

    def conv_stack(self, x: Tensor) -> Tensor:
        """(B, T, F) features -> (B, 128, (T - 7) // 2, 19), before the ConvNeXt.

        Everything after the first convolution runs channels-last in memory: the depthwise and
        strided convolutions are faster that way on CPU, and the 1x1 convolutions and the final
        flatten need no layout copy.
        """
        # The convolutions read the layout from the strides. The one-channel input has the
        # same memory either way; strides that read as channels-last (an unsqueezed last axis,
        # permuted) make oneDNN run the first convolution channels-last, 2.5-11x faster on
        # CPU than channels-first followed by a layout copy (that convolution and copy alone,
        # 2 threads: 1 x 30 s 1.47 -> 0.59 ms, 8 x 10 s 16.6 -> 1.5 ms). That is for eager CPU
        # inference only: with gradients the training step was 3-6% slower that way
        # (Zipformer-M 1 x 30 s, Zipformer-S 8 x 10 s, alternating in one process), and those
        # input strides made the compiled streaming step fail for batches of streams
        # (inductor's layout of the convolution's output disagreed with oneDNN's); elsewhere
        # the output is made channels-last instead.
        # (``contiguous(memory_format=torch.channels_last)`` on the one-channel input leaves
        # its strides channels-first: the whole front end then ran channels-first, its
        # training step 1.36 s against 0.98-1.07 s, Zipformer-M, 8 x 10 s, 2 threads.)
        if blockwise_inference(x, weights=self.conv1.parameters()):
            x = self.conv1(x.contiguous().unsqueeze(-1).permute(0, 3, 1, 2))
        else:
            x = self.conv1(x.unsqueeze(1)).contiguous(memory_format=torch.channels_last)
        x = self.balancer1(self.grad_scale(x))
        x = self.balancer2(self.conv2(swoosh_r(x)))
        x = self.balancer3(self.conv3(swoosh_r(x)))
        return swoosh_r(x)

    def project(self, x: Tensor) -> Tensor:
        """(B, 128, T', 19) -> (B, T', C0): flatten, project, normalise.

        The projection's inputs are indexed channel-major (c * 19 + f), as in the reference,
        while x is channels-last in memory. One of the two is permuted to match the other:
        the weight for long inputs, the activations for short ones (streaming chunks, where
        re-laying out the weight would cost more than the projection).
        """
        b, c, t, f = x.shape
        weight = self.proj.weight
        if b * t * c * f < weight.numel():
            x = x.permute(0, 2, 1, 3).reshape(b, t, c * f)
        else:
            x = x.permute(0, 2, 3, 1).reshape(b, t, f * c)
            weight = weight.unflatten(1, (c, f)).transpose(1, 2).flatten(1)
        x = self.norm(self.whiten(F.linear(x, weight, self.proj.bias)))
        return self.dropout(x)

    def forward(self, x: Tensor, cache: Tensor | None = None) -> tuple[Tensor, Tensor | None]:
        x, cache = self.convnext(self.conv_stack(x), cache)
        return self.project(x), cache
