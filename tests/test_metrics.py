from __future__ import annotations

import pytest

from zipasr.metrics import align, word_error_rate


def test_wer_counts_each_error_kind():
    stats = word_error_rate(
        ["the cat sat on the mat", "hello"], ["the bat sat on mat", "hello world"]
    )
    assert (stats.substitutions, stats.deletions, stats.insertions) == (1, 1, 1)
    assert stats.words == 7 and stats.wer == pytest.approx(300 / 7)
    assert "3 / 7" in str(stats)


def test_alignment_pairs():
    pairs = align("a b c".split(), "a x c d".split()).pairs
    assert pairs == [("a", "a"), ("b", "x"), ("c", "c"), (None, "d")]
    assert word_error_rate([""], [""]).wer == 0.0
    with pytest.raises(ValueError, match="2 references"):
        word_error_rate(["a", "b"], ["a"])
