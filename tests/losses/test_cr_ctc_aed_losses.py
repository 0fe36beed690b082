"""The CR-CTC consistency term and the attention decoder's label-smoothed loss: properties (the
reference's values on a whole model are in tests/models/test_aed_parity.py)."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from zipasr.losses import cr_ctc_consistency, label_smoothing_loss


def test_consistency_is_a_masked_kl_between_the_views():
    gen = torch.Generator().manual_seed(0)
    lp = torch.randn(4, 6, 5, generator=gen).log_softmax(-1)
    lengths = torch.tensor([6, 3, 6, 3])
    same = torch.cat([lp[:2], lp[:2]])
    assert cr_ctc_consistency(same, lengths).item() == pytest.approx(0.0, abs=1e-6)
    value = cr_ctc_consistency(lp, lengths)
    # By hand: row b's target is row (b + 2) % 4; frames past each length do not count.
    expected = 0.0
    for b in range(4):
        p, q = lp[(b + 2) % 4, : lengths[b]], lp[b, : lengths[b]]
        expected += float((p.exp() * (p - q)).sum())
    assert value.item() == pytest.approx(expected, rel=1e-5)
    changed = lp.clone()
    changed[1, 4:] = 0.0  # padding of row 1
    assert cr_ctc_consistency(changed, lengths).item() == pytest.approx(expected, rel=1e-5)
    assert cr_ctc_consistency(lp, lengths, reduction="none").shape == (4, 6, 5)


def test_consistency_trains_each_view_towards_the_other_not_the_target():
    gen = torch.Generator().manual_seed(1)
    logits = torch.randn(2, 4, 3, generator=gen, requires_grad=True)
    lp = logits.log_softmax(-1)
    cr_ctc_consistency(lp, torch.tensor([4, 4])).backward()
    # d/dq of sum p (log p - log q) with p detached: the gradient exists for both rows (each
    # is the other's target only through a detached copy), and moves q towards p.
    assert logits.grad is not None and bool((logits.grad.abs().sum(dim=(1, 2)) > 0).all())


def test_consistency_rejects_an_odd_batch():
    with pytest.raises(ValueError, match="two views"):
        cr_ctc_consistency(torch.zeros(3, 2, 2), torch.tensor([2, 2, 2]))


def test_label_smoothing_loss():
    gen = torch.Generator().manual_seed(2)
    logits = torch.randn(2, 4, 7, generator=gen)
    targets = torch.tensor([[1, 2, 3, -1], [4, 5, -1, -1]])
    plain = F.cross_entropy(logits.transpose(1, 2), targets, ignore_index=-1, reduction="sum")
    ours = label_smoothing_loss(logits, targets, smoothing=0.0)
    assert ours.item() == pytest.approx(plain.item(), rel=1e-6)
    # With smoothing: (1 - s) * nll + s / V * sum_v -log p(v), per kept position.
    s, lp = 0.1, logits.log_softmax(-1)
    keep = targets >= 0
    nll = -lp.gather(-1, targets.clamp(min=0).unsqueeze(-1)).squeeze(-1)
    expected = (((1 - s) * nll - s / 7 * lp.sum(-1)) * keep).sum()
    smoothed = label_smoothing_loss(logits, targets, smoothing=s)
    assert smoothed.item() == pytest.approx(expected.item(), rel=1e-6)
    mean = label_smoothing_loss(logits, targets, smoothing=s, reduction="mean")
    assert mean.item() == pytest.approx(expected.item() / 5, rel=1e-6)
    per = label_smoothing_loss(logits, targets, smoothing=s, reduction="none")
    assert per.shape == (2, 4) and per[1, 2:].abs().sum() == 0
    with pytest.raises(ValueError, match="smoothing"):
        label_smoothing_loss(logits, targets, smoothing=1.0)
