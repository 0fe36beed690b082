"""The compiled inference path: ``DecodeOptions(compile=True)`` and ``--compile`` of
``zipasr transcribe`` / ``decode``. Compiling for real (inductor) takes minutes on 2 cores,
so that check is marked slow; by default the encoder is traced by dynamo with a counting
backend, which sees the guards that dynamo itself adds for the input length (inductor adds
two length ranges of its own: see ``DecodeOptions.compile``), and the wiring is checked."""

from __future__ import annotations

import json
import shutil

import pytest
import soundfile
import torch
import torch._dynamo.exc
from torch._dynamo.testing import CompileCounter
from torch._dynamo.utils import counters

import zipasr
import zipasr.recognize as recognize
from zipasr import Zipformer
from zipasr.cli.main import main
from zipasr.recognize import DecodeOptions, decode_features, encode_features
from zipasr.streaming.bf16 import Bf16Linear
from zipasr.testing import random_features, tiny_config, tiny_recognizer

from .streaming.test_recognizer import audio

TOKENS = ["<blk>", "<sos/eos>", "<unk>"] + [f"\u2581W{i}" for i in range(30)]


@pytest.fixture
def fresh_dynamo():
    torch._dynamo.reset()
    recognize._compiled_encoder.cache_clear()
    yield
    torch._dynamo.reset()
    recognize._compiled_encoder.cache_clear()


def test_the_encoder_traces_once_for_every_input_length(fresh_dynamo):
    # 300..316 feature frames give 50 Hz lengths 146..154: every remainder modulo the
    # largest downsampling (8), the case that a length-dependent padding specialised on.
    counter = CompileCounter()
    encoder = Zipformer(tiny_config()).eval()
    compiled = torch.compile(encoder, backend=counter, dynamic=True)
    with torch.no_grad():
        x, lengths = random_features([300])
        compiled(x, lengths)
        first = counter.frame_count
        for n in range(302, 318, 2):
            x, lengths = random_features([n])
            out, _ = compiled(x, lengths)
            expected, _ = encoder(x, lengths)
            torch.testing.assert_close(out, expected)
    assert counter.frame_count == first, "an input length compiled the encoder again"


def test_compiled_encode_features_one_graph_per_batch_size(fresh_dynamo, monkeypatch):
    counter = CompileCounter()
    monkeypatch.setattr(recognize, "_COMPILE_BACKEND", counter)
    model = tiny_recognizer(TOKENS)
    options = DecodeOptions(compile=True)
    for n in (300, 333, 301):
        x, lengths = random_features([n])
        out, out_lengths = encode_features(model, x, options, lengths)
        expected, expected_lengths = encode_features(model, x, DecodeOptions(), lengths)
        torch.testing.assert_close(out, expected)
        assert torch.equal(out_lengths, expected_lengths)
    assert counter.frame_count == 1
    assert not hasattr(x, "_dynamo_static_indices"), "the caller's tensor was marked"
    x, lengths = random_features([320, 300])
    encode_features(model, x, options, lengths)
    assert counter.frame_count == 2, "a new batch size is a graph of its own"
    out, out_lengths = encode_features(model, x, options)  # lengths None: all T frames
    assert out_lengths.tolist() == [out.shape[1]] * 2
    with pytest.raises(ValueError, match="exceed"):
        encode_features(model, x, options, torch.tensor([321, 300]))


def test_decoding_checks_lengths_once(monkeypatch):
    # pad_features checks the batch's lengths (a device sync); the encoder step must not
    # check them again for every utterance, while encode_features, called alone, does.
    model = tiny_recognizer(TOKENS)
    features = [torch.randn(n, 80) for n in (120, 95)]
    expected = decode_features(model, features)

    def second_check(*args):
        raise AssertionError("lengths checked again")

    monkeypatch.setattr(recognize, "check_lengths", second_check)
    assert [h.tokens for h in decode_features(model, features)] == [h.tokens for h in expected]
    with pytest.raises(AssertionError, match="checked again"):
        encode_features(model, features[0][None], DecodeOptions())


