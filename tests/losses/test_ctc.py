"""CTC: torch's loss with the recipe's reduction, computed in float32."""

from __future__ import annotations

import torch
import torch.nn.functional as F

from zipasr.losses import ctc_loss


def test_matches_torch_with_recipe_defaults():
    gen = torch.Generator().manual_seed(0)
    log_probs = torch.randn(20, 3, 8, generator=gen).log_softmax(-1)
    lengths = torch.tensor([20, 15, 9])
    target_lengths = torch.tensor([6, 4, 3])
    targets = torch.randint(1, 8, (3, 6), generator=gen)
    loss = ctc_loss(log_probs, targets, lengths, target_lengths)
    expected = F.ctc_loss(log_probs, targets, lengths, target_lengths, blank=0, reduction="sum")
    torch.testing.assert_close(loss, expected, rtol=0.0, atol=0.0)
    flat = torch.cat([targets[b, :n] for b, n in enumerate(target_lengths.tolist())])
    torch.testing.assert_close(ctc_loss(log_probs, flat, lengths, target_lengths), loss)
    none = ctc_loss(log_probs, targets, lengths, target_lengths, reduction="none")
    assert none.shape == (3,)


def test_autocast_bfloat16_computes_in_float32():
    gen = torch.Generator().manual_seed(1)
    logits = torch.randn(12, 2, 6, generator=gen)
    targets = torch.tensor([[1, 2, 3], [4, 5, 0]])
    args = (targets, torch.tensor([12, 10]), torch.tensor([3, 2]))
    expected = ctc_loss(logits.log_softmax(-1), *args)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        got = ctc_loss(logits.log_softmax(-1), *args)
    assert got.dtype == torch.float32
    torch.testing.assert_close(got, expected)
