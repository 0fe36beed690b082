from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
import soundfile

from zipasr.data.synth.sentences import vocabulary


def _manifest(folder: Path, split: str) -> list[dict]:
    return [json.loads(line) for line in (folder / f"{split}.jsonl").open()]


def test_splits_have_disjoint_speakers_and_sentences(corpus: Path) -> None:
    splits = {s: _manifest(corpus, s) for s in ("train", "dev", "test")}
    assert all(splits.values())
    speakers = {s: {x["speaker"] for x in items} for s, items in splits.items()}
    texts = {s: {x["text"] for x in items} for s, items in splits.items()}
    for a, b in (("train", "dev"), ("train", "test"), ("dev", "test")):
        assert not speakers[a] & speakers[b] and not texts[a] & texts[b]
    words = {w for items in splits.values() for x in items for w in x["text"].split()}
    assert words <= vocabulary()


def test_wavs_are_16k_mono(corpus: Path) -> None:
    item = _manifest(corpus, "dev")[0]
    info = soundfile.info(corpus / item["audio"])
    assert (info.samplerate, info.channels, info.subtype) == (16000, 1, "PCM_16")


def test_same_seed_same_corpus(tmp_path: Path) -> None:
    # Each build in a fresh process: libespeak-ng keeps synthesis state across calls.
    for name in ("a", "b"):
        out = str(tmp_path / name)
        code = f"from zipasr.data.synth import build_corpus; build_corpus({out!r}, 0.004, seed=5)"
        subprocess.run([sys.executable, "-c", code], check=True)
    files = sorted(p.relative_to(tmp_path / "a") for p in (tmp_path / "a").rglob("*.*"))
    assert len(files) > 6
    for f in files:
        assert (tmp_path / "a" / f).read_bytes() == (tmp_path / "b" / f).read_bytes(), f


def test_mandarin_corpus_speaks_characters(tmp_path: Path) -> None:
    from zipasr.data.synth import build_corpus
    from zipasr.data.synth.mandarin import vocabulary as characters
    from zipasr.text import is_cjk, normalize

    stats = build_corpus(tmp_path, 0.004, seed=1, language="cmn")
    assert stats.unit == "characters" and stats.vocabulary_size == len(characters()) > 150
    entries = [json.loads(line) for line in (tmp_path / "train.jsonl").read_text().splitlines()]
    assert entries and all(e["speaker"].startswith("cmn_") for e in entries)
    for entry in entries:
        text = normalize(entry["text"], "basic")  # punctuation gone, characters kept
        assert text and all(is_cjk(c) for c in text) and set(text) <= characters()
        audio, rate = soundfile.read(tmp_path / entry["audio"])
        assert rate == 16000 and len(audio) > 0.1 * rate * len(text)  # 0.1 s per character


def test_mandarin_pool_mixes_short_random_phrases() -> None:
    """Two utterances in five are one to three random words (the rest template sentences)."""
    import random

    from zipasr.data.synth import mandarin

    rng = random.Random(0)
    drawn = [mandarin.sentence(rng) for _ in range(2000)]
    words = {w for group in mandarin._WORD_LISTS for w in group}
    phrases = [s for s in drawn if all(w in words for w in s.removesuffix("。").split("，"))]
    assert 0.35 < len(phrases) / len(drawn) < 0.45
    assert {len(p.split("，")) for p in phrases} == {1, 2, 3}
    assert all(set(s) - set("，。？") <= mandarin.vocabulary() for s in drawn)


def test_neural_voice_share_is_reproducible(tmp_path: Path) -> None:
    """Training utterances spoken by piper, byte-identical from a fresh process (its noise
    scales are 0); dev and test keep to espeak-ng voices."""
    stats = {}
    for name in ("a", "b"):
        out = str(tmp_path / name)
        code = (
            "from zipasr.data.synth import build_corpus; "
            f"print(build_corpus({out!r}, 0.006, seed=2, neural_share=0.5).neural_utterances)"
        )
        run = subprocess.run([sys.executable, "-c", code], check=True, capture_output=True)
        stats[name] = int(run.stdout.split()[-1])
    assert stats["a"] == stats["b"] > 0
    for f in sorted((tmp_path / "a").rglob("*.*")):
        assert f.read_bytes() == (tmp_path / "b" / f.relative_to(tmp_path / "a")).read_bytes(), f
    speakers = {s: {x["speaker"] for x in _manifest(tmp_path / "a", s)} for s in ("dev", "test")}
    assert "piper_en-us-joe" in {x["speaker"] for x in _manifest(tmp_path / "a", "train")}
    assert not any("piper" in s for group in speakers.values() for s in group)


