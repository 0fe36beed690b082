from __future__ import annotations

import pytest

from zipasr.metrics import ErrorCounts, align, error_rate, word_error_rate


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


def test_cer_and_mer_count_characters_and_mixed_units():
    cer = error_rate(["今天天气很好", "hello"], ["今天天汽很", "hallo"], "cer")
    assert (cer.words, cer.substitutions, cer.deletions, cer.insertions) == (11, 2, 1, 0)
    assert str(cer).startswith("CER 27.27% [3 / 11")
    mer = error_rate(["我用 iphone 打电话"], ["我用 iphone12 打电"], "mer")
    assert (mer.words, mer.substitutions, mer.deletions) == (6, 1, 1)  # iphone -> iphone12, 话
    assert str(mer).startswith("MER")
    assert error_rate(["a b"], ["a b"], "wer").wer == word_error_rate(["a b"], ["a b"]).wer


def test_error_counts_rank_substitutions_deletions_insertions():
    counts = ErrorCounts()
    for ref, hyp in [("a b c", "a x c"), ("b c", "x c d"), ("c", "")]:
        counts.add(align(ref.split(), hyp.split()))
    assert counts.substitutions == {("b", "x"): 2}
    assert counts.deletions == {"c": 1} and counts.insertions == {"d": 1}
    report = counts.report(top=5).splitlines()
    assert report[0].startswith("TOP SUBSTITUTIONS") and report[1].split() == ["2", "b", "->", "x"]
    assert "TOP DELETIONS" in report[2] and "TOP INSERTIONS" in report[4]
