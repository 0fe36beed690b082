"""lhotse's DynamicBucketingSampler with a resume position that restores in O(1).

lhotse's own ``load_state_dict`` fast-forwards: it re-runs the epoch's sampling up to the saved
batch count, which takes time proportional to how far the epoch had got. Here the bucketer's live
state is saved instead: the source position, which source items sit in each bucket, and the RNG
states. Restoring rebuilds the buckets from the (indexable) source and carries on; the cost is
bounded by ``buffer_size``, not by the position in the epoch.

The sampling algorithm is lhotse's (bucket choice, in-bucket shuffling, duration batching, all
reused from lhotse), with one difference: lhotse closes a batch after the cut that overflows it,
so a batch can exceed ``max_duration`` by up to one cut; here that cut goes back to its bucket,
so every batch of two or more cuts sums to at most ``max_duration`` seconds.
"""

from __future__ import annotations

import random
import warnings
from collections import deque
from collections.abc import Iterator
from typing import Any

import torch
from lhotse import CutSet
from lhotse.cut import Cut
from lhotse.dataset.dataloading import resolve_seed
from lhotse.dataset.sampling.dynamic import DurationBatcher
from lhotse.dataset.sampling.dynamic_bucketing import (
    BucketSelectionState,
    DynamicBucketer,
    DynamicBucketingSampler,
    pick_at_random,
)

_BUCKET_SEED = 1234  # lhotse's fixed seed for bucket selection, kept so DDP ranks stay in sync


class _ResumableBucketer(DynamicBucketer):
    """lhotse's DynamicBucketer over an indexable source, with ``snapshot()``/``restore()``."""

    def __init__(self, source: list[Cut], position_of: dict[str, int], **kwargs: Any) -> None:
        super().__init__(source, **kwargs)
        self._source = source
        self._position_of = position_of
        self.position = 0  # next source index to read into the buckets
        self.selection = BucketSelectionState(self.bucket_rng, len(self.buckets), self.world_size)
        self.restored = False

    def _read_source(self) -> Iterator[Cut]:
        while self.position < len(self._source):
            self.position += 1
            yield self._source[self.position - 1]

    def snapshot(self) -> dict[str, Any]:
        """The state after the last yielded batch (cheap: references, not copies of cuts)."""
        return {
            "position": self.position,
            "buckets": [list(b.queue) for b in self.buckets],
            "rng": self.rng.getstate(),
            "selection": self.selection.save() if self.bucket_rng is not None else None,
        }

    def restore(self, state: dict[str, Any]) -> None:
        self.position = state["position"]
        for bucket, positions in zip(self.buckets, state["buckets"], strict=True):
            for p in positions:
                bucket.put(self._source[p])
        self.rng.setstate(_as_rng_state(state["rng"]))
        if state["selection"] is not None:
            self.selection.restore(
                {
                    **state["selection"],
                    "_bucket_rng": _as_rng_state(state["selection"]["_bucket_rng"]),
                }
            )
        self.restored = self.position > 0  # a state taken before the first batch starts anew

    def __iter__(self) -> Iterator[CutSet]:
        self.cuts_iter = self._read_source()
        if not self.restored:
            self._collect_cuts_in_buckets(self.buffer_size)
        try:
            while True:
                bucket = self._select_bucket(self.selection)
                used: list[int] = []
                items = (
                    pick_at_random(bucket, rng=self.rng, out_indexes_used=used)
                    if self.shuffle
                    else list(bucket.queue)
                )
                batcher = DurationBatcher(
                    items, constraint=self.constraint.copy(), diagnostics=self.diagnostics
                )
                cuts = list(next(iter(batcher)))
                total = sum(c.duration for c in cuts)
                if len(cuts) > 1 and self.max_duration is not None and total > self.max_duration:
                    cuts.pop()  # lhotse's overflowing cut stays in its bucket
                taken = {c.id for c in cuts}
                with bucket.mutex:
                    bucket.queue = deque(c for c in bucket.queue if c.id not in taken)
                self._collect_cuts_in_buckets(len(cuts))
                yield CutSet.from_cuts(cuts)
        except StopIteration:
            return


def _as_rng_state(state: Any) -> tuple:
    """random.Random states survive a JSON/YAML round trip as lists; setstate needs tuples."""
    version, internal, gauss = state
    return (version, tuple(internal), gauss)


