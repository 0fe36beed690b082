"""The blockwise paths of zipasr.nn.inference give what the batched code gives: attention
weights and their gradients, and whole encoder outputs and gradients in eval and training."""

from __future__ import annotations

import pytest
import torch

import zipasr
from zipasr.encoder import attention
from zipasr.encoder.attention import RelPositionAttentionWeights
from zipasr.schedule import TrainingClock
from zipasr.testing import tiny_config


def _inputs(h: int, b: int, t: int, cached: int, dtype: torch.dtype, seed: int = 0):
    gen = torch.Generator().manual_seed(seed)
    keys = cached + t

    def randn(*shape: int) -> torch.Tensor:
        return torch.randn(*shape, generator=gen, dtype=dtype).requires_grad_(True)

    q, k, p, r = (
        randn(h, b, t, 3),
        randn(h, b, 3, keys),
        randn(h, b, t, 2),
        randn(h, 1, 2, t + keys - 1),
    )
    lengths = torch.tensor([t, t - 2][:b])
    padding = (torch.arange(keys) >= (lengths + cached)[:, None]).unsqueeze(1)  # (B, 1, K)
    causal = torch.rand(t, keys, generator=gen) < 0.3
    return (q, k, p, r), padding, padding | causal


@pytest.mark.parametrize("cached", [0, 3])
def test_blockwise_weights_gradcheck(monkeypatch, cached):
    # Blocks of 2 query rows (the last one partial): the gradient crosses block boundaries.
    monkeypatch.setattr(zipasr.nn.inference, "BLOCK_NUMEL", 2 * (7 + cached))
    (q, k, p, r), padding, both = _inputs(2, 2, 7, cached, torch.float64)
    for mask in (None, padding, both):
        assert torch.autograd.gradcheck(
            lambda *a, m=mask: attention._BlockwiseWeights.apply(*a, m), (q, k, p, r)
        )


@pytest.mark.parametrize("cached", [0, 5])
def test_blockwise_weights_and_gradients_equal_the_batched_ones(
    monkeypatch, blockwise_everywhere, cached
):
    torch.manual_seed(0)
    module = RelPositionAttentionWeights(16, 2, 4, 2, 6, TrainingClock(ref_batches=50_000.0))
    x = torch.randn(40, 2, 16)
    pos = torch.randn(1, 80 + cached - 1, 6)
    cached_key = torch.randn(cached, 2, 8) if cached else None
    mask = torch.zeros(2, 40, 40 + cached, dtype=torch.bool)
    mask[1, :, 30 + cached :] = True  # padding of the second utterance
    mask[:, :5, -3:] = True  # and a few masked keys in the first rows
    mask[0, 7] = True  # and a fully masked row: uniform weights, no gradient through it

    def run(blockwise: bool):
        monkeypatch.setattr(attention, "BLOCKWISE_MIN_SCORES", 0 if blockwise else 1 << 62)
        module.zero_grad()
        torch.manual_seed(1)  # the same training-only draws
        w, _ = module(x, pos, mask, cached_key)
        (w * torch.linspace(-1, 1, w.shape[-1])).sum().backward()
        return w.detach(), [p.grad.clone() for p in module.parameters()]

    module.train()
    w_batched, grads_batched = run(False)
    assert blockwise_everywhere["attention"] == 0
    w_blockwise, grads_blockwise = run(True)
    assert blockwise_everywhere["attention"] == 1  # (no training-only draw sent it elsewhere)
    torch.testing.assert_close(w_blockwise, w_batched, rtol=1e-5, atol=1e-6)
    for ours, theirs in zip(grads_blockwise, grads_batched):
        torch.testing.assert_close(ours, theirs, rtol=1e-4, atol=1e-6)


