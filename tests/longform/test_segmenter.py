"""Segments at pauses, windows for speech with no pause, merging, words and subtitles."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from benchmarks.longform import check_srt
from zipasr.longform import (
    Segment,
    Segmenter,
    SegmenterOptions,
    TimedTokens,
    Word,
    cues,
    merge_overlap,
    segment_audio,
    to_srt,
    to_vtt,
    words_of,
)

from .conftest import burst, recording


def _blocks(x: np.ndarray, size: int):
    for i in range(0, len(x), size):
        yield torch.from_numpy(x[i : i + size])


@pytest.mark.parametrize("block", [1600, 16000 * 7 + 13])
def test_segments_are_the_bursts_cut_inside_the_pauses(block):
    x, pauses = recording(12, seed=3)
    spans = [s.span for s in segment_audio(_blocks(x, block))]
    assert len(spans) == 12
    for span, before, after in zip(spans, pauses, pauses[1:]):
        assert before[0] <= span.start_s <= before[1]  # starts in the pause before its burst
        assert after[0] <= span.end_s <= after[1]
        assert not span.overlaps_previous
    # Independent of the block size: the VAD and the segmenter keep state between blocks.
    assert spans == [s.span for s in segment_audio(_blocks(x, 4000))]


def test_a_too_long_segment_is_cut_at_a_short_pause():
    gap = (1e-3 * np.random.default_rng(0).standard_normal(1600)).astype(np.float32)  # 0.1 s
    x = np.concatenate([gap, burst(6.0, 1), gap, burst(6.0, 2), gap])
    options = SegmenterOptions(max_segment_s=8.0)
    spans = [s.span for s in segment_audio(_blocks(x, 16000), options)]
    assert len(spans) == 2 and not spans[1].overlaps_previous
    assert 6.1 <= spans[0].end_s <= 6.2 and spans[1].start_s == spans[0].end_s


def test_speech_without_pauses_becomes_overlapping_windows():
    x = burst(30.0, 4)
    options = SegmenterOptions(max_segment_s=8.0, overlap_s=2.0)
    segmenter = Segmenter(options)
    segments, held = [], 0
    for block in _blocks(x, 8000):
        segments += list(segmenter.accept(block))
        held = max(held, segmenter.buffer.shape[0])
    segments += list(segmenter.finish())
    assert held <= (8.0 + 0.5) * 16000  # memory: one segment and a block, not the recording
    spans = [s.span for s in segments]
    assert [s.overlaps_previous for s in spans] == [False] + [True] * (len(spans) - 1)
    for a, b in zip(spans, spans[1:]):
        assert b.start_s == pytest.approx(a.end_s - 2.0)
        assert a.end_s - a.start_s == pytest.approx(8.0)
    assert spans[-1].end_s == pytest.approx(30.0)
    joined = torch.cat([segments[0].samples] + [s.samples[32000:] for s in segments[1:]])
    assert torch.equal(joined, torch.from_numpy(x))  # the windows hold the audio, unchanged


def _truth(n: int, seed: int = 0) -> TimedTokens:
    rng = np.random.default_rng(seed)
    times = np.cumsum(rng.uniform(0.05, 0.3, n)).tolist()
    return TimedTokens(rng.integers(3, 40, n).tolist(), times)


def _window(truth: TimedTokens, lo: float, hi: float, noisy: str, seed: int) -> TimedTokens:
    """The tokens of truth between lo and hi, with mistakes in the 0.5 s at the ``noisy``
    ("left" or "right") edge: lost tokens, wrong tokens, late times."""
    rng = np.random.default_rng(seed)
    tokens, times = [], []
    for tok, t in zip(truth.tokens, truth.times):
        if not lo <= t < hi:
            continue
        edge = (t - lo < 0.5) if noisy == "left" else (hi - t < 0.5)
        if edge and rng.random() < 0.5:
            continue  # a lost token near the edge
        tokens.append(int(rng.integers(3, 40)) if edge and rng.random() < 0.5 else tok)
        times.append(t + (0.04 if edge else 0.0))
    return TimedTokens(tokens, times)


@pytest.mark.parametrize("seed", range(5))
def test_merging_windows_neither_duplicates_nor_loses_tokens(seed):
    truth = _truth(120, seed)
    end = truth.times[-1] + 0.1
    a = _window(truth, 0.0, end * 0.6, "right", seed)
    b = _window(truth, end * 0.6 - 3.0, end, "left", seed + 100)
    merged, splice = merge_overlap(a, b, end * 0.6 - 3.0, end * 0.6)
    assert end * 0.6 - 3.0 <= splice <= end * 0.6
    assert merged.tokens == truth.tokens  # the edges' mistakes are not kept
    assert merged.times == sorted(merged.times)


def test_merging_with_no_match_splits_at_the_middle():
    a = TimedTokens([5, 6, 7, 8], [1.0, 2.0, 3.1, 3.9])
    b = TimedTokens([9, 10, 11], [2.2, 3.0, 4.5])
    merged, splice = merge_overlap(a, b, 2.0, 4.0)
    assert splice == 3.0
    assert merged.tokens == [5, 6, 10, 11] and merged.times == [1.0, 2.0, 3.0, 4.5]


def test_words_and_subtitles():
    table = ["<blk>", "\u2581hel", "lo", "\u2581world", "\u2581a", "\u2581b"]
    words = words_of([1, 2, 3], [1.0, 1.2, 1.6], table)
    assert words == [Word("hello", 1.0, 1.24), Word("world", 1.6, 1.64)]
    long = [Word(f"word{i}", 10.0 + i, 10.5 + i) for i in range(30)]
    segments = [
        Segment(0.5, 2.0, "hello world", [1, 2, 3], [1.0, 1.2, 1.6], words),
        Segment(2.5, 3.0, ""),  # no text: no cue
        Segment(9.8, 40.2, " ".join(w.word for w in long), [], [], long),
    ]
    assert len(cues(segments)) > 2  # the long segment is split between words
    srt = to_srt(segments)
    assert check_srt(srt) == len(cues(segments))
    assert srt.startswith("1\n00:00:00,500 --> 00:00:02,000\nhello world\n")
    vtt = to_vtt(segments)
    assert vtt.startswith("WEBVTT\n\n00:00:00.500 --> 00:00:02.000\nhello world\n")
    with pytest.raises(ValueError, match="before the last"):
        check_srt("1\n00:00:01,000 --> 00:00:03,000\na\n\n2\n00:00:02,000 --> 00:00:04,000\nb\n")


def test_benchmark_recordings_and_their_scoring(tmp_path):
    """benchmarks/longform.py: utterances joined with pauses, and the WER of timed words."""
    import json

    import soundfile

    from benchmarks.longform import boundaries_in_pauses, joined_wer, load_truth, make

    lines = []
    for i, text in enumerate(["one two", "three", "four five six"]):
        soundfile.write(tmp_path / f"u{i}.wav", burst(1.0 + i, i), 16000)
        lines.append(json.dumps({"id": f"u{i}", "audio": f"u{i}.wav", "text": text}))
    (tmp_path / "m.jsonl").write_text("\n".join(lines) + "\n")
    make([tmp_path / "m.jsonl"], tmp_path / "rec.wav", minutes=0)
    truth = load_truth(tmp_path / "rec.wav")
    assert [u.text for u in truth] == ["one two", "three", "four five six"]
    for a, b in zip(truth, truth[1:]):
        assert 0.5 <= b.start - a.end <= 3.0
    words = [(w, u.start + 0.1 * k) for u in truth for k, w in enumerate(u.text.split())]
    assert joined_wer(truth, words).errors == 0
    moved = [(w, t + 5.0 if w == "three" else t) for w, t in words]  # a word in the wrong place
    assert joined_wer(truth, moved).errors > 0
    segments = [{"start": u.start - 0.1, "end": u.end + 0.1} for u in truth]
    assert boundaries_in_pauses(truth, segments) == (2, 2, 2)
