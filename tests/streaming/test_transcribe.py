"""transcribe / decode: files and manifests in, text and WER out (library and CLI)."""

from __future__ import annotations

import json

import numpy as np
import pytest
import soundfile
import torch

import zipasr
from zipasr.cli.main import main
from zipasr.recognize import DecodeOptions, decode_manifest, transcribe_files

from .test_recognizer import TOKENS, audio  # noqa: F401 - shared test model pieces


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory):
    from zipasr.testing import tiny_recognizer

    return zipasr.save(tiny_recognizer(TOKENS), tmp_path_factory.mktemp("m") / "model")


@pytest.fixture(scope="module")
def wavs(tmp_path_factory):
    folder = tmp_path_factory.mktemp("wavs")
    paths = []
    for i, (seconds, rate) in enumerate([(1.3, 16000), (0.9, 8000), (2.0, 44100)]):
        samples = audio(seconds, seed=i)
        if rate != 16000:  # any sample rate and channel count is accepted
            samples = np.interp(
                np.arange(int(seconds * rate)) / rate * 16000, np.arange(len(samples)), samples
            )
            samples = np.stack([samples, samples], axis=1)
        path = folder / f"utt{i}.wav"
        soundfile.write(path, samples, rate)
        paths.append(path)
    return paths


def test_transcribe_files_batched_equals_one_by_one(model_dir, wavs):
    model = zipasr.load(model_dir)
    together = transcribe_files(model, wavs, DecodeOptions(batch_size=3))
    alone = [transcribe_files(model, [p])[0] for p in wavs]
    assert [h.tokens for h in together] == [h.tokens for h in alone]
    assert all(h.text is not None for h in together)


def test_greedy_max_symbols_per_frame_reaches_the_search(model_dir, wavs, capsys):
    from zipasr.decoding import greedy_search
    from zipasr.recognize import features_of_file

    model = zipasr.load(model_dir)
    feats = features_of_file(wavs[2])
    with torch.no_grad():
        enc, lengths = model.encode(feats[None], torch.tensor([feats.shape[0]]))
    expected = greedy_search(model, enc, lengths, max_symbols_per_frame=3)[0]
    one_per_frame = greedy_search(model, enc, lengths)[0]
    assert len(expected.tokens) > len(one_per_frame.tokens)  # the option matters for this model
    got = transcribe_files(model, [wavs[2]], DecodeOptions(max_symbols_per_frame=3))[0]
    assert got.tokens == expected.tokens
    assert main(["transcribe", str(model_dir), str(wavs[2]), "--max-symbols", "3"]) == 0
    assert capsys.readouterr().out.split("\t")[1].strip() == (got.text or "")
    with pytest.raises(ValueError, match="max_symbols_per_frame=0"):
        DecodeOptions(max_symbols_per_frame=0)