def test_encoder_training_gradients_equal_with_blockwise_attention(
    monkeypatch, blockwise_everywhere
):
    torch.manual_seed(0)
    model = zipasr.Zipformer(tiny_config()).train()
    model.clock.ref_batches = 50_000.0
    features, lengths = torch.randn(2, 150, 80), torch.tensor([150, 121])

    def step(blockwise: bool):
        monkeypatch.setattr(attention, "BLOCKWISE_MIN_SCORES", 0 if blockwise else 1 << 62)
        model.zero_grad()
        torch.manual_seed(2)  # the same dropout masks and training-only draws
        out, _ = model(features, lengths)
        out.square().mean().backward()
        return out.detach(), {n: p.grad.clone() for n, p in model.named_parameters()}

    out_batched, grads_batched = step(False)
    calls_before = blockwise_everywhere["attention"]
    out_blockwise, grads_blockwise = step(True)
    assert blockwise_everywhere["attention"] > calls_before
    torch.testing.assert_close(out_blockwise, out_batched, rtol=1e-4, atol=1e-5)
    for name, grad in grads_batched.items():
        torch.testing.assert_close(grads_blockwise[name], grad, rtol=1e-3, atol=1e-6, msg=name)


def test_the_convnext_goes_blockwise_by_the_size_of_one_utterance(monkeypatch):
    """A 3 s utterance's ConvNeXt runs blockwise; a batch of 8 streaming windows, larger in
    all than the threshold but small per stream, keeps one matrix product per 1x1 conv."""
    from zipasr.encoder import embed

    calls = []  # (path, shape of the depthwise output h)
    blockwise, batched = embed.ConvNeXt.residual_blockwise, embed.ConvNeXt.pointwise

    def counted_blockwise(self, x, h):  # type: ignore[no-untyped-def]
        calls.append(("blockwise", h.shape))
        return blockwise(self, x, h)

    def counted_batched(self, h):  # type: ignore[no-untyped-def]
        calls.append(("batched", h.shape))
        return batched(self, h)

    monkeypatch.setattr(embed.ConvNeXt, "residual_blockwise", counted_blockwise)
    monkeypatch.setattr(embed.ConvNeXt, "pointwise", counted_batched)
    model = zipasr.Zipformer(tiny_config(causal=True)).eval()
    with torch.no_grad():
        model(torch.randn(1, 300, 80), torch.tensor([300]))
        state = model.initial_state(8, 64)
        model.forward_chunk(torch.randn(8, model.chunk_input_frames(16), 80), state)
    (path, utterance), (stream_path, windows) = calls
    assert path == "blockwise" and utterance[1:].numel() >= embed.BLOCKWISE_MIN_NUMEL
    assert stream_path == "batched"
    assert windows.numel() >= embed.BLOCKWISE_MIN_NUMEL > windows[1:].numel()


def test_reused_attention_weights_change_no_output_and_no_weights_kept(
    monkeypatch, blockwise_everywhere
):
    """Eval forwards with the attention weights in the thread's reused buffer give the same
    output as with fresh ones, and weights that a forward hook kept are not overwritten by
    the next call."""
    from zipasr.nn import inference

    torch.manual_seed(0)
    model = zipasr.Zipformer(tiny_config()).eval()
    features, lengths = torch.randn(2, 150, 80), torch.tensor([150, 121])
    layer = next(m for m in model.modules() if isinstance(m, RelPositionAttentionWeights))
    reused: list[bool] = []  # whether each call's weights were a view of the thread's buffer
    hook = layer.register_forward_hook(
        lambda m, a, out: reused.append(out[0]._base is inference._reused.buffer)
    )
    with torch.no_grad():
        out_reused, _ = model(features, lengths)
        model(features, lengths)
    assert blockwise_everywhere["attention"] > 0 and reused == [True, True]

    kept: list[tuple[torch.Tensor, torch.Tensor]] = []
    keeping = layer.register_forward_hook(lambda m, a, out: kept.append((out[0], out[0].clone())))
    with torch.no_grad():
        model(features, lengths)
        model(features * 0.5, lengths)
    hook.remove()
    keeping.remove()
    for weights, copy in kept:
        assert torch.equal(weights, copy)

    inference.drop_reused()
    monkeypatch.setattr(inference, "REUSE_MIN_BYTES", 1 << 62)
    with torch.no_grad():
        out_fresh, _ = model(features, lengths)
    assert torch.equal(out_reused, out_fresh)
