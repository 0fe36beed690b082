"""Progress output: a live bar on a terminal, plain periodic lines in a log file."""

from __future__ import annotations

import io
from pathlib import Path

from zipasr.train.report import Reporter


class _Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def _run(stream: io.StringIO, tmp_path: Path, steps: int = 7) -> str:
    reporter = Reporter(tmp_path, steps, 0, True, log_every_steps=3, stream=stream)
    reporter.message("starting")
    for step in range(1, steps + 1):
        reporter.step(step, {"loss": 1.0 / step}, {"epoch": "1", "loss": f"{1.0 / step:.3f}"})
    reporter.close()
    return stream.getvalue()


def test_without_a_terminal_one_line_every_log_every_steps(tmp_path: Path) -> None:
    out = _run(io.StringIO(), tmp_path)
    assert "\r" not in out
    assert out.splitlines() == [
        "starting",
        "step 3/7: epoch 1 loss 0.333",
        "step 6/7: epoch 1 loss 0.167",
        "step 7/7: epoch 1 loss 0.143",  # and the last step
    ]


def test_on_a_terminal_a_progress_bar(tmp_path: Path) -> None:
    out = _run(_Terminal(), tmp_path)
    assert "\r" in out and "7/7" in out and "starting" in out