def test_cli_transcribe_prints_one_line_per_file(model_dir, wavs, capsys):
    assert main(["transcribe", str(model_dir), *map(str, wavs)]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert [line.split("\t")[0] for line in lines] == list(map(str, wavs))
    assert main(["transcribe", str(model_dir), str(wavs[0]), "--json"]) == 0
    record = json.loads(capsys.readouterr().out)
    assert set(record) == {"path", "text", "tokens", "timestamps", "segments"}
    assert len(record["timestamps"]) == len(record["tokens"])
    assert len(record["segments"]) == 1 and record["segments"][0]["start"] == 0.0  # short file
    assert (
        main(
            [
                "transcribe",
                str(model_dir),
                str(wavs[0]),
                "--streaming",
                "--chunk",
                "16",
                "--left",
                "64",
            ]
        )
        == 0
    )
    assert capsys.readouterr().out.startswith(str(wavs[0]))


def test_cli_decode_writes_recogs_errs_and_wer(model_dir, wavs, tmp_path, capsys):
    manifest = tmp_path / "dev.jsonl"
    with manifest.open("w") as f:
        for i, p in enumerate(wavs):
            f.write(json.dumps({"audio": str(p), "text": f"w{i} w{i + 1}", "id": f"u{i}"}) + "\n")
    out = tmp_path / "decode"
    assert main(["decode", str(model_dir), str(manifest), "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    assert "WER" in printed and "ins" in printed
    assert (out / "recogs.txt").read_text().count("ref=") == 3
    report = decode_manifest(
        zipasr.load(model_dir), manifest, out, DecodeOptions(method="ctc_greedy_search")
    )
    assert report.stats.words == 6 and report.skipped == 0


def test_bad_audio_is_a_clear_error(model_dir, tmp_path):
    short = tmp_path / "short.wav"
    soundfile.write(short, np.zeros(400, np.float32), 16000)
    broken = tmp_path / "broken.wav"
    broken.write_bytes(b"RIFF0000WAVEjunk")
    # Each file gets its result or its error; a bad one does not stop the others.
    results = transcribe_files(zipasr.load(model_dir), [short, broken])
    assert results[0].error is not None and "shorter than the model can use" in results[0].error
    assert results[1].error is not None and results[1].error.startswith(f"{broken}: ")
    assert not results[0].tokens and not results[1].ok
    # Streaming says so too (it could pad the audio and return an empty text instead).
    from zipasr.recognize import transcribe_streaming

    with pytest.raises(ValueError) as refused:
        transcribe_streaming(zipasr.load(model_dir), short)
    assert str(refused.value) == results[0].error


def test_streaming_cli_reports_a_too_short_file_and_goes_on(model_dir, tmp_path, capsys):
    from zipasr.cli.errors import EXIT_PARTIAL

    short, good = tmp_path / "short.wav", tmp_path / "good.wav"
    soundfile.write(short, np.zeros(1200, np.float32), 16000)  # 75 ms
    soundfile.write(good, np.zeros(16000, np.float32) + 0.01, 16000)
    code = main(["transcribe", str(model_dir), str(short), str(good), "--streaming"])
    out, err = capsys.readouterr()
    assert code == EXIT_PARTIAL and out.startswith(f"{good}\t")
    assert (
        f"zipasr: error: {short}: 75 ms of audio is shorter than the model can use (85 ms)" in err
    )


def _manifest(path, wavs, texts):
    with path.open("w", encoding="utf-8") as f:
        for i, (p, text) in enumerate(zip(wavs, texts)):
            f.write(json.dumps({"audio": str(p), "text": text, "id": f"u{i}"}) + "\n")
    return path


def test_decode_skips_an_empty_reference_with_its_reason(model_dir, wavs, tmp_path):
    from zipasr.data import SkipReason

    # "?!" and "今天" are empty after the model's "english" normaliser: skipped, not scored.
    manifest = _manifest(tmp_path / "dev.jsonl", wavs, ["w1 w2", "?!", "今天"])
    report = decode_manifest(zipasr.load(model_dir), manifest, tmp_path / "out")
    assert report.skipped == 2 and report.skips is not None
    assert report.skips.counts[SkipReason.EMPTY_TEXT] == 2
    assert report.stats.words == 2 and list(report.texts) == ["u0"]
    # With the "basic" normaliser, "今天" is text: scored as two characters.
    report = decode_manifest(
        zipasr.load(model_dir), manifest, tmp_path / "out", metric="cer", normalizer="basic"
    )
    assert report.skipped == 1 and report.stats.words == len("w1w2") + 2
    errs = (tmp_path / "out" / "errs.txt").read_text(encoding="utf-8")
    assert "CER" in errs and "TOP SUBSTITUTIONS" in errs and "TOP DELETIONS" in errs


def test_cli_decode_rejects_a_bad_out_before_decoding(model_dir, wavs, tmp_path, capsys):
    manifest = _manifest(tmp_path / "dev.jsonl", wavs, ["w1", "w2", "w3"])
    blocker = tmp_path / "a-file"
    blocker.write_text("x")
    # The model path does not exist: the --out error comes first, so nothing was loaded.
    args = ["decode", str(tmp_path / "no-model"), str(manifest), "--out", str(blocker / "out")]
    assert main(args) == 1
    assert "lies under a regular file" in capsys.readouterr().err
    assert main(["decode", str(model_dir), str(manifest), "--out", str(blocker)]) == 1
    assert "is a file" in capsys.readouterr().err


def test_decode_metric_option_and_progress(model_dir, wavs, tmp_path, capsys):
    manifest = _manifest(tmp_path / "dev.jsonl", wavs, ["w1 w2", "w3", "w4 w5"])
    out = tmp_path / "out"
    assert (
        main(["decode", str(model_dir), str(manifest), "--out", str(out), "--metric", "cer"]) == 0
    )
    captured = capsys.readouterr()
    assert captured.out.startswith("CER ") and "decoding" not in captured.err  # not a TTY: quiet
    assert "hyp=[" in (out / "recogs.txt").read_text()
    decode_manifest(zipasr.load(model_dir), manifest, out, progress=True)
    assert "decoding" in capsys.readouterr().err  # the tqdm bar
