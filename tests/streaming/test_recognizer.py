"""Streaming recognition from raw audio pieces equals offline decoding with the same chunking."""

from __future__ import annotations

import numpy as np
import pytest
import torch

import zipasr
from zipasr.audio import FbankOptions, online_fbank
from zipasr.decoding import Hypothesis, greedy_search, modified_beam_search
from zipasr.streaming import EndpointRule, StreamingConfig, StreamingRecognizer
from zipasr.testing import FBANK_PAD_VALUE, tiny_config

VOCAB = 40
TOKENS = ["<blk>", "<sos/eos>", "<unk>"] + [f"\u2581w{i}" for i in range(VOCAB - 3)]


def make_model(seed: int) -> zipasr.AsrModel:
    """A tiny causal transducer whose weights are spread out so that it says something."""
    torch.manual_seed(seed)
    config = zipasr.AsrModelConfig(
        tiny_config(causal=True), vocab_size=VOCAB, transducer=zipasr.TransducerConfig(16, 24, 2)
    )
    model = zipasr.AsrModel(config, tokens=TOKENS).eval()
    with torch.no_grad():
        for p in model.parameters():
            p.add_(torch.randn_like(p) * 0.1)
        model.transducer.joiner.output_linear.bias[0] -= 1.0  # emit often: a stricter test
    return model


@pytest.fixture(scope="module")
def model():
    return make_model(0)


