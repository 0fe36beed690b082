"""The decoding features from the command line: zipasr train-lm, transcribe with an LM and
hotwords, and transcribe --json with word times and confidences. Apart from tests/decoding,
which runs in the core-only CI job: these need the data extra (audio files)."""

from __future__ import annotations

import json

import pytest
import soundfile

import zipasr
from zipasr.cli.main import main
from zipasr.decoding import NgramLm
from zipasr.recognize import train_lm
from zipasr.testing import tiny_recognizer

from .streaming.test_recognizer import audio

RESULT_TOKENS = (
    ["<blk>", "<sos/eos>", "<unk>"] + [f"\u2581W{i}" for i in range(30)] + list("ABCDEFG")
)


def test_train_lm_and_decode_with_it_from_the_cli(tmp_path, capsys):
    # Upper-case pieces: the text is normalised with the model's normaliser (English) first.
    tokens = ["<blk>", "<sos/eos>", "<unk>"] + [f"\u2581W{i}" for i in range(37)]
    model_dir = zipasr.save(tiny_recognizer(tokens), tmp_path / "model")
    text = tmp_path / "text.txt"
    text.write_text("w1 w2 w3\nw2 w3\n\nw3 w1 w2 w4\n")
    out = tmp_path / "lm.arpa"
    assert main(["train-lm", str(model_dir), str(text), "--order", "2", "--out", str(out)]) == 0
    assert "2-gram over 3 sentences (9 tokens)" in capsys.readouterr().out
    assert main(["train-lm", str(model_dir), str(text), "--out", str(tmp_path)]) == 1
    assert "is a folder" in capsys.readouterr().err
    with pytest.raises(TypeError, match="list of strings"):
        train_lm(model_dir, "w1 w2", tmp_path / "x.arpa")
    lm = NgramLm(out, tokens)
    w = {f"w{i}": 3 + i for i in range(37)}
    after = lm.advance(lm.initial_state(), w["w2"])
    assert lm.score([after])[0, w["w3"]] > lm.score([after])[0, w["w1"]]  # w2 w3 was seen
    hot = tmp_path / "hot.txt"
    hot.write_text("w5 w6 :2.0\nw7\n")
    wav = tmp_path / "a.wav"
    soundfile.write(wav, audio(1.0, seed=3), 16000)
    common = [str(model_dir), str(wav), "--method", "modified_beam_search"]
    assert main(["transcribe", *common, "--lm", str(out), "--hotwords", str(hot)]) == 0
    assert main(["transcribe", *common, "--lodr", str(out)]) == 1
    assert "give --lm as well" in capsys.readouterr().err
    assert main(["transcribe", str(model_dir), str(wav), "--lm", str(out)]) == 1
    assert "--lm needs --method" in capsys.readouterr().err


def test_transcribe_json_prints_word_times_and_confidences(tmp_path, capsys):
    model_dir = zipasr.save(tiny_recognizer(RESULT_TOKENS), tmp_path / "model")
    wav = tmp_path / "a.wav"
    soundfile.write(wav, audio(1.5, seed=2), 16000)
    assert main(["transcribe", str(model_dir), str(wav), "--json"]) == 0
    record = json.loads(capsys.readouterr().out)
    words = [w for s in record["segments"] for w in s["words"]]
    assert words, "the test model should say something"
    for w in words:
        assert 0 < w["confidence"] <= 1 and w["start"] <= w["end"]
