"""The wide English sentence pool: its held-out words, its spelling rules, and the demo's
seen/unseen-word scoring."""

from __future__ import annotations

import json
import random
from pathlib import Path

import pytest

from zipasr.data.synth import wide
from zipasr.data.synth.languages import pool
from zipasr.train.demo import wer_by_seen_words


def _held_out_forms() -> set[str]:
    """Every surface form of a held-out lemma (nouns, their plurals, verb forms, ...)."""
    full, train = wide.Vocabulary.of(training=False), wide.Vocabulary.of(training=True)
    forms: set[str] = set()
    for noun in set(full.nouns) - set(train.nouns):
        forms.update((noun, wide.plural(noun)))
    for base, past in set(full.verbs) - set(train.verbs):
        forms.update((base, past, wide.third_person(base)))
    for group in ("adjectives", "adverbs", "names", "places"):
        forms.update(set(getattr(full, group)) - set(getattr(train, group)))
    # A form shared with a lemma that training keeps ("left", "light") is not unseen.
    return forms - _training_forms()


def _training_forms() -> set[str]:
    v = wide.Vocabulary.of(training=True)
    forms = set(v.nouns) | {wide.plural(n) for n in v.nouns}
    for base, past in v.verbs:
        forms.update((base, past, wide.third_person(base)))
    return forms | set(v.adjectives) | set(v.adverbs) | set(v.names) | set(v.places)


def test_training_sentences_never_hold_a_held_out_word() -> None:
    held = _held_out_forms()
    assert len(held) > 200  # about 12% of ~2,000 lemmas, with their forms
    draw, rng = wide.sentence_for(0), random.Random(0)
    words = {w for _ in range(4000) for w in draw(rng).split()}
    assert not words & held
    assert len(words) > 2000  # thousands of distinct words, not a phrase book


def test_the_language_model_text_never_holds_a_held_out_word() -> None:
    from zipasr.data.synth import training_text

    text = training_text(4000, seed=3, pool="wide")
    assert len(set(text)) == 4000
    assert not {w for s in text for w in s.split()} & _held_out_forms()


def test_about_half_the_test_sentences_hold_an_unseen_word() -> None:
    held = _held_out_forms()
    draw, rng = wide.sentence_for(2), random.Random(1)
    sentences = [draw(rng) for _ in range(2000)]
    share = sum(any(w in held for w in s.split()) for s in sentences) / len(sentences)
    assert 0.3 < share < 0.7
    vocabulary = wide.vocabulary()
    assert all(w in vocabulary for s in sentences for w in s.split())


@pytest.mark.parametrize(
    ("word", "plural"),
    [
        ("box", "boxes"),
        ("church", "churches"),
        ("city", "cities"),
        ("day", "days"),
        ("stomach", "stomachs"),
        ("knife", "knives"),
        ("photo", "photos"),
        ("potato", "potatoes"),
        ("child", "children"),
        ("sheep", "sheep"),
    ],
)
def test_plurals(word: str, plural: str) -> None:
    assert wide.plural(word) == plural


def test_third_person() -> None:
    forms = [wide.third_person(v) for v in ("watch", "carry", "obey", "fix", "kiss", "ski")]
    assert forms == ["watches", "carries", "obeys", "fixes", "kisses", "skis"]


def test_pools_by_name() -> None:
    assert pool("en").vocabulary() == pool("en", "templates").vocabulary()
    assert len(pool("en", "wide").vocabulary()) > 2500
    with pytest.raises(ValueError, match="sentence pools"):
        pool("cmn", "wide")


def _write(path: Path, texts: dict[str, str]) -> Path:
    import soundfile

    wav = path.parent / "a.wav"  # a tenth of a second of silence, shared by every line
    if not wav.exists():
        soundfile.write(wav, [0.0] * 1600, 16000)
    lines = [json.dumps({"id": k, "audio": "a.wav", "text": v}) for k, v in texts.items()]
    path.write_text("".join(line + "\n" for line in lines))
    return path


def test_wer_by_seen_words(tmp_path: Path) -> None:
    train = _write(tmp_path / "train.jsonl", {"t1": "the red cat", "t2": "a dog ran"})
    test = _write(
        tmp_path / "test.jsonl",
        {"a": "the red dog", "b": "the blue cat", "c": "a cat ran", "gone": "the zebra"},
    )
    hyps = {"a": "the red dog", "b": "the blew cat", "c": "a cat"}  # "gone" was skipped
    result = wer_by_seen_words(train, test, hyps)
    assert result["seen"].startswith("WER 16.67% [1 / 6") and "(2 sentences)" in result["seen"]
    assert result["unseen"].startswith("WER 33.33% [1 / 3") and "(1 sentences)" in result["unseen"]
    assert wer_by_seen_words(train, test, {"b": "the blue cat"})["seen"] == "no sentences"
