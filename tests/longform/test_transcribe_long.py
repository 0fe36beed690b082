"""Recognising long files: bounded memory, absolute times, per-file errors, the CLI."""

from __future__ import annotations

import json
import os
import tracemalloc
from pathlib import Path

import numpy as np
import pytest
import soundfile
import torch

import zipasr
from benchmarks.longform import check_srt
from zipasr.cli.errors import EXIT_ERROR, EXIT_PARTIAL
from zipasr.cli.main import main
from zipasr.longform import SegmenterOptions
from zipasr.recognize import transcribe_files, transcribe_streaming

SHORT_SEGMENTS = SegmenterOptions(max_segment_s=6.0, overlap_s=2.0)


def _watch_encoder(model, seen: list[tuple[int, int]]) -> None:
    """Records (batch, frames) of every encoder call."""
    encode = model.encode

    def watched(features, lengths, **kwargs):
        seen.append((features.shape[0], features.shape[1]))
        return encode(features, lengths, **kwargs)

    model.encode = watched


def test_memory_is_bounded_by_the_segment_not_the_file(tiny_model_dir, long_wav):
    """The longest encoder input (attention memory grows with its square) depends on the
    segment length; without segmentation (the control: the file decoded whole) it is the
    whole file."""
    path, _ = long_wav
    duration = soundfile.info(path).duration
    runs = {}
    for name, options in [("segmented", SHORT_SEGMENTS), ("whole", SegmenterOptions(1e4))]:
        model = zipasr.load(tiny_model_dir)
        seen: list[tuple[int, int]] = []
        _watch_encoder(model, seen)
        result = transcribe_files(model, [path], segmenter=options)[0]
        assert result.ok and result.tokens
        runs[name] = (max(t for _, t in seen), len(result.segments))
    longest, segments = runs["segmented"]
    assert segments > 10
    assert longest <= 6.0 * 100 + 1  # feature frames of the longest segment
    control_longest, _ = runs["whole"]
    assert control_longest >= duration * 100 - 1  # decoded whole: far past the bound


def _peak_bytes(work) -> int:
    tracemalloc.start()
    try:
        work()
        return tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


def test_audio_held_does_not_grow_with_the_file(long_wav, tmp_path):
    """Traced (numpy) allocations while reading and segmenting a file and one twice as long:
    the same peak; reading the file whole (the control) doubles it."""
    from zipasr.audio import read_audio, read_audio_blocks
    from zipasr.longform import segment_audio

    path, _ = long_wav
    x, rate = soundfile.read(path, dtype="float32")
    double = tmp_path / "double.wav"
    soundfile.write(double, np.concatenate([x, x]), rate)

    def segment(p):
        return lambda: sum(1 for _ in segment_audio(read_audio_blocks(p), SHORT_SEGMENTS))

    def control(p):
        return lambda: read_audio(p)

    once, twice = _peak_bytes(segment(path)), _peak_bytes(segment(double))
    assert twice < 1.1 * once
    assert _peak_bytes(control(double)) > 1.8 * _peak_bytes(control(path))
    assert _peak_bytes(control(double)) > 1.5 * twice


def test_segments_times_and_text_of_a_long_file(tiny_model_dir, long_wav):
    path, pauses = long_wav
    model = zipasr.load(tiny_model_dir)
    result = transcribe_files(model, [path], segmenter=SHORT_SEGMENTS)[0]
    assert len(result.segments) == len(pauses) - 1  # one per burst
    for seg, before, after in zip(result.segments, pauses, pauses[1:]):
        assert before[0] <= seg.start <= before[1] and after[0] <= seg.end <= after[1]
        assert all(seg.start <= t <= seg.end for t in seg.timestamps)  # absolute times
        assert [w.word for w in seg.words] == seg.text.split()
    times = result.times
    assert times == sorted(times) and len(times) == len(result.tokens)
    words = [w for s in result.segments for w in s.words]
    assert all(a.start <= a.end <= b.start for a, b in zip(words, words[1:]))
    assert result.text == " ".join(s.text for s in result.segments if s.text)
    # Offline and streaming cut the file the same way.
    streamed = transcribe_streaming(model, path, segmenter=SHORT_SEGMENTS)
    assert [(s.start, s.end) for s in streamed.segments] == [
        (s.start, s.end) for s in result.segments
    ]
    assert streamed.times == sorted(streamed.times)