def test_neural_share_is_checked(tmp_path: Path) -> None:
    import pytest

    from zipasr.data.synth import build_corpus

    with pytest.raises(ValueError, match=r"within \[0, 1\]"):
        build_corpus(tmp_path, 0.001, neural_share=1.5)
    with pytest.raises(ValueError, match="speaks English"):
        build_corpus(tmp_path, 0.001, language="cmn", neural_share=0.5, splits=("test",))


def test_a_missing_neural_voice_names_the_extra(tmp_path: Path, monkeypatch) -> None:
    from zipasr.data.synth import build_corpus
    from zipasr.data.synth.neural import NeuralVoice
    from zipasr.optional import MissingExtraError

    monkeypatch.setattr(NeuralVoice, "_instance", None)
    monkeypatch.setattr(NeuralVoice, "available", classmethod(lambda cls: False))
    with pytest.raises(MissingExtraError, match=r'pip install "zipasr\[voices\]"'):
        build_corpus(tmp_path, 0.001, neural_share=0.5)
    assert not list(tmp_path.iterdir())  # refused before anything was written
    build_corpus(tmp_path, 0.001, neural_share=0.5, splits=("test",))  # no training split


def test_corpus_records_how_it_was_built(corpus: Path) -> None:
    from zipasr.data.synth import read_corpus_settings

    settings = read_corpus_settings(corpus)
    assert settings["language"] == "en" and settings["pool"] == "templates"
    assert settings["seed"] == 7 and settings["hours"] == 0.02
    assert read_corpus_settings(corpus / "wav") == {}  # not a corpus folder


@pytest.mark.parametrize("content", [b"{ truncated", b"\xff\xfe", b"[1, 2]"])
def test_a_damaged_corpus_record_is_named_in_the_error(tmp_path: Path, content: bytes) -> None:
    from zipasr.data.synth import read_corpus_settings

    (tmp_path / "corpus.json").write_bytes(content)
    with pytest.raises(ValueError, match=r"corpus\.json is not the JSON file zipasr synth"):
        read_corpus_settings(tmp_path)


def test_training_text_continues_the_training_split_and_never_holds_dev_or_test(
    corpus: Path,
) -> None:
    from zipasr.data.synth import training_text

    spoken = [x["text"] for x in _manifest(corpus, "train")]
    held = {x["text"] for split in ("dev", "test") for x in _manifest(corpus, split)}
    text = training_text(3000, seed=7)
    assert len(text) == len(set(text)) == 3000
    assert text[: len(spoken)] == spoken  # the sentences the corpus speaks come first
    assert not set(text) & held
    from zipasr.data.synth.sentences import split_of

    assert all(split_of(s, (0.9, 0.05, 0.05)) == 0 for s in text)


def test_one_split_alone_begins_as_in_the_whole_corpus(corpus: Path, tmp_path: Path) -> None:
    from zipasr.data.synth import build_corpus

    stats = build_corpus(tmp_path, hours=0.06, seed=7, splits=("test",))
    assert not (tmp_path / "train.jsonl").exists() and not (tmp_path / "dev.jsonl").exists()
    assert stats.utterances["train"] == 0 and stats.utterances["test"] > 0
    assert "test:" in stats.summary() and "train:" not in stats.summary()
    small, large = _manifest(corpus, "test"), _manifest(tmp_path, "test")
    assert len(large) > len(small) > 0
    for a, b in zip(small, large, strict=False):
        assert a == b
        assert (corpus / a["audio"]).read_bytes() == (tmp_path / b["audio"]).read_bytes()
    with pytest.raises(ValueError, match="splits"):
        build_corpus(tmp_path / "x", hours=0.01, splits=("eval",))


