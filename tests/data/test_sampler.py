from __future__ import annotations

import json
import time

import pytest
from lhotse import CutSet
from lhotse.testing.dummies import dummy_cut

from zipasr.data import ResumableBucketingSampler


def _fake_cuts(n: int) -> CutSet:
    """Cuts with durations 1-16 s and recordings that do not exist: the sampler needs neither."""
    return CutSet.from_cuts(dummy_cut(i, duration=1.0 + (i * 7919 % 1500) / 100) for i in range(n))


def _ids(batches) -> list[list[str]]:
    return [[c.id for c in b] for b in batches]


def _sampler(cuts: CutSet, **kw) -> ResumableBucketingSampler:
    return ResumableBucketingSampler(
        cuts, max_duration=60.0, num_buckets=6, seed=3, buffer_size=300, **kw
    )


@pytest.mark.parametrize("stop_after", [0, 1, 7, 40])
def test_resumed_sampler_yields_the_uninterrupted_batches(stop_after: int) -> None:
    cuts = _fake_cuts(1000)
    full = _sampler(cuts)
    full.set_epoch(2)
    expected = _ids(full)
    assert sum(len(b) for b in expected) == 1000  # every cut exactly once
    first = _sampler(cuts)
    first.set_epoch(2)
    it = iter(first)
    head = _ids(next(it) for _ in range(stop_after))
    state = json.loads(json.dumps(first.state_dict()))  # survives a text round trip
    resumed = _sampler(cuts)
    resumed.load_state_dict(state)
    assert head + _ids(resumed) == expected
    resumed.set_epoch(3)  # the next epoch starts fresh
    assert sum(len(b) for b in resumed) == 1000


def test_one_cut_and_no_cuts() -> None:
    # A one-utterance validation set is a real case; lhotse alone cannot bucket one cut.
    one = ResumableBucketingSampler(_fake_cuts(1), max_duration=60.0, seed=3)
    for epoch in (0, 1):
        one.set_epoch(epoch)
        assert _ids(one) == [["dummy-mono-cut-0000"]]
    resumed = ResumableBucketingSampler(_fake_cuts(1), max_duration=60.0, seed=3)
    resumed.load_state_dict(one.state_dict())
    assert _ids(resumed) == []  # the epoch was over
    with pytest.raises(ValueError, match="empty"):
        ResumableBucketingSampler(CutSet.from_cuts([]), max_duration=60.0)


def test_state_of_a_consumed_batch_behind_prefetch() -> None:
    cuts = _fake_cuts(500)
    sampler = _sampler(cuts)
    it = iter(sampler)
    batches = _ids(next(it) for _ in range(10))  # a loader prefetched 10, the loop used 6
    resumed = _sampler(cuts)
    resumed.load_state_dict(sampler.state_dict(batches_consumed=6))
    it = iter(resumed)
    assert _ids(next(it) for _ in range(4)) == batches[6:]
    with pytest.raises(ValueError, match="history"):
        sampler.state_dict(batches_consumed=10_000)


@pytest.mark.parametrize("rank", [0, 1])
def test_resume_of_one_rank_of_two_behind_prefetch(rank: int) -> None:
    """A data-parallel rank saves the position of its own 5th batch, with 3 more prefetched."""
    cuts = _fake_cuts(500)
    full = _ids(_sampler(cuts, world_size=2, rank=rank, drop_last=True))
    sampler = _sampler(cuts, world_size=2, rank=rank, drop_last=True)
    it = iter(sampler)
    for _ in range(8):
        next(it)
    resumed = _sampler(cuts, world_size=2, rank=rank, drop_last=True)
    resumed.load_state_dict(sampler.state_dict(batches_consumed=5))
    assert _ids(resumed) == full[5:]


def test_batches_respect_max_duration() -> None:
    for batch in _sampler(_fake_cuts(2000)):
        assert len(batch) == 1 or sum(c.duration for c in batch) <= 60.0


def test_restore_on_100k_cuts_is_fast_and_does_not_replay() -> None:
    cuts = _fake_cuts(100_000)
    sampler = ResumableBucketingSampler(cuts, max_duration=600.0, seed=0)
    it = iter(sampler)
    for _ in range(1500):  # most of the epoch (~1700 batches)
        next(it)
    state = sampler.state_dict()
    expected = _ids(next(it) for _ in range(5))
    fresh = ResumableBucketingSampler(cuts, max_duration=600.0, seed=0)
    start = time.perf_counter()
    fresh.load_state_dict(state)
    it = iter(fresh)
    resumed = _ids(next(it) for _ in range(5))
    elapsed = time.perf_counter() - start
    print(f"restore at batch 1500 of 100k cuts + 5 batches: {elapsed:.3f} s")
    assert resumed == expected
    assert elapsed < 5.0