def test_a_short_file_is_decoded_whole_as_before(tiny_model_dir, long_wav):
    from zipasr.recognize import decode_features, features_of_file

    model = zipasr.load(tiny_model_dir)
    path, _ = long_wav
    short = path.parent / "short.wav"
    x, rate = soundfile.read(path, frames=16000 * 5)
    soundfile.write(short, x, rate)
    result = transcribe_files(model, [short], segmenter=SHORT_SEGMENTS)[0]
    expected = decode_features(model, [features_of_file(short)])[0]
    assert result.tokens == expected.tokens and result.frames == expected.frames
    assert len(result.segments) == 1 and result.segments[0].end == pytest.approx(5.0)


def test_windows_of_speech_without_pauses_are_merged(tiny_model_dir, tmp_path):
    """An always-speech VAD forces overlapping windows; the merged result has monotonic times,
    segments that do not overlap, and text made of whole tokens."""
    from zipasr.longform import EnergyVad

    class Always(EnergyVad):
        def threshold(self) -> float:
            return -1e9

    model = zipasr.load(tiny_model_dir)
    path = tmp_path / "talk.wav"
    rng = np.random.default_rng(0)
    soundfile.write(path, (0.1 * rng.standard_normal(16000 * 20)).astype(np.float32), 16000)
    result = transcribe_files(model, [path], segmenter=SHORT_SEGMENTS, vad=Always)[0]
    assert len(result.segments) >= 4
    assert all(a.end <= b.start for a, b in zip(result.segments, result.segments[1:]))
    assert result.times == sorted(result.times)
    assert result.segments[0].start == 0.0 and result.segments[-1].end == pytest.approx(20.0)


def test_bad_files_are_reported_and_the_others_recognised(tiny_model_dir, long_wav, capsys):
    path, _ = long_wav
    folder = path.parent
    empty = folder / "empty.wav"
    soundfile.write(empty, np.zeros(0, np.float32), 16000)
    click = folder / "click.wav"
    soundfile.write(click, np.zeros(400, np.float32), 16000)
    missing = folder / "missing.wav"
    good = folder / "good.wav"
    x, rate = soundfile.read(path, frames=16000 * 3)
    soundfile.write(good, x, rate)
    results = transcribe_files(zipasr.load(tiny_model_dir), [good, empty, missing, click])
    assert [r.ok for r in results] == [True, False, False, False]
    assert results[1].error == f"{empty} holds 0 samples"
    assert results[2].error.startswith(f"{missing}: ")
    assert results[3].error == f"{click}: 25 ms of audio is shorter than the model can use (85 ms)"
    code = main(["transcribe", str(tiny_model_dir), str(good), str(empty), str(missing)])
    out, err = capsys.readouterr()
    assert code == EXIT_PARTIAL
    assert out.splitlines()[0].startswith(f"{good}\t") and len(out.splitlines()) == 1
    lines = err.splitlines()
    assert lines[0] == f"zipasr: error: {empty} holds 0 samples"
    assert lines[1].startswith(f"zipasr: error: {missing}: ")
    assert main(["transcribe", str(tiny_model_dir), str(missing)]) == EXIT_PARTIAL  # all failed


def test_cli_checks_options_before_decoding(
    tiny_model_dir, long_wav, tmp_path, capsys, monkeypatch
):
    import zipasr.recognize

    def no_decoding(*args, **kwargs):
        raise AssertionError("decoding started")

    monkeypatch.setattr(zipasr.recognize, "transcribe_files", no_decoding)
    monkeypatch.setattr(zipasr.recognize, "transcribe_streaming", no_decoding)
    path = str(long_wav[0])
    model = str(tiny_model_dir)
    for argv, message in [
        (
            ["--streaming", "--method", "modified_beam_search_attention_decoder_rescoring"],
            "--streaming decodes with",
        ),
        (["--srt", str(tmp_path / "no" / "such" / "a.srt")], "does not exist"),
        ([path, "--vtt", str(tmp_path / "f.vtt")], "give a folder"),
        (["--max-segment", "1"], "--max-segment"),
    ]:
        (tmp_path / "f.vtt").write_text("")
        assert main(["transcribe", model, path, *argv]) == EXIT_ERROR
        assert message in capsys.readouterr().err
    with pytest.raises(SystemExit) as usage:  # a count out of range is a usage error
        main(["transcribe", model, path, "--threads", "0"])
    assert usage.value.code == 2 and "--threads" in capsys.readouterr().err


