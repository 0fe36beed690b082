"""The typed mini-batch and the padding collate.

Legend: B utterances, T feature frames (100 Hz) of the longest one, F = 80 mel bins, U_b tokens
of utterance b.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace

import torch
from torch import Tensor

from zipasr.audio import pad_features
from zipasr.data.guardrails import Skip
from zipasr.frontend import FEATURE_FRAME_RATE


@dataclass
class Batch:
    """One mini-batch.

    Attributes:
        features: (B, T, F) float32 log-mel features, padded with ``log(1e-10)``.
        feature_lengths: (B,) int64 valid frames per utterance.
        token_ids: B lists of U_b token ids (no blank, no sos/eos).
        texts: B normalised transcripts.
        ids: B cut ids.
        skipped: utterances the sampler drew for this batch that could not be used, with the
            reason; merge them into a :class:`~zipasr.data.guardrails.SkipReport`. A batch may
            be empty (B = 0) when every utterance in it was skipped.
    """

    features: Tensor
    feature_lengths: Tensor
    token_ids: list[list[int]]
    texts: list[str]
    ids: list[str]
    skipped: list[Skip] = field(default_factory=list)

    def __len__(self) -> int:
        return len(self.ids)

    @property
    def duration_s(self) -> float:
        """Total audio seconds in the batch (sum of valid feature frames at 100 Hz)."""
        return float(self.feature_lengths.sum()) / FEATURE_FRAME_RATE

    def to(self, device: torch.device | str) -> Batch:
        """A copy with the tensors on ``device`` (non-blocking where the memory is pinned)."""
        return replace(
            self,
            features=self.features.to(device, non_blocking=True),
            feature_lengths=self.feature_lengths.to(device, non_blocking=True),
        )

    def padded_token_ids(self, pad_id: int = 0) -> tuple[Tensor, Tensor]:
        """Token ids as a (B, max U_b) int64 tensor padded with ``pad_id``, and (B,) lengths."""
        lengths = torch.tensor([len(t) for t in self.token_ids], dtype=torch.int64)
        out = torch.full((len(self.token_ids), max(lengths.tolist(), default=0)), pad_id)
        for b, ids in enumerate(self.token_ids):
            out[b, : len(ids)] = torch.tensor(ids, dtype=torch.int64)
        return out, lengths


def collate(
    features: list[Tensor],
    token_ids: list[list[int]],
    texts: list[str],
    ids: list[str],
    skipped: list[Skip] | None = None,
) -> Batch:
    """Pads B (T_b, F) feature matrices into a :class:`Batch` (:func:`zipasr.audio.pad_features`,
    which refuses a matrix shorter than the front end's minimum)."""
    padded, lengths = pad_features(features)
    return Batch(padded, lengths, token_ids, texts, ids, list(skipped or []))