def audio(seconds: float, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    t = np.arange(int(seconds * 16000)) / 16000
    tone = np.sin(2 * np.pi * (200 + 300 * t) * t) * (0.5 + 0.5 * np.sin(2 * np.pi * 1.3 * t))
    return (0.3 * tone + 0.05 * rng.standard_normal(t.shape)).astype(np.float32)


def offline_tokens(model, samples, chunk, left, method):
    """Offline decoding of the causal model with the same chunking, on features padded at the
    end the way a finished stream pads them."""
    fbank = online_fbank(FbankOptions())
    fbank.accept_waveform(16000, samples)
    fbank.input_finished()
    frames = np.stack([fbank.get_frame(i) for i in range(fbank.num_frames_ready)])
    real_out = ((len(frames) - 7) // 2 + 1) // 2
    padded_len = len(frames) + 2 * chunk + 13 + 4 * chunk
    feats = torch.full((1, padded_len, 80), FBANK_PAD_VALUE)
    feats[0, : len(frames)] = torch.from_numpy(frames)
    with torch.no_grad():
        enc, _ = model.encode(
            feats, torch.tensor([padded_len]), chunk_frames=chunk, left_context_frames=left
        )
    decode = greedy_search if method == "greedy_search" else modified_beam_search
    return decode(model, enc, torch.tensor([real_out]))[0]


@pytest.mark.parametrize("method", ["greedy_search", "modified_beam_search"])
@pytest.mark.parametrize("chunk,left", [(16, 64), (32, 128)])
def test_streaming_equals_offline_with_same_chunking(model, method, chunk, left):
    samples = audio(2.37, seed=1)
    recognizer = StreamingRecognizer(model, StreamingConfig(chunk, left, method, beam=4))
    stream = recognizer.create_stream()
    for start in range(0, len(samples), 1234):  # pieces that don't align with anything
        stream.accept_waveform(samples[start : start + 1234])
        recognizer.step([stream])
    stream.input_finished()
    while recognizer.step([stream]):
        pass
    expected = offline_tokens(model, samples, chunk, left, method)
    assert len(expected.tokens) >= 3, "the test model should say something"
    assert stream.result.tokens == expected.tokens
    assert stream.result.frames == expected.frames
    assert recognizer.text(stream) == expected.text
    assert stream.output_frames == stream.total_output_frames


def stream_together(recognizer, clips) -> list[list[int]]:
    """Whole clips as one batch of streams, stepped to the end; the tokens of each."""
    streams = [recognizer.create_stream() for _ in clips]
    for s, clip in zip(streams, clips):
        s.accept_waveform(clip)
        s.input_finished()
    while recognizer.step(streams):
        pass
    return [s.result.tokens for s in streams]


def test_streams_of_different_lengths_batch_like_single_streams(model):
    recognizer = StreamingRecognizer(model, StreamingConfig(16, 64))
    clips = [audio(1.1, seed=2), audio(2.9, seed=3), audio(0.4, seed=4)]
    alone = [stream_together(recognizer, [clip])[0] for clip in clips]
    assert stream_together(recognizer, clips) == alone


def test_stream_errors_and_endpoint(model):
    rules = (EndpointRule(True, 0.2, 0.0),)
    recognizer = StreamingRecognizer(model, StreamingConfig(16, 64, endpoint_rules=rules))
    s = recognizer.create_stream()
    with pytest.raises(ValueError, match="16000 Hz"):
        s.accept_waveform(np.zeros(100, np.float32), sample_rate=8000)
    with pytest.raises(ValueError, match="1-D"):
        s.accept_waveform(np.zeros((2, 100), np.float32))
    s.accept_waveform(audio(1.0, 5))
    s.input_finished()
    while recognizer.step([s]):
        pass
    with pytest.raises(ValueError, match="after input_finished"):
        s.accept_waveform(np.zeros(10, np.float32))
    s.search = Hypothesis(tokens=[5], frames=[2])
    s.output_frames = 4  # 1 frame (40 ms) since the last token
    assert not recognizer.is_endpoint(s)
    s.output_frames = 8  # 5 frames (200 ms)
    assert recognizer.is_endpoint(s)
    s.search = Hypothesis()  # nothing said yet: never an endpoint by this rule
    assert not recognizer.is_endpoint(s)
    with pytest.raises(ValueError, match="method="):
        StreamingRecognizer(model, StreamingConfig(method="viterbi"))


def test_sherpa_onnx_endpoint_rules():
    recognizer = StreamingRecognizer.__new__(StreamingRecognizer)
    recognizer.config = StreamingConfig()  # the three default rules

    class Fake:
        def __init__(self, said, silence, length):
            self.result = Hypothesis(tokens=[5] if said else [])
            self.trailing_silence_s = lambda: silence
            self.segment_s = lambda: length

    assert not recognizer.is_endpoint(Fake(False, 2.3, 5.0))
    assert recognizer.is_endpoint(Fake(False, 2.4, 5.0))  # rule 1: silence, nothing said
    assert not recognizer.is_endpoint(Fake(True, 1.1, 5.0))
    assert recognizer.is_endpoint(Fake(True, 1.2, 5.0))  # rule 2: silence after speech
    assert recognizer.is_endpoint(Fake(True, 0.0, 20.0))  # rule 3: a long segment
    recognizer.config = StreamingConfig(endpoint_rules=())
    assert not recognizer.is_endpoint(Fake(True, 30.0, 30.0))


@pytest.mark.parametrize(
    "method",
    ["greedy_search", "modified_beam_search", "ctc_greedy_search", "ctc_prefix_beam_search"],
)
def test_reset_keeps_the_tokens_a_never_reset_stream_gets(request, method):
    model = request.getfixturevalue("ctc_model" if method.startswith("ctc") else "model")
    clip = audio(3.0, seed=8)
    config = StreamingConfig(16, 64, method=method, endpoint_rules=())
    recognizer = StreamingRecognizer(model, config)
    plain, reset = recognizer.create_stream(), recognizer.create_stream()
    segments = []
    for k, start in enumerate(range(0, len(clip), 3200)):
        for s in (plain, reset):
            s.accept_waveform(clip[start : start + 3200])
        while recognizer.step([plain, reset]):
            pass
        if k in (4, 9):  # reset twice, mid-speech
            if "beam" in method:  # a reset fixes the best path so far
                recognizer.reset(plain)
                plain.segment_token = 0
            segments.append(reset.result.tokens)
            recognizer.reset(reset)
            assert reset.result.tokens == []
    for s in (plain, reset):
        s.input_finished()
    while recognizer.step([plain, reset]):
        pass
    segments.append(reset.result.tokens)
    assert all(segments), "each segment should have tokens"
    assert sum(segments, []) == plain.result.tokens
    assert reset.segments == 2


@pytest.mark.slow  # compiling takes a few minutes on 2 cores
def test_compiled_streaming_gives_the_eager_result(model):
    # torch.compile of the chunk step (StreamingConfig.compile): the same tokens as the eager
    # step, for one stream and then for a batch of streams (a new batch size recompiles).
    clips = [audio(1.5, seed=6), audio(2.2, seed=7)]
    results = {}
    for compiled in (False, True):
        recognizer = StreamingRecognizer(model, StreamingConfig(16, 64, compile=compiled))
        results[compiled] = stream_together(recognizer, clips[:1]) + stream_together(
            recognizer, clips
        )
    assert len(results[False][0]) >= 3, "the test model should say something"
    assert results[True] == results[False]


@pytest.fixture(scope="module")
def ctc_model():
    torch.manual_seed(1)
    config = zipasr.AsrModelConfig(
        tiny_config(causal=True), vocab_size=VOCAB, transducer=None, ctc=True
    )
    model = zipasr.AsrModel(config, tokens=TOKENS).eval()
    with torch.no_grad():
        for p in model.parameters():  # larger than the transducer's: labels that change
            p.add_(torch.randn_like(p) * 0.5)
    return model


@pytest.mark.parametrize("method", ["ctc_greedy_search", "ctc_prefix_beam_search"])
def test_ctc_only_model_streams_as_simulated_streaming(ctc_model, method, monkeypatch):
    from zipasr.decoding import SearchOptions, search
    from zipasr.encoder import embed
    from zipasr.nn import activations

    # This model's labels flip at the last bit (weights 0.5 off their initialisation): both
    # sides compute Swoosh and the front end's ConvNeXt the same way (the whole utterance
    # would take the exp/log form and the blockwise ConvNeXt, this small model's chunks
    # torch's softplus and the batched one, a few ulps apart).
    monkeypatch.setattr(activations, "EXP_FORM_MIN_NUMEL", 1 << 62)
    monkeypatch.setattr(embed, "BLOCKWISE_MIN_NUMEL", 1 << 62)

    chunk, left = 16, 64
    samples = audio(2.1, seed=9)
    recognizer = StreamingRecognizer(ctc_model, StreamingConfig(chunk, left, method, beam=4))
    stream = recognizer.create_stream()
    for start in range(0, len(samples), 1600):
        stream.accept_waveform(samples[start : start + 1600])
        recognizer.step([stream])
    stream.input_finished()
    while recognizer.step([stream]):
        pass
    # Simulated streaming: the whole (end-padded) utterance under the chunked mask.
    fbank = online_fbank(FbankOptions())
    fbank.accept_waveform(16000, samples)
    fbank.input_finished()
    frames = np.stack([fbank.get_frame(i) for i in range(fbank.num_frames_ready)])
    real_out = ((len(frames) - 7) // 2 + 1) // 2
    padded_len = len(frames) + 6 * chunk + 13
    feats = torch.full((1, padded_len, 80), FBANK_PAD_VALUE)
    feats[0, : len(frames)] = torch.from_numpy(frames)
    with torch.no_grad():
        enc, _ = ctc_model.encode(
            feats, torch.tensor([padded_len]), chunk_frames=chunk, left_context_frames=left
        )
    expected = search(ctc_model, enc, torch.tensor([real_out]), SearchOptions(method, beam=4))[0]
    assert len(expected.tokens) >= 3, "the test model should say something"
    assert stream.result.tokens == expected.tokens
    assert stream.result.frames == expected.frames
