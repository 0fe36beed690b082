"""Transducer, CTC, CR-CTC and attention-decoder losses in pure PyTorch (no k2, no torchaudio
at runtime).

Legend: B batch, T frames, U = S tokens, V vocabulary, R = prune_range, J joiner dim.

The k2-compatible functions keep k2's names and arguments, so icefall's ``model.py`` calls work
unchanged: ``rnnt_loss_smoothed`` -> ``get_rnnt_prune_ranges`` -> ``do_rnnt_pruning`` -> joiner ->
``rnnt_loss_pruned``. ``pruned_rnnt_losses`` runs that pipeline from lengths in one call.
"""

from zipasr.losses.checks import NonFiniteLossError, boundary_from_lengths
from zipasr.losses.consistency import cr_ctc_consistency
from zipasr.losses.ctc import ctc_loss
from zipasr.losses.label_smoothing import label_smoothing_loss
from zipasr.losses.lattice import lattice_score
from zipasr.losses.pipeline import PrunedRnntLosses, pruned_rnnt_losses
from zipasr.losses.pruning import do_rnnt_pruning, get_rnnt_prune_ranges
from zipasr.losses.rnnt import rnnt_loss, rnnt_loss_pruned, rnnt_loss_simple, rnnt_loss_smoothed
from zipasr.losses.schedule import LossScales, LossWeights

__all__ = [
    "LossScales",
    "LossWeights",
    "NonFiniteLossError",
    "PrunedRnntLosses",
    "boundary_from_lengths",
    "cr_ctc_consistency",
    "ctc_loss",
    "do_rnnt_pruning",
    "get_rnnt_prune_ranges",
    "label_smoothing_loss",
    "lattice_score",
    "pruned_rnnt_losses",
    "rnnt_loss",
    "rnnt_loss_pruned",
    "rnnt_loss_simple",
    "rnnt_loss_smoothed",
]
