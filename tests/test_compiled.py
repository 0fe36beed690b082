"""The compiled inference path: ``DecodeOptions(compile=True)`` and ``--compile`` of
``zipasr transcribe`` / ``decode``. Compiling for real (inductor) takes minutes on 2 cores,
so that check is marked slow; dynamo's tracing with an eager backend, which already sees
every guard that the input length would add, and the wiring run by default."""

from __future__ import annotations

import pytest
import soundfile
import torch
from torch._dynamo.testing import CompileCounter
from torch._dynamo.utils import counters

import zipasr
import zipasr.recognize as recognize
from zipasr import Zipformer
from zipasr.cli.main import main
from zipasr.recognize import DecodeOptions, decode_features
from zipasr.testing import random_features, tiny_config, tiny_recognizer

from .streaming.test_recognizer import audio

TOKENS = ["<blk>", "<sos/eos>", "<unk>"] + [f"\u2581W{i}" for i in range(30)]


def test_the_encoder_traces_once_for_every_input_length():
    # 300..316 feature frames give 50 Hz lengths 147..155: every remainder modulo the
    # largest downsampling (8), the case that a length-dependent padding specialised on.
    torch._dynamo.reset()
    counter = CompileCounter()
    encoder = Zipformer(tiny_config()).eval()
    compiled = torch.compile(encoder, backend=counter, dynamic=True)
    with torch.no_grad():
        x, lengths = random_features([300])
        compiled(x, lengths)
        first = counter.frame_count
        for n in range(302, 318, 2):
            x, lengths = random_features([n])
            out, out_lengths = compiled(x, lengths)
            expected, _ = encoder(x, lengths)
            torch.testing.assert_close(out, expected)
    assert counter.frame_count == first, "an input length compiled the encoder again"
    torch._dynamo.reset()


def test_compile_option_reaches_the_encoder_from_the_cli(tmp_path, capsys, monkeypatch):
    calls = []

    def fake_compiled(model, features, lengths, chunk_frames, left_context_frames):
        calls.append(features.shape)
        return model.encode(
            features, lengths, chunk_frames=chunk_frames, left_context_frames=left_context_frames
        )

    monkeypatch.setattr(recognize, "compiled_encode", lambda: fake_compiled)
    model_dir = zipasr.save(tiny_recognizer(TOKENS), tmp_path / "model")
    wav = tmp_path / "a.wav"
    soundfile.write(wav, audio(1.5, seed=2), 16000)
    assert main(["transcribe", str(model_dir), str(wav)]) == 0
    eager = capsys.readouterr().out
    assert calls == []
    assert main(["transcribe", str(model_dir), str(wav), "--compile"]) == 0
    captured = capsys.readouterr()
    assert captured.out == eager and len(calls) == 1
    assert "compiled on the first input" in captured.err


@pytest.mark.slow  # inductor compiles for minutes on 2 cores
def test_compiled_decoding_gives_the_eager_result():
    model = tiny_recognizer(TOKENS)
    gen = torch.Generator().manual_seed(0)
    features = [torch.randn(n, 80, generator=gen) for n in (300, 411, 352)]
    eager = decode_features(model, features, DecodeOptions())
    torch._dynamo.reset()
    counters.clear()
    compiled = decode_features(model, features, DecodeOptions(compile=True))
    assert [h.tokens for h in compiled] == [h.tokens for h in eager]
    assert all(h.tokens for h in eager), "the test model should say something"
    assert counters["stats"]["unique_graphs"] == 1, "one graph for the three lengths"
