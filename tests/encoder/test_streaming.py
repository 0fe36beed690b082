"""Chunk-by-chunk streaming: equal to the reference's streaming and to simulated streaming."""

from __future__ import annotations

import dataclasses

import pytest
import torch

import zipasr
from zipasr.encoder.state import EncoderState
from zipasr.testing import random_features, random_state_dict, tiny_config

from ..conftest import FIXTURES

TOLERANCE = 1e-4


def run_chunks(model, features, state, chunk):
    window = model.chunk_input_frames(chunk)
    outputs = []
    num_chunks = (features.shape[1] - window) // (2 * chunk) + 1
    with torch.no_grad():
        for k in range(num_chunks):
            out, state = model.forward_chunk(
                features[:, 2 * chunk * k : 2 * chunk * k + window], state
            )
            outputs.append(out)
    return outputs, state


@pytest.mark.parametrize("path", ["batched", "blockwise"])
def test_matches_reference_streaming(path, request):
    calls = request.getfixturevalue("blockwise_everywhere") if path == "blockwise" else None
    fx = torch.load(FIXTURES / "encoder" / "streaming_small.pt", weights_only=True)
    model = zipasr.load_icefall_encoder(random_state_dict(fx["shapes"])).eval()
    chunk, left = fx["chunk_frames"], fx["left_context_frames"]
    state = model.initial_state(fx["features"].shape[0], left)
    outputs, state = run_chunks(model, fx["features"], state, chunk)
    assert len(outputs) == len(fx["outputs"])
    for ours, ref in zip(outputs, fx["outputs"]):
        assert (ours - ref).abs().max() <= TOLERANCE
    flat = state.to_flat()
    assert len(flat) == len(fx["final_state"]) == 6 * 12 + 2
    for ours, ref in zip(flat, fx["final_state"]):
        assert ours.shape == ref.shape
        assert (ours.double() - ref.double()).abs().max() <= TOLERANCE
    if calls is not None:
        assert calls["attention"] > 0 and calls["convnext"] > 0


@pytest.fixture(scope="module")
def tiny_causal():
    torch.manual_seed(1)
    model = zipasr.Zipformer(tiny_config(causal=True)).eval()
    with torch.no_grad():
        for p in model.parameters():
            p.add_(torch.randn_like(p) * 0.05)  # move off the structured init values
    return model


@pytest.mark.parametrize("left", [64, 128, 256])
@pytest.mark.parametrize("chunk", [8, 16, 32])
def test_streaming_equals_simulated_streaming(tiny_causal, chunk, left):
    model = tiny_causal
    num_chunks = left // chunk + 2  # the cache fills up, and then slides
    frames = model.chunk_input_frames(chunk) + 2 * chunk * (num_chunks - 1)
    # 40 more frames: the offline front end then sees real look-ahead for every chunk.
    x, lengths = random_features([frames + 40] * 2)
    with torch.no_grad():
        offline, _ = model(x, lengths, chunk_frames=chunk, left_context_frames=left)
    outputs, state = run_chunks(model, x[:, :frames], model.initial_state(2, left), chunk)
    streamed = torch.cat(outputs, dim=1)
    assert streamed.shape[1] == num_chunks * chunk // 2
    assert (streamed - offline[:, : streamed.shape[1]]).abs().max() <= TOLERANCE
    assert state.processed_frames.tolist() == [num_chunks * chunk] * 2


def test_state_stack_and_select_round_trip():
    model = zipasr.Zipformer(tiny_config(causal=True)).eval()
    x, _ = random_features([model.chunk_input_frames(16) + 32] * 3)
    _, state = run_chunks(model, x, model.initial_state(3, 32), 16)
    parts = [state.select(i) for i in range(3)]
    assert all(p.batch_size == 1 for p in parts)
    rebuilt = EncoderState.stack(parts)
    for a, b in zip(rebuilt.to_flat(), state.to_flat()):
        assert torch.equal(a, b)
    again = EncoderState.from_flat(state.to_flat())
    for a, b in zip(again.to_flat(), state.to_flat()):
        assert torch.equal(a, b)
    # A stream runs the same alone as in a batch.
    window = x[:, : model.chunk_input_frames(16)]
    with torch.no_grad():
        batched, _ = model.forward_chunk(window, state)
        alone, _ = model.forward_chunk(window[1:2], state.select(1))
    assert torch.allclose(batched[1:2], alone, atol=1e-5)


def test_layer_state_tensors_are_its_fields_in_order():
    layer = zipasr.Zipformer(tiny_config(causal=True)).initial_state(1, 32).layers[0]
    names = [f.name for f in dataclasses.fields(layer)]
    assert all(t is getattr(layer, n) for t, n in zip(layer.tensors(), names, strict=True))


def test_streaming_errors():
    causal = zipasr.Zipformer(tiny_config(causal=True)).eval()
    state = causal.initial_state(1, 32)
    with pytest.raises(ValueError, match="2 \\* chunk \\+ 13"):
        causal.forward_chunk(torch.zeros(1, 40, 80), state)
    with pytest.raises(ValueError, match="holds 1 streams"):
        causal.forward_chunk(torch.zeros(2, 45, 80), state)
    with pytest.raises(ValueError, match="positive multiple"):
        causal.initial_state(1, 12)
    offline = zipasr.Zipformer(tiny_config()).eval()
    with pytest.raises(ValueError, match="causal model"):
        offline.forward_chunk(torch.zeros(1, 45, 80), state)


def test_streams_at_different_positions_batch_like_single_streams(tiny_causal):
    """A fresh stream and one four chunks in share a batch; each gets its own result."""
    model, chunk, left = tiny_causal, 16, 64
    window = model.chunk_input_frames(chunk)
    x, _ = random_features([window + 2 * chunk * 3] * 2, seed=7)
    _, ahead = run_chunks(model, x[:1], model.initial_state(1, left), chunk)
    fresh = model.initial_state(1, left)
    batch = EncoderState.stack([ahead, fresh])
    step = torch.cat((x[:1, :window], x[1:, :window]))
    with torch.no_grad():
        together, state = model.forward_chunk(step, batch)
        alone0, state0 = model.forward_chunk(step[:1], ahead)
        alone1, state1 = model.forward_chunk(step[1:], fresh)
    assert (together[:1] - alone0).abs().max() <= 1e-5
    assert (together[1:] - alone1).abs().max() <= 1e-5
    assert state.processed_frames.tolist() == [5 * chunk, chunk]
    for a, b in zip(state.select(1).to_flat(), state1.to_flat()):
        assert (a.double() - b.double()).abs().max() <= 1e-5