def test_cli_long_file_json_srt_vtt_and_threads(
    tiny_model_dir, long_wav, tmp_path, capsys, monkeypatch
):
    path, pauses = long_wav
    srt, vtt = tmp_path / "out.srt", tmp_path / "out.vtt"
    from zipasr.cli.transcribe import MAX_AUTO_THREADS, _set_threads

    threads = torch.get_num_threads()
    try:
        argv = ["transcribe", str(tiny_model_dir), str(path), "--json", "--max-segment", "6"]
        assert main([*argv, "--srt", str(srt), "--vtt", str(vtt), "--progress"]) == 0
        out, err = capsys.readouterr()
        record = json.loads(out)
        assert len(record["segments"]) == len(pauses) - 1
        assert set(record["segments"][0]) == {"start", "end", "text", "words"}
        assert "real time" in err and "100%" in err  # the progress line
        # One cue per segment with text, or more where its text is too long for one.
        assert check_srt(srt.read_text()) >= sum(1 for s in record["segments"] if s["text"])
        assert vtt.read_text().startswith("WEBVTT\n\n")
        short = tmp_path / "short.wav"
        soundfile.write(short, np.zeros(16000, np.float32) + 0.01, 16000)
        assert main(["transcribe", str(tiny_model_dir), str(short)]) == 0
        assert torch.get_num_threads() == 1  # a short input: one thread (no spin-waiting)
        assert main(["transcribe", str(tiny_model_dir), str(short), "--threads", "2"]) == 0
        assert torch.get_num_threads() == 2
        # An hour: the free cores (CPUs less the load), 1 to MAX_AUTO_THREADS.
        monkeypatch.setattr(os, "getloadavg", lambda: (0.0, 0.0, 0.0))
        _set_threads(None, 3600.0)
        assert torch.get_num_threads() == min(MAX_AUTO_THREADS, len(os.sched_getaffinity(0)))
        monkeypatch.setattr(os, "getloadavg", lambda: (64.0, 64.0, 64.0))  # a busy machine
        _set_threads(None, 3600.0)
        assert torch.get_num_threads() == 1
    finally:
        torch.set_num_threads(threads)


@pytest.mark.parametrize("rate", [16000, 8000, 48000])
def test_the_shortest_usable_audio_is_the_length_the_message_names(
    tmp_path: Path, rate: int
) -> None:
    from zipasr.recognize import features_of_file

    shortest = rate * 85 // 1000  # "(85 ms)" in the message
    ok = tmp_path / "ok.wav"
    soundfile.write(ok, np.zeros(shortest, np.float32), rate)
    assert features_of_file(ok).shape[0] >= 9
    # One sample short (84.9 ms), a millisecond short, and under one 25 ms analysis window.
    for samples, ms in ((shortest - 1, 84), (shortest - rate // 1000, 84), (rate // 100, 10)):
        short = tmp_path / f"short{samples}.wav"
        soundfile.write(short, np.zeros(samples, np.float32), rate)
        with pytest.raises(ValueError, match=rf"{short}: {ms} ms of audio is shorter .*\(85 ms\)$"):
            features_of_file(short)


def test_subtitles_without_speech_are_written_and_said_to_be_empty(tmp_path: Path, capsys):
    from zipasr.cli.transcribe import _write_subtitles
    from zipasr.longform import Segment, Transcript

    srt, vtt = tmp_path / "a.srt", tmp_path / "a.vtt"
    outputs = {"srt": {"a.wav": srt}, "vtt": {"a.wav": vtt}}
    silent = Transcript(path="a.wav", duration_s=4.0, segments=[Segment(0.0, 4.0, "")])
    _write_subtitles(silent, outputs)
    assert srt.read_text() == "" and vtt.read_text() == "WEBVTT\n\n"
    assert capsys.readouterr().err == (
        f"zipasr: warning: a.wav: no speech recognised; {srt} and {vtt} hold no subtitles\n"
    )
    spoken = Transcript(path="a.wav", duration_s=4.0, segments=[Segment(0.0, 4.0, "HI")])
    _write_subtitles(spoken, outputs)
    assert "HI" in srt.read_text() and capsys.readouterr().err == ""