@pytest.mark.parametrize("command", ["transcribe", "streaming", "decode"])
def test_compile_option_reaches_the_encoder_from_the_cli(command, tmp_path, capsys, monkeypatch):
    calls = []

    def fake_compiled(model, features, lengths, chunk_frames, left_context_frames):
        calls.append(features.shape)
        return model.encode(
            features, lengths, chunk_frames=chunk_frames, left_context_frames=left_context_frames
        )

    def fake_torch_compile(fn, **kwargs):  # the streaming chunk step's compile
        def step(*args):  # (model, features, state) on a CPU: the frozen step of each model
            calls.append(next(a for a in args if isinstance(a, torch.Tensor)).shape)
            return fn(*args)

        return step

    monkeypatch.setattr(recognize, "_compiled_encoder", lambda: fake_compiled)
    monkeypatch.setattr(torch, "compile", fake_torch_compile)
    model_dir = zipasr.save(tiny_recognizer(TOKENS), tmp_path / "model")
    wav = tmp_path / "a.wav"
    soundfile.write(wav, audio(1.5, seed=2), 16000)
    if command == "decode":
        manifest = tmp_path / "m.jsonl"
        manifest.write_text(json.dumps({"audio": str(wav), "text": "w1", "id": "u"}) + "\n")
        argv = ["decode", str(model_dir), str(manifest), "--out", str(tmp_path / "out")]
    else:
        argv = ["transcribe", str(model_dir), str(wav)]
        argv += ["--streaming"] if command == "streaming" else []
    assert main(argv) == 0
    eager = capsys.readouterr().out
    assert calls == []
    assert main([*argv, "--compile"]) == 0
    captured = capsys.readouterr()
    assert captured.out == eager and calls
    assert "compiles on the first input" in captured.err


def test_bf16_option_reaches_the_streaming_step_from_the_cli(tmp_path, capsys, monkeypatch):
    compiles = []

    def fake_torch_compile(fn, **kwargs):
        def step(model, features, state):
            compiles.append(
                (kwargs["options"], any(isinstance(m, Bf16Linear) for m in model.modules()))
            )
            return fn(model, features, state)

        return step

    monkeypatch.setattr(torch, "compile", fake_torch_compile)
    model_dir = zipasr.save(tiny_recognizer(TOKENS), tmp_path / "model")
    wav = tmp_path / "a.wav"
    soundfile.write(wav, audio(1.5, seed=2), 16000)
    argv = ["transcribe", str(model_dir), str(wav), "--streaming"]
    assert main([*argv, "--bf16"]) == 1
    assert "--bf16 is for the compiled streaming step" in capsys.readouterr().err
    assert main([*argv[:3], "--compile", "--bf16"]) == 1
    assert "--bf16 is for the compiled streaming step" in capsys.readouterr().err
    assert compiles == []
    assert main([*argv, "--compile", "--bf16"]) == 0
    assert "timing its kernels" in capsys.readouterr().err
    assert compiles and all(options["max_autotune"] and low for options, low in compiles)


def test_a_failed_compile_is_a_clear_cli_error(tmp_path, capsys, monkeypatch):
    def failing(*args):
        raise torch._dynamo.exc.TorchDynamoException("no C++ compiler found")

    monkeypatch.setattr(recognize, "_compiled_encoder", lambda: failing)
    model_dir = zipasr.save(tiny_recognizer(TOKENS), tmp_path / "model")
    wav = tmp_path / "a.wav"
    soundfile.write(wav, audio(1.0, seed=2), 16000)
    assert main(["transcribe", str(model_dir), str(wav), "--compile"]) == 1
    err = capsys.readouterr().err
    assert "--compile: torch.compile failed (no C++ compiler found)" in err
    assert "Drop --compile" in err


@pytest.mark.slow  # inductor compiles for minutes on 2 cores
@pytest.mark.skipif(shutil.which("c++") is None, reason="inductor needs a C++ compiler on CPU")
def test_compiled_decoding_gives_the_eager_result(fresh_dynamo):
    model = tiny_recognizer(TOKENS)
    gen = torch.Generator().manual_seed(0)
    features = [torch.randn(n, 80, generator=gen) for n in (300, 411, 352)]
    eager = decode_features(model, features, DecodeOptions())
    counters.clear()
    compiled = decode_features(model, features, DecodeOptions(compile=True))
    assert [h.tokens for h in compiled] == [h.tokens for h in eager]
    assert all(h.tokens for h in eager), "the test model should say something"
    assert counters["stats"]["unique_graphs"] == 1, "one graph for the three lengths"
