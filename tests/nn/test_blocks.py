"""The paper's building blocks: Swoosh, BiasNorm, chunk-causal convolution."""

from __future__ import annotations

import pytest
import torch

from zipasr.nn import (
    BiasNorm,
    ChunkCausalDepthwiseConv1d,
    SwooshL,
    SwooshR,
    depthwise,
    swoosh_l,
    swoosh_r,
)
from zipasr.nn.depthwise import DepthwiseConv1d, depthwise_conv_time, prefers_direct

SWOOSH = [(swoosh_l, 4.0, 0.035), (swoosh_r, 1.0, 0.313261687)]


@pytest.mark.parametrize("fn,shift,offset", SWOOSH)
def test_swoosh_matches_its_formula(fn, shift, offset):
    x = torch.linspace(-50, 50, 10001, dtype=torch.float64).float()
    expected = torch.logaddexp(torch.zeros_like(x), x - shift) - 0.08 * x - offset
    assert torch.allclose(fn(x), expected, atol=2e-6)


@pytest.mark.parametrize("fn,shift,offset", SWOOSH)
def test_swoosh_exp_form_matches_the_formula_and_falls_back(fn, shift, offset, monkeypatch):
    """Large CPU tensors in inference take the exp/log form; torch's softplus below the size
    threshold, under autograd, and where exp would overflow or the input holds a NaN."""
    from zipasr.nn import activations

    softplus_calls = []
    real_softplus = activations.F.softplus
    monkeypatch.setattr(
        activations.F, "softplus", lambda *a: softplus_calls.append(1) or real_softplus(*a)
    )
    n = activations.EXP_FORM_MIN_NUMEL * 2
    # torch 2.13 (Intel Xeon, 2 threads): the first parallel torch.exp of a process sometimes
    # returns values off by 1.5e-4 (relative) on one thread's half of the tensor, 4 processes
    # in 32; later calls are exact to 2e-6. Not this function's error: call exp once first.
    torch.exp(torch.zeros(n))
    x64 = torch.linspace(-60, 60 + shift, n, dtype=torch.float64)
    expected = torch.logaddexp(torch.zeros_like(x64), x64 - shift) - 0.08 * x64 - offset
    x = x64.float()
    assert torch.allclose(fn(x).double(), expected, atol=2e-6, rtol=1e-6)
    assert softplus_calls == []
    assert torch.allclose(fn(x[:100]).double(), expected[:100], atol=2e-6, rtol=1e-6)
    assert softplus_calls == [1]
    y = fn(x.clone().requires_grad_(True))
    assert torch.allclose(y.double(), expected, atol=2e-6, rtol=1e-6)
    assert softplus_calls == [1, 1]

    big = x.clone()
    big[7] = 1000.0
    y = fn(big)
    assert softplus_calls == [1, 1, 1]
    assert torch.isfinite(y).all() and abs(y[7].item() - (0.92 * 1000 - shift - offset)) < 1e-3
    keep = torch.arange(n) != 7
    assert torch.allclose(y[keep].double(), expected[keep], atol=2e-6, rtol=1e-6)

    # bfloat16 and non-contiguous inputs take it too, computed in float32
    assert torch.allclose(fn(x.bfloat16()).double(), expected, atol=0.5, rtol=1e-2)
    strided = torch.stack([x, x], dim=1)[:, 1]
    assert torch.allclose(fn(strided).double(), expected, atol=2e-6, rtol=1e-6)
    assert softplus_calls == [1, 1, 1]
    with_nan = x.clone()
    with_nan[3] = float("nan")
    y = fn(with_nan)
    assert y[3].isnan() and torch.isfinite(y[4:]).all()
    minus_inf = x.clone()
    minus_inf[5] = float("-inf")
    assert fn(minus_inf)[5].item() == float("inf")  # -0.08 x


@pytest.mark.parametrize("fn", [swoosh_l, swoosh_r])
def test_swoosh_traces_and_compiles_as_softplus(fn):
    """A trace (ONNX export goes through one) and torch.compile record the plain formula,
    not the eager exp/log form with its data-dependent fallback."""
    from zipasr.nn import activations

    x = torch.randn(activations.EXP_FORM_MIN_NUMEL * 2)
    graph = torch.jit.trace(fn, x).graph
    assert "aten::softplus" in str(graph) and "aten::log_" not in str(graph)

    seen = []

    def backend(gm, example_inputs):
        seen.append(str(gm.graph))
        return gm.forward

    torch._dynamo.reset()
    torch.compile(fn, backend=backend)(x)
    assert seen and all("softplus" in g and "log_" not in g for g in seen)


