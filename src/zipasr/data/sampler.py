"""lhotse's DynamicBucketingSampler over a lazy source, with a resume that restores in O(1).

lhotse's own ``load_state_dict`` fast-forwards: it re-runs the epoch's sampling up to the saved
batch count, which takes time proportional to how far the epoch had got. Here the bucketer's live
state is saved instead: the source's position (for a JSONL manifest, a byte offset), the cuts that
sit in each bucket, and the RNG states. Restoring reopens the source at its position, refills the
buckets and carries on; the cost is bounded by ``buffer_size``, not by the position in the epoch.

The source is a :class:`~zipasr.data.sources.CutSource` (a manifest read line by line, a
weighted mixture of several, or cuts in memory): the sampler never lists it. It reads the first
``num_cuts_for_bins_estimate`` cuts to place the bucket edges, then holds at most
``buffer_size`` cuts at a time.

The sampling algorithm is lhotse's (bucket choice, in-bucket shuffling, duration batching, all
reused from lhotse), with one difference: lhotse closes a batch after the cut that overflows it,
so a batch can exceed ``max_duration`` by up to one cut; here that cut goes back to its bucket,
so every batch of two or more cuts sums to at most ``max_duration`` seconds.
"""

from __future__ import annotations

import random
import warnings
from collections import deque
from collections.abc import Iterable, Iterator
from itertools import islice
from typing import Any

import torch
from lhotse import CutSet
from lhotse.cut import Cut
from lhotse.dataset.dataloading import resolve_seed
from lhotse.dataset.sampling.base import TimeConstraint
from lhotse.dataset.sampling.dynamic import DurationBatcher
from lhotse.dataset.sampling.dynamic_bucketing import (
    BucketSelectionState,
    DynamicBucketer,
    DynamicBucketingSampler,
    estimate_duration_buckets,
    pick_at_random,
)
from lhotse.serialization import deserialize_item

from zipasr.data.sources import CutReader, CutSource, IterableSource, ListSource, as_rng_state

_BUCKET_SEED = 1234  # lhotse's fixed seed for bucket selection, kept so DDP ranks stay in sync


def as_source(cuts: CutSet | CutSource | Iterable[Cut]) -> CutSource:
    """A :class:`CutSource` for what the sampler is given: a source as is, an eager CutSet or a
    list in memory, any other iterable (a lazy CutSet) read again each epoch."""
    if isinstance(cuts, CutSource):
        return cuts
    if isinstance(cuts, CutSet) and not cuts.is_lazy or isinstance(cuts, list | tuple):
        return ListSource(cuts)
    return IterableSource(cuts)


class _ResumableBucketer(DynamicBucketer):
    """lhotse's DynamicBucketer reading a source, with ``snapshot()``/``restore()``."""

    def __init__(self, reader: CutReader, **kwargs: Any) -> None:
        super().__init__(reader, **kwargs)
        self.reader = reader
        self.selection = BucketSelectionState(self.bucket_rng, len(self.buckets), self.world_size)
        self.restored = False

    def snapshot(self) -> dict[str, Any]:
        """The state after the last yielded batch (cheap: references, not copies of cuts)."""
        return {
            "source": self.reader.state(),
            "buckets": [list(b.queue) for b in self.buckets],
            "rng": self.rng.getstate(),
            "selection": self.selection.save() if self.bucket_rng is not None else None,
        }

    def restore(self, state: dict[str, Any]) -> None:
        """Refills the buckets and the RNGs from a :meth:`snapshot` (cuts as dicts); the
        reader was opened at ``state["source"]``."""
        for bucket, cuts in zip(self.buckets, state["buckets"], strict=True):
            for cut in cuts:
                bucket.put(deserialize_item(dict(cut)))
        self.rng.setstate(as_rng_state(state["rng"]))
        if state["selection"] is not None:
            self.selection.restore(
                {
                    **state["selection"],
                    "_bucket_rng": as_rng_state(state["selection"]["_bucket_rng"]),
                }
            )
        self.restored = state["batches"] > 0  # a state taken before the first batch starts anew

    def __iter__(self) -> Iterator[CutSet]:
        self.cuts_iter = self.reader
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
                taken = sorted(used[: len(cuts)] if self.shuffle else range(len(cuts)))
                with bucket.mutex:
                    for index in reversed(taken):
                        del bucket.queue[index]
                self._collect_cuts_in_buckets(len(cuts))
                yield CutSet.from_cuts(cuts)
        except StopIteration:
            return


