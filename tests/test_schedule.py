"""Schedules over the explicit training clock."""

from __future__ import annotations

import pytest

from zipasr.schedule import Schedule, TrainingClock


def test_schedule_is_piecewise_linear_and_clamped():
    s = Schedule((0.0, 0.3), (20000.0, 0.1), default=0.05)
    assert s.at(-5) == 0.3 and s.at(10000) == pytest.approx(0.2) and s.at(1e9) == 0.1
    clock = TrainingClock()
    clock.set_step(2000, max_duration_s=1200, world_size=5)
    assert clock.ref_batches == 20000.0 and s(clock) == 0.1
    with pytest.raises(ValueError, match="sorted"):
        Schedule((10.0, 1.0), (0.0, 2.0))