def test_swoosh_r_is_zero_at_zero():
    assert abs(swoosh_r(torch.zeros(1)).item()) < 1e-7


@pytest.mark.parametrize("fn,shift,offset", SWOOSH)
def test_swoosh_gradient_is_close_and_memory_lean(fn, shift, offset):
    """On CPU the derivative is kept as float16 (half the bytes of the float32 input)."""
    x = (torch.randn(4000) * 4).requires_grad_(True)
    saved = []
    with torch.autograd.graph.saved_tensors_hooks(lambda t: saved.append(t) or t, lambda t: t):
        y = fn(x)
    assert [t.dtype for t in saved] == [torch.float16], "only 2 bytes per element are kept"
    (g,) = torch.autograd.grad(y.sum(), x)
    exact = torch.sigmoid(x.detach() - shift) - 0.08
    assert (g - exact).abs().max() <= 1e-3


@pytest.mark.parametrize("dtype", [torch.float32, torch.float16])
@pytest.mark.parametrize("fn,shift,offset", SWOOSH)
def test_swoosh_backward_twice_gives_the_same_gradient(fn, shift, offset, dtype):
    """Backward works in place on a copy of the saved derivative: the saved tensor is the same
    dtype as a float16 gradient, and a second backward (retain_graph) must still find it."""
    x = (torch.randn(4000) * 4).to(dtype).requires_grad_(True)
    y = fn(x)
    upstream = torch.randn(4000).to(dtype)
    (first,) = torch.autograd.grad(y, x, upstream, retain_graph=True)
    (second,) = torch.autograd.grad(y, x, upstream)
    assert torch.equal(first, second)
    exact = (torch.sigmoid(x.detach().float() - shift) - 0.08) * upstream.float()
    assert (first.float() - exact).abs().max() <= 1e-2 * upstream.abs().max()


@pytest.mark.skipif(not torch.cuda.is_available(), reason="the byte-per-element path is for GPUs")
@pytest.mark.parametrize("fn,shift,offset", SWOOSH)
def test_swoosh_gradient_on_gpu_is_one_unbiased_byte(fn, shift, offset):
    x = (torch.randn(40000, device="cuda") * 4).requires_grad_(True)
    saved = []
    with torch.autograd.graph.saved_tensors_hooks(lambda t: saved.append(t) or t, lambda t: t):
        y = fn(x)
    assert [t.dtype for t in saved] == [torch.uint8], "only a byte per element is kept"
    (g,) = torch.autograd.grad(y.sum(), x)
    exact = torch.sigmoid(x.detach() - shift) - 0.08
    assert (g - exact).abs().max() <= 1.0 / 255 + 1e-6
    assert abs((g - exact).mean()) < 1e-3  # stochastic rounding: no systematic bias


@pytest.mark.parametrize("dtype", [torch.bfloat16, torch.float16])
def test_swoosh_under_autocast(dtype):
    lin = torch.nn.Linear(8, 8)
    x = torch.randn(16, 8) * 10
    with torch.autocast("cpu", dtype=dtype):
        h = lin(x)
        y = SwooshL()(h) + SwooshR()(h)
    assert y.dtype == h.dtype == dtype
    y.float().sum().backward()
    assert torch.isfinite(lin.weight.grad).all()
    ref = swoosh_l(h.float().detach()) + swoosh_r(h.float().detach())
    assert torch.allclose(y.float(), ref, atol=0.1, rtol=0.02)


def test_bias_norm_formula():
    norm = BiasNorm(6)
    with torch.no_grad():
        norm.bias.copy_(torch.arange(6.0) / 10)
        norm.log_scale.fill_(0.3)
    x = torch.randn(5, 3, 6)
    rms = (x - norm.bias).pow(2).mean(-1, keepdim=True).sqrt()
    assert torch.allclose(norm(x), x / rms * torch.exp(torch.tensor(0.3)), atol=1e-6)


def test_chunk_causal_conv_sees_nothing_past_its_chunk():
    torch.manual_seed(0)
    conv = ChunkCausalDepthwiseConv1d(4, 7)
    with torch.no_grad():
        conv.chunkwise_scale.normal_()
    x = torch.randn(2, 40, 4)  # (B, T, C)
    y = x.clone()
    y[:, 24:] += 1.0
    (a, _), (b, _) = conv(x, 8), conv(y, 8)
    assert torch.equal(a[:, :24], b[:, :24])
    assert not torch.equal(a[:, 24:], b[:, 24:])


