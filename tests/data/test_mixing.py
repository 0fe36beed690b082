"""Weighted mixing of training manifests and the lazy, resumable sampler over them."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
from lhotse import CutSet
from lhotse.testing.dummies import dummy_cut

from zipasr.data import (
    CutSource,
    ListSource,
    MixedSource,
    ResumableBucketingSampler,
    open_manifest,
)
from zipasr.data.sources import CutReader


def _cuts(prefix: str, n: int) -> list:
    """Cuts named ``<prefix>-<i>`` with durations 1-16 s (no audio: the sampler needs none)."""
    out = []
    for i in range(n):
        cut = dummy_cut(i, duration=1.0 + (i * 7919 % 1500) / 100)
        cut.id = f"{prefix}-{i:05d}"
        out.append(cut)
    return out


def _write_manifest(path: Path, cuts: list) -> Path:
    """A lhotse cut JSONL manifest, as the trainer reads it (lazily)."""
    CutSet.from_cuts(cuts).to_file(path)
    return path


@pytest.fixture(scope="module")
def two_manifests(tmp_path_factory) -> tuple[Path, Path]:
    folder = tmp_path_factory.mktemp("mix")
    return (
        _write_manifest(folder / "a.jsonl.gz", _cuts("a", 3000)),
        _write_manifest(folder / "b.jsonl", _cuts("b", 3000)),
    )


@pytest.fixture(scope="module")
def small_manifests(tmp_path_factory) -> tuple[Path, Path]:
    folder = tmp_path_factory.mktemp("mix_small")
    return (
        _write_manifest(folder / "a.jsonl.gz", _cuts("a", 500)),
        _write_manifest(folder / "b.jsonl", _cuts("b", 300)),
    )


def _mix(manifests, weights, repeats=None, seed=0) -> MixedSource:
    return MixedSource([open_manifest(m) for m in manifests], weights, repeats, seed=seed)


def _sampler(source, **kw) -> ResumableBucketingSampler:
    return ResumableBucketingSampler(
        source, max_duration=60.0, num_buckets=6, seed=3, buffer_size=400, **kw
    )


def _ids(batches) -> list[list[str]]:
    return [[c.id for c in b] for b in batches]


def test_the_mixture_draws_as_lhotse_mux_does() -> None:
    a, b, c = _cuts("a", 300), _cuts("b", 120), _cuts("c", 40)
    ours = MixedSource([ListSource(a), ListSource(b), ListSource(c)], [5, 2, 1], seed=9)
    theirs = CutSet.mux(
        CutSet.from_cuts(a), CutSet.from_cuts(b), CutSet.from_cuts(c), weights=[5, 2, 1], seed=9
    )
    assert [x.id for x in ours] == [x.id for x in theirs]
    # Epoch e draws with seed + e, so epochs interleave differently.
    assert [x.id for x in ours.open(epoch=1)] != [x.id for x in ours]


def test_the_mixing_ratio_over_the_first_200_batches_matches_the_weights(two_manifests) -> None:
    sampler = _sampler(_mix(two_manifests, [3, 1]))
    sampler.set_epoch(1)
    batches = []
    for batch in sampler:
        batches.append(batch)
        if len(batches) == 200:
            break
    assert len(batches) == 200
    for part in (batches[:100], batches[100:]):  # the share holds through the run
        counts = Counter(c.id[0] for b in part for c in b)
        share = counts["a"] / (counts["a"] + counts["b"])
        # 3:1 weights; ~700 cuts per half, so 4 standard deviations are about 0.065.
        assert abs(share - 0.75) < 0.065, counts


def test_a_repeating_source_keeps_its_share_until_the_epoch_ends(two_manifests, tmp_path) -> None:
    small = _write_manifest(tmp_path / "small.jsonl", _cuts("s", 50))
    source = _mix([two_manifests[0], small], [1, 1], [False, True])
    drawn = Counter(c.id[0] for c in source)
    assert drawn["a"] == 3000  # the epoch ends when the non-repeating source runs out
    assert abs(drawn["s"] / 3000 - 1) < 0.1  # about as many draws as "a": 50 cuts, ~60 times
    with pytest.raises(ValueError, match="never end"):
        _mix([small, small], [1, 1], [True, True])


@pytest.mark.parametrize("stop_after", [0, 1, 37, 90])
def test_a_resumed_mixture_yields_the_uninterrupted_batches(small_manifests, stop_after) -> None:
    full = _sampler(_mix(small_manifests, [3, 1], seed=4))
    full.set_epoch(2)
    expected = _ids(full)
    assert sum(len(b) for b in expected) == 800  # every cut exactly once
    assert len(expected) > 100
    first = _sampler(_mix(small_manifests, [3, 1], seed=4))
    first.set_epoch(2)
    it = iter(first)
    head = _ids(next(it) for _ in range(stop_after))
    state = json.loads(json.dumps(first.state_dict()))  # survives a text round trip
    resumed = _sampler(_mix(small_manifests, [3, 1], seed=4))  # a new process: new sources
    resumed.load_state_dict(state)
    assert head + _ids(resumed) == expected
    resumed.set_epoch(3)
    assert sum(len(b) for b in resumed) == 800


def test_a_state_for_other_manifests_is_refused(small_manifests) -> None:
    sampler = _sampler(_mix(small_manifests, [3, 1]))
    next(iter(sampler))
    state = sampler.state_dict()
    other = _sampler(open_manifest(small_manifests[0]))
    with pytest.raises(ValueError, match="was saved reading"):
        other.load_state_dict(state)


class _BoundedSource(CutSource):
    """A source of ``size`` generated cuts that records every index it yields and has no
    ``len()``: a sampler that lists it, or seeks by reading, is caught."""

    name = "bounded"

    def __init__(self, size: int) -> None:
        self.size = size
        self.yielded: list[int] = []

    def __len__(self) -> int:
        raise AssertionError("the sampler asked for the length of the manifest")

    def open(self, state: Any = None, epoch: int = 0) -> CutReader:
        return _BoundedReader(self, int(state or 0))


class _BoundedReader(CutReader):
    def __init__(self, source: _BoundedSource, index: int) -> None:
        self.source, self.index = source, index

    def __next__(self):
        if self.index >= self.source.size:
            raise StopIteration
        self.source.yielded.append(self.index)
        self.index += 1
        return _one(self.index - 1)

    def state(self) -> int:
        return self.index


def _one(i: int):
    cut = dummy_cut(i, duration=1.0 + (i * 7919 % 1500) / 100)
    cut.id = f"x-{i:08d}"
    return cut


def test_the_sampler_never_lists_the_manifest() -> None:
    source = _BoundedSource(10_000_000)  # listing it would take minutes and gigabytes
    sampler = _sampler(source, num_cuts_for_bins_estimate=1000)
    assert len(source.yielded) == 1000  # the bucket edges' estimate
    sampler.set_epoch(1)
    it = iter(sampler)
    batches = [next(it) for _ in range(100)]
    read = len(source.yielded) - 1000
    taken = sum(len(b) for b in batches)
    assert read == 400 + taken  # the buffer, then one cut per cut taken
    state = sampler.state_dict()
    position = state["resume"]["source"]

    source.yielded.clear()
    resumed = _sampler(source, num_cuts_for_bins_estimate=1000)
    resumed.load_state_dict(state)
    assert next(iter(resumed)) is not None
    after_estimate = source.yielded[1000:]
    # The restore reopened the source at its position: nothing before it was read again.
    assert after_estimate and min(after_estimate) == position


def test_a_jsonl_manifest_is_reopened_at_its_byte_offset(two_manifests) -> None:
    source = open_manifest(two_manifests[1])
    reader = source.open()
    head = [next(reader).id for _ in range(1234)]
    state = reader.state()
    assert head[-1] == "b-01233" and state["line"] == 1234
    rest = source.open(state)
    assert next(rest).id == "b-01234"
    assert rest.state()["line"] == 1235
    gz = open_manifest(two_manifests[0])
    reader = gz.open()
    for _ in range(10):
        next(reader)
    assert next(gz.open(reader.state())).id == "a-00010"


def test_a_resume_after_a_repeating_source_started_over(small_manifests) -> None:
    def sampler():
        return _sampler(_mix(small_manifests, [1, 3], [False, True], seed=2))

    full = sampler()
    expected = _ids(full)
    drawn = Counter(cut.split("-")[0] for batch in expected for cut in batch)
    assert drawn["a"] == 500 and drawn["b"] > 2 * 300  # "b" started over at least twice
    first = sampler()
    it = iter(first)
    head = _ids(next(it) for _ in range(150))
    assert sum(c.startswith("b") for batch in head for c in batch) > 300
    resumed = sampler()
    resumed.load_state_dict(json.loads(json.dumps(first.state_dict())))
    assert head + _ids(resumed) == expected


def test_the_trainers_source_reads_only_what_the_sampler_holds(tmp_path) -> None:
    """The trainer's path (open_manifest -> screened -> make_loader) on a JSONL manifest: the
    lines parsed are the bucket estimate, the buffer and the cuts handed out, not the file."""
    from lhotse.testing.dummies import dummy_supervision

    from zipasr.data import AsrDataset, LoaderConfig, SkipReport, make_loader, screened

    cuts = _cuts("u", 5000)
    for i, cut in enumerate(cuts):
        cut.supervisions = [dummy_supervision(i, duration=cut.duration, text="HELLO")]
    manifest = _write_manifest(tmp_path / "big.jsonl", cuts)
    source = open_manifest(manifest)
    parsed = []
    parse = source.parse
    source.parse = lambda item, line: parsed.append(line) or parse(item, line)

    class Tokens:  # the guardrails need a tokenizer: one token per character
        def normalize(self, text):
            return text

        def encode(self, texts):
            return [[1] * len(t) for t in texts]

    dummy = screened(source, Tokens(), SkipReport())
    config = LoaderConfig(max_duration_s=60.0, num_buckets=6, num_workers=0, buffer_size=300)
    _, sampler = make_loader(dummy, AsrDataset(Tokens()), config)
    assert len(parsed) == 5000  # fewer than 10,000 lines: the bucket estimate read them all
    parsed.clear()
    sampler.set_epoch(0)
    it = iter(sampler)
    taken = sum(len(next(it)) for _ in range(10))
    assert len(parsed) == 300 + taken  # the buffer, then a line per utterance handed out
