"""What a run shows while it trains: progress, TensorBoard scalars, a final curve PNG.

On a terminal, progress is a live tqdm bar. When the output is not a terminal (a log file, CI,
``nohup``), a bar would write a carriage-return update per step into the file, so the reporter
writes one plain line every ``log_every_steps`` steps instead.
"""

from __future__ import annotations

import logging
import sys
from pathlib import Path
from typing import Any, TextIO

log = logging.getLogger(__name__)


class Reporter:
    """Progress reporting on the main process (every method is a no-op elsewhere).

    Args:
        exp_dir: TensorBoard logs go to ``exp_dir/tensorboard``.
        total_steps: the run's length in steps (None: unknown).
        initial_step: where a resumed run starts.
        enabled: False on processes other than rank 0.
        log_every_steps: period of the progress lines when ``stream`` is not a terminal.
        stream: where progress goes (stderr).
    """

    def __init__(
        self,
        exp_dir: Path,
        total_steps: int | None,
        initial_step: int,
        enabled: bool,
        log_every_steps: int = 50,
        stream: TextIO | None = None,
    ) -> None:
        self.enabled = enabled
        self.total_steps = total_steps
        self.log_every_steps = log_every_steps
        self.stream = stream if stream is not None else sys.stderr
        self.bar: Any = None
        self.writer: Any = None
        if not enabled:
            return
        if self.stream.isatty():
            from tqdm import tqdm

            self.bar = tqdm(
                total=total_steps,
                initial=initial_step,
                unit="step",
                dynamic_ncols=True,
                file=self.stream,
            )
        from torch.utils.tensorboard import SummaryWriter  # the train extra's tensorboard

        self.writer = SummaryWriter(str(exp_dir / "tensorboard"))

    def step(self, step: int, scalars: dict[str, float], postfix: dict[str, str]) -> None:
        """One optimizer step done: show progress and log ``scalars`` under ``train/``."""
        if not self.enabled:
            return
        if self.bar is not None:
            self.bar.set_postfix(postfix, refresh=False)
            self.bar.update(1)
        elif step % self.log_every_steps == 0 or step == self.total_steps:
            of = f"/{self.total_steps}" if self.total_steps is not None else ""
            fields = " ".join(f"{k} {v}" for k, v in postfix.items())
            self._line(f"step {step}{of}: {fields}")
        if self.writer is not None:
            for name, value in scalars.items():
                self.writer.add_scalar(f"train/{name}", value, step)

    def scalar(self, name: str, value: float, step: int) -> None:
        if self.enabled and self.writer is not None:
            self.writer.add_scalar(name, value, step)

    def message(self, text: str) -> None:
        """A line of its own (above the bar, if there is one): the trainer's only prints."""
        if self.enabled:
            self._line(text)

    def _line(self, text: str) -> None:
        if self.bar is not None:
            self.bar.write(text, file=self.stream)
        else:
            print(text, file=self.stream, flush=True)

    def close(self) -> None:
        if self.enabled:
            if self.bar is not None:
                self.bar.close()
            if self.writer is not None:
                self.writer.close()


def plot_curve(
    train: list[tuple[int, float]],
    valid: list[tuple[int, float]],
    path: Path,
    valid_wer: list[tuple[int, float]] | None = None,
) -> Path:
    """Writes training (and validation) loss per frame against steps as a PNG, with the
    validation error rate (%) on a second axis if there is one."""
    import matplotlib  # the train extra's

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7, 4))
    if train:
        ax.plot(*zip(*train), label="train", linewidth=1)
    if valid:
        ax.plot(*zip(*valid), "o-", label="validation")
    ax.set_xlabel("optimizer step")
    ax.set_ylabel("loss per encoder frame")
    ax.set_yscale("log")
    ax.grid(alpha=0.3)
    handles, labels = ax.get_legend_handles_labels()
    if valid_wer:
        rate = ax.twinx()
        (line,) = rate.plot(*zip(*valid_wer), "s--", color="tab:red", label="validation WER")
        rate.set_ylabel("validation error rate (%)")
        rate.set_ylim(bottom=0)
        handles.append(line)
        labels.append(line.get_label())
    ax.legend(handles, labels)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path