@pytest.mark.parametrize("kernel,frames", [(7, 40), (31, 12), (15, 1)])
def test_depthwise_conv_equals_conv1d(kernel, frames):
    conv = DepthwiseConv1d(6, kernel)
    x = torch.randn(3, frames, 6)
    expected = torch.nn.functional.conv1d(
        x.transpose(1, 2), conv.weight, conv.bias, padding=kernel // 2, groups=6
    ).transpose(1, 2)
    assert torch.allclose(conv(x), expected, atol=1e-6)
    causal = depthwise_conv_time(x, conv.weight, conv.bias, kernel - 1, 0)
    expected = torch.nn.functional.conv1d(
        torch.nn.functional.pad(x.transpose(1, 2), (kernel - 1, 0)),
        conv.weight,
        conv.bias,
        groups=6,
    ).transpose(1, 2)
    assert torch.allclose(causal, expected, atol=1e-6)


@pytest.mark.parametrize("direct", [False, True], ids=["convolution", "direct"])
@pytest.mark.parametrize("pads", [(3, 3), (6, 0), (0, 0), (2, 5)])
def test_depthwise_conv_time_both_paths_equal_conv1d(direct, pads):
    # Short streaming inputs skip the convolution call; both ways must be conv1d's result and
    # gradient.
    torch.manual_seed(0)
    weight = torch.randn(5, 1, 7, requires_grad=True)
    for bias in (torch.randn(5, requires_grad=True), None):
        x = torch.randn(2, 9, 5, requires_grad=True)
        got = depthwise_conv_time(x, weight, bias, *pads, direct=direct)
        assert got.is_contiguous()
        ref = torch.nn.functional.conv1d(
            torch.nn.functional.pad(x.transpose(1, 2), pads), weight, bias, groups=5
        ).transpose(1, 2)
        torch.testing.assert_close(got, ref, rtol=1e-5, atol=1e-5)
        grads = torch.autograd.grad(got.square().sum(), (x, weight))
        ref_grads = torch.autograd.grad(ref.square().sum(), (x, weight))
        for g, r in zip(grads, ref_grads):
            torch.testing.assert_close(g, r, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("pads", [(3, 3), (6, 0), (0, 6), (0, 0), (2, 5)])
def test_depthwise_conv_time_backward_is_exact(pads):
    # The hand-written backward (two more convolutions) against numerical derivatives, for
    # every input that needs a gradient, with and without bias.
    torch.manual_seed(0)
    weight = torch.randn(4, 1, 7, dtype=torch.float64, requires_grad=True)
    x = torch.randn(2, 11, 4, dtype=torch.float64, requires_grad=True)
    bias = torch.randn(4, dtype=torch.float64, requires_grad=True)
    apply = depthwise._DepthwiseConvTime.apply
    assert torch.autograd.gradcheck(lambda x, w, b: apply(x, w, b, *pads), (x, weight, bias))
    assert torch.autograd.gradcheck(lambda x, w: apply(x, w, None, *pads), (x, weight))
    frozen = weight.detach()
    assert torch.autograd.gradcheck(lambda x: apply(x, frozen, None, *pads), (x,))
    fixed = x.detach()
    assert torch.autograd.gradcheck(lambda w: apply(fixed, w, None, *pads), (weight,))


def test_depthwise_conv_time_takes_the_fast_backward_when_training_on_cpu():
    weight = torch.randn(4, 1, 7, requires_grad=True)
    x = torch.randn(1, 20, 4)
    assert type(depthwise_conv_time(x, weight, None, 3, 3).grad_fn).__name__ == (
        "_DepthwiseConvTimeBackward"
    )
    with torch.no_grad():
        assert depthwise_conv_time(x, weight, None, 3, 3).grad_fn is None

    def backward_of(y):
        return type(y.grad_fn).__name__

    assert "_DepthwiseConvTime" not in backward_of(
        depthwise_conv_time(x.double(), weight.double(), None, 3, 3)
    ), "float32 only"
    with torch.autocast("cpu", dtype=torch.bfloat16):
        assert "_DepthwiseConvTime" not in backward_of(depthwise_conv_time(x, weight, None, 3, 3))
    # Where the Function cannot go, torch's backward is taken and these still work.
    conv = DepthwiseConv1d(4, 5)
    traced = torch.jit.trace(conv, x)
    torch.testing.assert_close(traced(x), conv(x))
    params = dict(conv.named_parameters())

    def loss(params, x):
        return torch.func.functional_call(conv, params, (x,)).square().sum()

    grads = torch.func.grad(loss)(params, x)
    conv(x).square().sum().backward()
    torch.testing.assert_close(grads["weight"], conv.weight.grad)


def test_chunk_causal_conv_gain_edges():
    conv = ChunkCausalDepthwiseConv1d(3, 5)
    with torch.no_grad():
        conv.chunkwise_scale.copy_(torch.arange(30.0).reshape(2, 3, 5))
    g = conv.chunk_gain(8)
    assert torch.equal(
        g[:, :5],
        1
        + conv.chunkwise_scale[0]
        + torch.cat([torch.zeros(3, 3), conv.chunkwise_scale[1, :, :2]], 1),
    )
    # Short chunks take slices instead of padding: the same values as the padded formula.
    scale = conv.chunkwise_scale.detach()
    for t in range(1, 8):
        left = torch.cat([scale[0], torch.zeros(3, t)], 1)[:, :t]
        right = torch.cat([torch.zeros(3, t), scale[1]], 1)[:, 5:]
        assert torch.equal(conv.chunk_gain(t), 1 + left + right), t
    with pytest.raises(ValueError, match="odd"):
        ChunkCausalDepthwiseConv1d(3, 4)


def test_streaming_chunk_gain_equals_the_padded_formula():
    """A streaming step slices the gain for chunks up to the kernel size instead of padding it."""
    conv = ChunkCausalDepthwiseConv1d(8, 15)
    with torch.no_grad():
        conv.chunkwise_scale.normal_()
    for frames in (1, 4, 15, 20):
        x = torch.randn(2, frames, 8)
        cache = torch.zeros(2, 7, 8)
        out, _ = conv(x, cache=cache)  # the first chunk: nothing before it
        expected, none = conv(x, chunk_frames=frames)
        assert none is None
        assert torch.allclose(out, expected, atol=1e-6), frames


@pytest.mark.parametrize("direct_max_work", [0, 512], ids=["convolution", "direct"])
@pytest.mark.parametrize("chunk", [2, 8, 16])
def test_chunk_causal_conv_streams_like_its_chunked_forward(direct_max_work, chunk):
    """Chunk by chunk with a cache (short chunks summing their taps directly, or not) equals
    the whole input convolved with chunk_frames=chunk."""
    torch.manual_seed(0)
    conv = ChunkCausalDepthwiseConv1d(6, 15)
    conv.direct_max_work = direct_max_work
    with torch.no_grad():
        conv.chunkwise_scale.normal_()
    x = torch.randn(2, 4 * chunk, 6)
    expected, _ = conv(x, chunk_frames=chunk)
    cache, outputs = torch.zeros(2, 7, 6), []
    for k in range(4):
        out, cache = conv(x[:, k * chunk : (k + 1) * chunk], cache=cache)
        outputs.append(out)
    assert torch.allclose(torch.cat(outputs, dim=1), expected, atol=1e-5)
    assert torch.equal(cache, x[:, -7:])  # the last K//2 input frames


def test_prefers_direct_only_for_short_cpu_inputs_below_the_threshold():
    x = torch.zeros(1, 4, 8)
    assert prefers_direct(x, 4, 31)
    assert not prefers_direct(x, 4, 31, max_work=0)
    assert not prefers_direct(x, 100, 31)


def test_depthwise_conv_time_gives_a_batch_of_one_channels_last_strides(monkeypatch):
    # A (T, 1, C) activation transposed to (1, T, C) is contiguous with a batch stride of C;
    # oneDNN did not read that as channels-last and ran the convolution 2.5-4x slower.
    frames, channels = 23, 6
    x = torch.randn(frames, 1, channels).transpose(0, 1)
    assert x.is_contiguous() and x.stride(0) == channels
    weight, bias = torch.randn(channels, 1, 5), torch.randn(channels)
    seen = []
    conv2d = depthwise.F.conv2d

    def spy(inputs, *args, **kwargs):  # type: ignore[no-untyped-def]
        seen.append(inputs.stride())
        return conv2d(inputs, *args, **kwargs)

    monkeypatch.setattr(depthwise.F, "conv2d", spy)
    got = depthwise_conv_time(x, weight, bias, 2, 2)
    assert seen == [(frames * channels, 1, frames * channels, channels)]
    want = torch.nn.functional.conv1d(x.transpose(1, 2), weight, bias, padding=2, groups=channels)
    torch.testing.assert_close(got, want.transpose(1, 2))