class ResumableBucketingSampler(DynamicBucketingSampler):
    """Duration-bucketed dynamic batches (lhotse) whose ``state_dict()`` restores in O(1).

    Args:
        cuts: the utterances; they are held in memory as a list so that a resume can index them.
        max_duration: seconds of audio per batch (sum over the batch's utterances).
        num_buckets: duration buckets (ignored when ``duration_bins`` is given).
        shuffle: shuffle within buckets, reseeded per epoch from ``seed + epoch``.
        history: how many recent batches' states to keep, so that a training loop behind a
            prefetching DataLoader can save the state of the last batch it consumed
            (``state_dict(batches_consumed=n)``).
        **kwargs: passed on to lhotse's ``DynamicBucketingSampler`` (``buffer_size``,
            ``duration_bins``, ``drop_last``, ``world_size``, ``rank``, ``max_cuts`` ...).
    """

    def __init__(
        self,
        cuts: CutSet,
        *,
        max_duration: float,
        num_buckets: int = 30,
        shuffle: bool = True,
        seed: int = 0,
        history: int = 64,
        **kwargs: Any,
    ) -> None:
        if max_duration <= 0:
            raise ValueError(f"max_duration={max_duration} s; pass a positive number of seconds")
        self._source = list(cuts)
        self._position_of = {c.id: i for i, c in enumerate(self._source)}
        if len(self._position_of) != len(self._source):
            raise ValueError("cuts has duplicate ids; give every utterance a unique id")
        if not self._source:
            raise ValueError("cuts is empty: there is nothing to sample")
        if len(self._source) == 1 and kwargs.get("duration_bins") is None:
            # lhotse estimates bucket edges from two cuts or more; one cut gets one edge.
            kwargs["duration_bins"] = [self._source[0].duration]
        num_buckets = max(2, min(num_buckets, len(self._source)))
        with warnings.catch_warnings():  # lhotse warns about eager CutSets; we index ours
            warnings.simplefilter("ignore")
            super().__init__(
                CutSet.from_cuts(self._source),
                max_duration=max_duration,
                num_buckets=num_buckets,
                shuffle=shuffle,
                seed=seed,
                **kwargs,
            )
        self._bucketer: _ResumableBucketer | None = None
        self._batches = 0  # batches drawn from the bucketer this epoch
        self._history: deque[tuple[int, dict[str, Any]]] = deque(maxlen=max(1, history))

    def _new_bucketer(self) -> _ResumableBucketer:
        self.rng = random.Random(resolve_seed(self.seed) + self.epoch)
        bucket_rng = None
        if self.sync_buckets:
            info = torch.utils.data.get_worker_info()
            bucket_rng = random.Random(_BUCKET_SEED + (info.id if info is not None else 0))
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # lhotse's buffer-size heuristic; see buffer_size
            return _ResumableBucketer(
                self._source,
                self._position_of,
                duration_bins=self.duration_bins,
                world_size=self.world_size,
                max_duration=self.max_duration,
                max_cuts=self.max_cuts,
                drop_last=self.drop_last,
                buffer_size=self.buffer_size,
                quadratic_duration=self.quadratic_duration,
                shuffle=self.shuffle,
                rng=self.rng,
                bucket_rng=bucket_rng,
                diagnostics=self.diagnostics,
            )

    def __iter__(self) -> ResumableBucketingSampler:
        if self._just_restored_state:
            return self
        self.diagnostics.reset_current_epoch()
        self._bucketer = self._new_bucketer()
        self._batches = 0
        self._history.clear()
        self._history.append((0, self._bucketer.snapshot()))
        self.cuts_iter = iter(self._bucketer)
        return self

    def _next_batch(self) -> CutSet:
        batch = next(self.cuts_iter)
        self._batches += 1
        assert self._bucketer is not None
        self._history.append((self._batches, self._bucketer.snapshot()))
        return batch

    def state_dict(self, batches_consumed: int | None = None) -> dict[str, Any]:
        """The state after the last batch drawn, or after this process's batch ``batches_consumed``
        of this epoch (one of the last ``history`` batches). Plain Python types; torch.save or
        YAML it.

        With ``world_size`` W, every process draws W batches per batch it yields (lhotse's
        scheme: all ranks see the same sequence and take their own), so its n-th batch is the
        state after n * W draws, the same state on every rank.
        """
        sd = super().state_dict()
        if not self._history:
            sd["resume"] = None
            return sd
        wanted = self._batches if batches_consumed is None else batches_consumed * self.world_size
        found = [s for n, s in self._history if n == wanted]
        if not found:
            kept = [n for n, _ in self._history]
            raise ValueError(
                f"batches_consumed={wanted} is not among the last {len(kept)} batches "
                f"({kept[0]}..{kept[-1]}); raise history= to at least the loader's prefetch depth"
            )
        snap = found[0]
        sd["resume"] = {
            "batches": wanted,
            "position": snap["position"],
            "buckets": [[self._position_of[c.id] for c in b] for b in snap["buckets"]],
            "rng": snap["rng"],
            "selection": snap["selection"],
        }
        return sd

    def load_state_dict(self, sd: dict[str, Any]) -> None:
        """Restores a :meth:`state_dict` without replaying the epoch."""
        sd = dict(sd)
        resume = sd.pop("resume", None)
        for key in ("max_duration", "max_cuts", "consistent_ids", "buffer_size"):
            setattr(self, key, sd.pop(key))
        self.num_cuts_for_bins_estimate = sd.pop("num_cuts_for_bins_estimate")
        self.quadratic_duration = sd.pop("quadratic_duration", None)
        super(DynamicBucketingSampler, self).load_state_dict(sd)  # CutSampler's: no fast-forward
        self._history.clear()
        if resume is None:
            self.allow_iter_to_reset_state()
            return
        self.diagnostics.set_epoch(self.epoch)
        self._bucketer = self._new_bucketer()
        self._bucketer.restore(resume)
        self._batches = resume["batches"]
        self._history.append((self._batches, self._bucketer.snapshot()))
        self.cuts_iter = iter(self._bucketer)
