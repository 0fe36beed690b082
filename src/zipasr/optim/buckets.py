"""Buckets: the parameters of one group that share dtype and shape.

ScaledAdam treats each bucket as one stacked tensor with a leading member axis, so its state is
stored once per bucket (in the state slot of the bucket's first parameter), exactly where the
reference implementation keeps it. That layout is what makes icefall optimizer checkpoints load.
"""

from __future__ import annotations

from dataclasses import dataclass

from torch import Tensor

BucketKey = tuple  # (str(dtype), *shape)


@dataclass(frozen=True)
class Bucket:
    """Same-dtype, same-shape parameters of one group, in their order within the group.

    ``key`` is ``(str(dtype), *shape)``; ``names`` are for diagnostics and error messages only.
    """

    key: BucketKey
    params: tuple[Tensor, ...]
    names: tuple[str, ...]

    @property
    def is_scalar(self) -> bool:
        """True if every member has exactly one element (these get no RMS scaling)."""
        return self.params[0].numel() == 1

    @property
    def stacked_shape(self) -> tuple[int, ...]:
        """Shape of the bucket's state tensors: (num_members, *param_shape)."""
        return (len(self.params), *self.params[0].shape)


def make_buckets(params: list[Tensor], names: list[str]) -> list[Bucket]:
    """Groups ``params`` by (dtype, shape), in ascending order of the key tuple.

    The order is the reference's; it decides which bucket is "first" (the one that holds the
    gradient-clipping history) and which parameter's state slot holds each bucket's state.
    """
    assert len(params) == len(names), (len(params), len(names))
    members: dict[BucketKey, list[int]] = {}
    for i, p in enumerate(params):
        members.setdefault((str(p.dtype), *p.shape), []).append(i)
    return [
        Bucket(key, tuple(params[i] for i in idx), tuple(names[i] for i in idx))
        for key, idx in sorted(members.items(), key=lambda item: item[0])
    ]
