"""Piecewise-linear schedules over an explicit training clock.

The reference recipe changes many regularisation constants during training (dropout rates,
balancer limits, layer-skip rates, ...). It does so with a float-like object whose "batch count"
is set by walking all modules. Here the time is one explicit object, :class:`TrainingClock`,
handed to the modules that schedule something; a :class:`Schedule` is a pure function of it.
"""

from __future__ import annotations

import bisect
from dataclasses import dataclass, field

#: Duration of audio (seconds) in one "reference batch". The recipe's schedules are written in
#: batches of 600 s of audio, so a run with bigger or more batches moves through them faster.
REF_DURATION_S = 600.0


@dataclass
class TrainingClock:
    """The training time that schedules read, counted in reference batches.

    One clock is shared by every module of a model (``model.clock``). The training loop sets it
    once per optimizer step, before the forward pass, with :meth:`set_step`; the trainer
    (``zipasr.train``) calls the same method.
    """

    ref_batches: float = 0.0

    def set_step(
        self,
        steps_taken: int,
        *,
        max_duration_s: float,
        accum_grad: int = 1,
        world_size: int = 1,
        ref_duration_s: float = REF_DURATION_S,
    ) -> None:
        """Sets the clock the way the recipe does: the audio of the steps already taken, in
        reference batches of ``ref_duration_s`` seconds.

        Args:
            steps_taken: optimizer steps completed before the batch about to be trained on, so
                0 for the first batch (the recipe reads the clock before counting the batch).
            max_duration_s: seconds of audio per batch per process (the sampler's budget).
            accum_grad: batches accumulated into each optimizer step.
            world_size: number of data-parallel processes.
            ref_duration_s: seconds of audio per reference batch (the recipe's 600); a short
                run can lower it so that its schedules anneal within the run.

        Example:
            >>> clock = TrainingClock()
            >>> clock.set_step(10, max_duration_s=1000.0, accum_grad=2, world_size=3)
            >>> clock.ref_batches  # 10 steps of 2 x 3 x 1000 s, in 600 s reference batches
            100.0
        """
        if steps_taken < 0 or max_duration_s <= 0 or accum_grad < 1 or world_size < 1:
            raise ValueError(
                f"set_step needs steps_taken >= 0, max_duration_s > 0, accum_grad >= 1 and "
                f"world_size >= 1; got steps_taken={steps_taken}, "
                f"max_duration_s={max_duration_s}, accum_grad={accum_grad}, "
                f"world_size={world_size}"
            )
        if ref_duration_s <= 0:
            raise ValueError(f"ref_duration_s={ref_duration_s} must be > 0 seconds")
        audio_per_step_s = max_duration_s * accum_grad * world_size
        self.ref_batches = steps_taken * audio_per_step_s / ref_duration_s


@dataclass(frozen=True)
class Schedule:
    """A piecewise-linear function of the training clock, constant beyond its end points.

    ``Schedule((0, 0.3), (20000, 0.1))`` goes from 0.3 at reference batch 0 to 0.1 at 20000.
    ``default`` is the value used in eval mode (training-only knobs are 0 there).

    Example:
        >>> s = Schedule((0.0, 0.3), (20000.0, 0.1))
        >>> s(TrainingClock(10000.0))
        0.2
    """

    points: tuple[tuple[float, float], ...] = field(default=())
    default: float = 0.0

    def __init__(self, *points: tuple[float, float], default: float = 0.0) -> None:
        if not points:
            raise ValueError("a Schedule needs at least one (ref_batches, value) point")
        xs = [float(x) for x, _ in points]
        if any(b < a for a, b in zip(xs, xs[1:])):
            raise ValueError(f"Schedule points must be sorted by ref_batches; got {points}")
        object.__setattr__(self, "points", tuple((float(x), float(y)) for x, y in points))
        object.__setattr__(self, "default", float(default))

    @classmethod
    def constant(cls, value: float) -> Schedule:
        """A schedule that is ``value`` always, in training and in eval."""
        return cls((0.0, value), default=value)

    def at(self, ref_batches: float) -> float:
        """The value at ``ref_batches`` reference batches of training."""
        xs = [x for x, _ in self.points]
        if ref_batches <= xs[0]:
            return self.points[0][1]
        if ref_batches >= xs[-1]:
            return self.points[-1][1]
        i = bisect.bisect_right(xs, ref_batches)
        (x0, y0), (x1, y1) = self.points[i - 1], self.points[i]
        return y0 + (ref_batches - x0) * (y1 - y0) / (x1 - x0)

    def __call__(self, clock: TrainingClock) -> float:
        return self.at(clock.ref_batches)


def as_schedule(value: float | Schedule) -> Schedule:
    """Accepts a plain number where a schedule is expected."""
    return value if isinstance(value, Schedule) else Schedule.constant(float(value))