def test_splits_built_one_by_one_are_recorded_together_only_if_of_one_corpus(
    tmp_path: Path,
) -> None:
    from zipasr.data.synth import build_corpus, read_corpus_settings

    build_corpus(tmp_path, hours=0.002, seed=3, splits=("test",))
    # neural_share concerns the training split only, which neither build holds.
    build_corpus(tmp_path, hours=0.002, seed=3, splits=("dev",), neural_share=0.5)
    assert read_corpus_settings(tmp_path)["splits"] == ["dev", "test"]
    dev = (tmp_path / "dev.jsonl").read_bytes()
    with pytest.raises(ValueError, match=r"holds the test split\(s\) of a corpus built with "):
        build_corpus(tmp_path, hours=0.002, seed=4, splits=("dev",))
    # Refused before anything was written: the record and the manifests are as they were.
    assert read_corpus_settings(tmp_path)["seed"] == 3
    assert (tmp_path / "dev.jsonl").read_bytes() == dev
    # A manifest no record lists (copied in, or left by an interrupted build) is refused too.
    (tmp_path / "train.jsonl").write_bytes(dev)
    with pytest.raises(ValueError, match=r"holds train.jsonl, which its corpus.json does not list"):
        build_corpus(tmp_path, hours=0.002, seed=3, splits=("dev",))
    (tmp_path / "corpus.json").unlink()
    with pytest.raises(ValueError, match=r"unrecorded build \(it has no corpus.json\)"):
        build_corpus(tmp_path, hours=0.002, seed=3, splits=("dev",))
    build_corpus(tmp_path, hours=0.002, seed=4)  # every split anew: nothing of the old is kept
    assert read_corpus_settings(tmp_path)["splits"] == ["train", "dev", "test"]


def test_an_error_inside_the_synthesis_callback_stops_the_synthesis(monkeypatch) -> None:
    # An exception in the callback that the C library calls with each block of samples would
    # be printed and dropped by ctypes, and the utterance would go on without those samples.
    # The engine aborts the synthesis and raises it from synthesize().
    import numpy as np

    from zipasr.data.synth.espeak import Espeak

    engine = Espeak.get()
    whole = engine.synthesize("one two three four five six seven", "en-us+m3", 160, 50)
    calls = []
    as_array = np.ctypeslib.as_array

    def interrupted_on_second_block(*args, **kwargs):
        calls.append(1)
        if len(calls) == 2:
            raise KeyboardInterrupt
        return as_array(*args, **kwargs)

    monkeypatch.setattr(np.ctypeslib, "as_array", interrupted_on_second_block)
    with pytest.raises(KeyboardInterrupt):
        engine.synthesize("one two three four five six seven", "en-us+m3", 160, 50)
    assert len(calls) == 2  # aborted: no block was collected after the interrupt
    monkeypatch.undo()
    after = engine.synthesize("one two three four five six seven", "en-us+m3", 160, 50)
    assert after.size > 0 and abs(after.size - whole.size) < 0.05 * whole.size  # usable again


_CTRL_C_SCRIPT = """
import os, signal, sys, threading, time
from zipasr.data.synth.espeak import Espeak
# As in a terminal: a process started in the background (CI) inherits SIGINT ignored.
signal.signal(signal.SIGINT, signal.default_int_handler)
engine = Espeak.get()
text = "one two three four five six seven eight nine ten " * 4
dropped = []
sys.unraisablehook = lambda u: dropped.append(u.exc_type.__name__)
start = time.perf_counter()
engine.synthesize(text, "en-us+m3", 160, 50)
full = time.perf_counter() - start
in_synthesis = after = 0
for i in range(30):
    timer = threading.Timer(full * (i % 10 + 0.5) / 12, os.kill, (os.getpid(), signal.SIGINT))
    try:
        timer.start()
        engine.synthesize(text, "en-us+m3", 160, 50)
    except KeyboardInterrupt:
        in_synthesis += 1
        continue
    try:
        time.sleep(2 * full + 0.1)  # a signal sent after the synthesis ended lands here
    except KeyboardInterrupt:
        after += 1
print(in_synthesis, after, len(dropped))
"""


def test_ctrl_c_during_synthesis_is_never_lost() -> None:
    # Real SIGINTs at times spread over a synthesis, in a process of their own (one that went
    # astray must not stop this test session). Python raises KeyboardInterrupt on the first line
    # of the callback the library calls, where ctypes used to print and drop it (about half of
    # them here): each must now be raised, by synthesize() or after it.
    run = subprocess.run(
        [sys.executable, "-c", _CTRL_C_SCRIPT], capture_output=True, text=True, timeout=300
    )
    assert run.returncode == 0, run.stderr[-2000:]
    in_synthesis, after, dropped = map(int, run.stdout.split())
    assert dropped == 0 and in_synthesis + after == 30 and in_synthesis > 0


def test_synth_cli_default_fractions_are_the_corpus_default():
    # The CLI's parser is built without the data extra, so it writes the default out.
    from zipasr.cli.main import build_parser
    from zipasr.data.synth.corpus import DEFAULT_FRACTIONS

    args = build_parser().parse_args(["synth", "--out", "x"])
    assert tuple(args.fractions) == DEFAULT_FRACTIONS
