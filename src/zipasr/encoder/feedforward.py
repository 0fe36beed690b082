"""The feed-forward module: Linear -> SwooshL -> (dropout) -> Linear."""

from __future__ import annotations

from torch import Tensor, nn

from zipasr.nn.activations import swoosh_l
from zipasr.nn.scaled_init import scaled_linear
from zipasr.regularizers import Balancer, SharedDropout, Whiten
from zipasr.regularizers.whiten import whitening_schedule
from zipasr.schedule import Schedule, TrainingClock

#: The recipe's feed-forward dropout: 0.3 at the start of training, 0.1 after 20k batches.
FEEDFORWARD_DROPOUT = Schedule((0.0, 0.3), (20000.0, 0.1))


class FeedForward(nn.Module):
    """Position-wise feed-forward with SwooshL.

    Args:
        dim: C.
        hidden: D.
        dropout: dropout on the hidden activations, with one mask for all frames (training).

    Shapes:
        x: (T, B, C) -> (T, B, C)
    """

    def __init__(
        self,
        dim: int,
        hidden: int,
        clock: TrainingClock,
        dropout: float | Schedule = FEEDFORWARD_DROPOUT,
    ) -> None:
        super().__init__()
        self.in_proj = nn.Linear(dim, hidden)
        self.out_proj = scaled_linear(hidden, dim, initial_scale=0.1)
        self.hidden_balancer = Balancer(
            hidden, -1, min_positive=0.3, max_positive=1.0, min_abs=0.75, max_abs=5.0, clock=clock
        )
        self.dropout = SharedDropout(dropout, 0, clock)
        self.whiten = Whiten(1, whitening_schedule(7.5), grad_scale=0.01, clock=clock)

    def forward(self, x: Tensor) -> Tensor:
        h = swoosh_l(self.hidden_balancer(self.in_proj(x)))
        return self.whiten(self.out_proj(self.dropout(h)))
