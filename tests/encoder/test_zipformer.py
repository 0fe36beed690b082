"""Behaviour of the public encoder: shapes, determinism, strip-invariance, causality, errors."""

from __future__ import annotations

import copy

import pytest
import torch

import zipasr
from zipasr.encoder.zipformer import check_lengths
from zipasr.frontend import encoder_frames
from zipasr.regularizers import Identity, TrainingOnly, strip_training_modules
from zipasr.testing import random_features, tiny_config


@pytest.fixture(params=[False, True], ids=["offline", "causal"])
def model(request):
    return zipasr.Zipformer(tiny_config(causal=request.param)).eval()


@pytest.mark.parametrize("frames", [9, 10, 13, 14, 100, 101, 257])
def test_output_lengths_follow_the_subsampling(frames):
    model = zipasr.Zipformer(tiny_config()).eval()
    x, lengths = random_features([frames, 9])
    with torch.no_grad():
        out, out_lengths = model(x, lengths)
    expected = ((frames - 7) // 2 + 1) // 2
    assert out.shape == (2, expected, model.output_dim)
    assert out_lengths.tolist() == [expected, 1]
    assert encoder_frames(frames) == expected


def test_eval_is_deterministic(model):
    x, lengths = random_features([150, 120, 97])
    with torch.no_grad():
        a, _ = model(x, lengths)
        b, _ = model(x, lengths)
    assert torch.equal(a, b)


def test_stripping_training_modules_changes_no_eval_output(model):
    x, lengths = random_features([150, 120, 97])
    stripped = strip_training_modules(copy.deepcopy(model))
    assert not any(isinstance(m, TrainingOnly) for m in stripped.modules())
    assert sum(isinstance(m, Identity) for m in stripped.modules()) > 50
    assert stripped.state_dict().keys() == model.state_dict().keys()
    kwargs = {"chunk_frames": 16, "left_context_frames": 32} if model.config.causal else {}
    with torch.no_grad():
        a, _ = model(x, lengths, **kwargs)
        b, _ = stripped(x, lengths, **kwargs)
    assert torch.equal(a, b)


def test_training_mode_is_stochastic_and_trains():
    model = zipasr.Zipformer(tiny_config()).train()
    x, lengths = random_features([150, 120, 97])
    a, _ = model(x, lengths)
    b, _ = model(x, lengths)
    assert not torch.allclose(a, b), "dropout / layer skip should act while training"
    model.clock.ref_batches = 50_000.0  # past every warm-up: positional scores always used
    c, _ = model(x, lengths)
    c.square().mean().backward()
    grads = [p.grad for p in model.parameters()]
    assert all(g is not None and torch.isfinite(g).all() for g in grads)


def test_padding_does_not_change_valid_frames_of_lone_utterance_when_not_padded(model):
    x, lengths = random_features([150, 120])
    with torch.no_grad():
        batch, _ = model(x, lengths)
        alone, _ = model(x[:1], lengths[:1])
    assert torch.allclose(batch[0], alone[0], atol=1e-5)


def test_chunked_attention_is_causal():
    """With chunks of 16 frames (50 Hz), the outputs of chunk c do not depend on features past
    the chunk's end plus the front end's look-ahead (2 * (16c + 15) + 14 feature frames)."""
    model = zipasr.Zipformer(tiny_config(causal=True)).eval()
    x, lengths = random_features([300])
    c = 3
    last_input = 2 * (16 * c + 15) + 14
    y = x.clone()
    y[:, last_input + 1 :] += torch.randn_like(y[:, last_input + 1 :])
    with torch.no_grad():
        a, _ = model(x, lengths, chunk_frames=16, left_context_frames=32)
        b, _ = model(y, lengths, chunk_frames=16, left_context_frames=32)
        full_a, _ = model(x, lengths)
        full_b, _ = model(y, lengths)
    visible = 8 * (c + 1)  # 25 Hz output frames of chunks 0..c
    assert torch.equal(a[:, :visible], b[:, :visible])
    assert not torch.equal(a[:, visible:], b[:, visible:])
    assert not torch.equal(full_a[:, :visible], full_b[:, :visible]), "full context sees ahead"


def test_left_context_limits_what_a_chunk_sees():
    model = zipasr.Zipformer(tiny_config(causal=True)).eval()
    x, lengths = random_features([400])
    y = x.clone()
    y[:, :20] += 1.0  # only the first 50 Hz frames change
    with torch.no_grad():
        a, _ = model(x, lengths, chunk_frames=16, left_context_frames=32)
        b, _ = model(y, lengths, chunk_frames=16, left_context_frames=32)
        c_, _ = model(x, lengths, chunk_frames=16)
        d, _ = model(y, lengths, chunk_frames=16)
    # Far chunks still differ through the convolutions' and stacks' receptive fields only when
    # the left context is unlimited; the limited model's last chunk sees a bounded past.
    assert (c_[:, -8:] - d[:, -8:]).abs().max() > (a[:, -8:] - b[:, -8:]).abs().max()


@pytest.mark.parametrize(
    "features,lengths,match",
    [
        (torch.zeros(2, 50, 40), torch.tensor([50, 50]), "shape"),
        (torch.zeros(2, 8, 80), torch.tensor([8, 8]), "at least 9"),
        (torch.zeros(2, 50, 80, dtype=torch.int64), torch.tensor([50, 50]), "float"),
        (torch.zeros(2, 50, 80), torch.tensor([50.0, 50.0]), "integer"),
        (torch.zeros(2, 50, 80), torch.tensor([50]), "lengths must have shape"),
        (torch.zeros(50, 80), torch.tensor([50]), "shape"),
    ],
)
def test_bad_input_raises_value_error(features, lengths, match):
    model = zipasr.Zipformer(tiny_config())
    with pytest.raises(ValueError, match=match):
        model(features, lengths)


@pytest.mark.parametrize(
    "lengths,match", [([51, 50], "exceed"), ([50, 5], "shorter than 9"), ([50, 8], "shorter")]
)
def test_check_lengths_rejects_lengths_outside_the_valid_range(lengths, match):
    with pytest.raises(ValueError, match=match):
        check_lengths(torch.tensor(lengths), 50)
    check_lengths(torch.tensor([50, 9]), 50)  # both ends of the range are valid


def test_forward_reads_no_length_values():
    """Value checks are check_lengths' job: forward's own checks read only shapes and dtypes,
    so it never waits for the device (it runs on a meta-device batch, which has no values)."""
    model = zipasr.Zipformer(tiny_config()).eval().to("meta")
    out, lengths = model(
        torch.zeros(2, 50, 80, device="meta"), torch.zeros(2, dtype=torch.int64, device="meta")
    )
    assert out.shape == (2, 11, model.output_dim) and lengths.shape == (2,)


@pytest.mark.parametrize(
    "causal,chunk,left,match",
    [
        (True, 12, None, "multiple of every stack's downsampling"),
        (True, 0, None, "positive multiple"),
        (False, 16, 64, "causal model"),
        (True, None, 64, "needs chunk_frames"),
        (True, 16, -5, ">= 0"),
    ],
)
def test_bad_chunking_raises_value_error(causal, chunk, left, match):
    model = zipasr.Zipformer(tiny_config(causal=causal))
    x, lengths = random_features([100])
    with pytest.raises(ValueError, match=match):
        model(x, lengths, chunk_frames=chunk, left_context_frames=left)


def test_left_context_must_cover_the_convolutions():
    config = zipasr.ZipformerConfig.medium(causal=True)
    config.check_chunking(16, 64)
    with pytest.raises(ValueError, match="fewer past frames"):
        config.check_chunking(8, 0)  # stack 1 needs 15 * 2 = 30 past frames


def test_config_validation_names_the_field():
    with pytest.raises(ValueError, match="dims has 5 entries"):
        zipasr.ZipformerConfig(dims=(192, 256, 384, 512, 384))
    with pytest.raises(ValueError, match="odd"):
        zipasr.ZipformerConfig(conv_kernels=(31, 31, 16, 15, 15, 31))
    assert zipasr.ZipformerConfig(num_heads=4).num_heads == (4,) * 6


@pytest.mark.parametrize("training", [False, True], ids=["eval", "train"])
def test_the_front_end_runs_channels_last(training):
    # Channels-last, its training step took about 1.0 s instead of 1.36 s (Zipformer-M, 8 x
    # 10 s, 2 threads); contiguous(memory_format=channels_last) on the one-channel input had
    # left its strides channels-first, and the convolutions follow the strides.
    model = zipasr.Zipformer(tiny_config()).train(training)
    seen = []
    model.embed.convnext.depthwise.register_forward_hook(
        lambda module, inputs, output: seen.append(inputs[0])
    )
    x, lengths = random_features([120, 100])
    with torch.set_grad_enabled(training):
        model(x, lengths)
    (h,) = seen
    assert h.shape[1] > 1 and h.is_contiguous(memory_format=torch.channels_last)


def test_the_first_convolution_reads_channels_last_strides_in_eager_cpu_inference():
    # oneDNN ran it 2.5-11x faster so (that convolution alone, 8 x 10 s: 16.6 -> 1.5 ms);
    # with gradients (training was slower that way) and under torch.jit.trace (as under
    # export and compile) its input strides stay channels-first. Features with a non-unit
    # frequency stride are made contiguous first.
    model = zipasr.Zipformer(tiny_config())
    strides = []
    model.embed.conv1.register_forward_pre_hook(
        lambda m, inputs: strides.append(inputs[0].stride())
    )
    x, lengths = random_features([120, 100])
    model(x, lengths)  # training
    model.eval()
    with torch.no_grad():
        model(x.transpose(1, 2).contiguous().transpose(1, 2), lengths)
        eager, _ = model(x, lengths)
        traced = torch.jit.trace(model, (x, lengths), check_trace=False)
    frames = x.shape[1] * 80
    channels_first, channels_last = (frames, frames, 80, 1), (frames, 1, 80, 1)
    assert strides == [channels_first, channels_last, channels_last, channels_first]
    torch.testing.assert_close(traced(x, lengths)[0], eager, atol=1e-5, rtol=1e-5)