class ResumableBucketingSampler(DynamicBucketingSampler):
    """Duration-bucketed dynamic batches (lhotse) whose ``state_dict()`` restores in O(1).

    Args:
        cuts: the utterances: a :class:`~zipasr.data.sources.CutSource` (a lazy manifest,
            a mixture; never listed), an eager CutSet (held as a list), or a lazy CutSet (read
            again each epoch; its resume skips the cuts before the position).
        max_duration: seconds of audio per batch (sum over the batch's utterances).
        num_buckets: duration buckets (ignored when ``duration_bins`` is given).
        shuffle: shuffle within buckets, reseeded per epoch from ``seed + epoch`` (a mixture's
            draws too).
        history: how many recent batches' states to keep, so that a training loop behind a
            prefetching DataLoader can save the state of the last batch it consumed
            (``state_dict(batches_consumed=n)``).
        **kwargs: passed on to lhotse's ``DynamicBucketingSampler`` (``buffer_size``,
            ``duration_bins``, ``num_cuts_for_bins_estimate``, ``drop_last``, ``world_size``,
            ``rank``, ``max_cuts`` ...).
    """

    def __init__(
        self,
        cuts: CutSet | CutSource | Iterable[Cut],
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
        self.source = as_source(cuts)
        if isinstance(self.source, ListSource):
            if len({c.id for c in self.source.cuts}) != len(self.source):
                raise ValueError("cuts has duplicate ids; give every utterance a unique id")
        if kwargs.get("duration_bins") is None:
            kwargs["duration_bins"] = self._estimate_bins(
                max(2, num_buckets),
                kwargs.get("num_cuts_for_bins_estimate", 10000),
                TimeConstraint(
                    max_duration=max_duration,
                    max_cuts=kwargs.get("max_cuts"),
                    quadratic_duration=kwargs.get("quadratic_duration"),
                ),
            )
        super().__init__(
            self.source, max_duration=max_duration, shuffle=shuffle, seed=seed, **kwargs
        )
        self._bucketer: _ResumableBucketer | None = None
        self._batches = 0  # batches drawn from the bucketer this epoch
        self._history: deque[tuple[int, dict[str, Any]]] = deque(maxlen=max(1, history))

    def _estimate_bins(self, num_buckets: int, num_cuts: int, constraint) -> list[float]:
        """lhotse's bucket edges from the source's first ``num_cuts`` cuts (the only cuts read
        before the first batch)."""
        first = list(islice(self.source, num_cuts))
        if not first:
            raise ValueError(f"{self.source.name} is empty: there is nothing to sample")
        if len(first) == 1:  # lhotse estimates edges from two cuts or more
            return [first[0].duration]
        num_buckets = min(num_buckets, len(first))
        return list(
            estimate_duration_buckets(first, num_buckets=num_buckets, constraint=constraint)
        )

    def _new_bucketer(self, source_state: Any = None) -> _ResumableBucketer:
        self.rng = random.Random(resolve_seed(self.seed) + self.epoch)
        bucket_rng = None
        if self.sync_buckets:
            info = torch.utils.data.get_worker_info()
            bucket_rng = random.Random(_BUCKET_SEED + (info.id if info is not None else 0))
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # lhotse's buffer-size heuristic; see buffer_size
            return _ResumableBucketer(
                self.source.open(source_state, epoch=self.epoch),
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
        YAML it. It holds the cuts waiting in the buckets (at most ``buffer_size``, as dicts)
        and the source's position, never the source.

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
            "reading": self.source.name,
            "batches": wanted,
            "source": snap["source"],
            "buckets": [[c.to_dict() for c in b] for b in snap["buckets"]],
            "rng": snap["rng"],
            "selection": snap["selection"],
        }
        return sd

    def load_state_dict(self, sd: dict[str, Any]) -> None:
        """Restores a :meth:`state_dict` without replaying the epoch: the source reopens at its
        saved position and the buckets are refilled from the state."""
        sd = dict(sd)
        resume = sd.pop("resume", None)
        if resume is not None and "source" not in resume:
            raise ValueError(
                "this sampler state was saved by an older zipasr (bucket positions, not cuts); "
                "resume from a checkpoint written at the end of an epoch, or start the run anew"
            )
        if resume is not None and resume.get("reading", self.source.name) != self.source.name:
            raise ValueError(
                f"this sampler state was saved reading {resume['reading']}, but the sampler "
                f"now reads {self.source.name}; resume with the same manifests (and weights), "
                "or from a checkpoint written at the end of an epoch"
            )
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
        self._bucketer = self._new_bucketer(resume["source"])
        self._bucketer.restore(resume)
        self._batches = resume["batches"]
        self._history.append((self._batches, self._bucketer.snapshot()))
        self.cuts_iter = iter(self._bucketer)
