"""RNN-T losses in pure PyTorch, with k2's names and argument conventions.

Legend: B batch, T frames (padded), S = U tokens (padded), V vocabulary, R = prune_range.
``boundary`` is k2's (B, 4) int64 rows ``[begin_symbol, begin_frame, end_symbol, end_frame]``;
icefall passes ``[0, 0, U_b, T_b]`` (see ``boundary_from_lengths``); ``None`` means the whole
padded lattice. Losses are negated log-probabilities, in nats. Inputs are computed in float32
(float64 stays float64), with autocast disabled, whatever the caller's autocast state.

Three losses share one lattice recursion (``lattice.py``):

* ``rnnt_loss``: the full transducer loss from joiner logits on every (t, s) node.
* ``rnnt_loss_smoothed`` / ``rnnt_loss_simple``: the joiner is a plain sum of an acoustic and a
  language-model projection, so the lattice costs O(B T S V) without a (B, T, S, V) tensor; it
  also returns the occupation probabilities used to pick the pruning band.
* ``rnnt_loss_pruned``: the full loss restricted to R consecutive symbols per frame.
"""

from __future__ import annotations

from typing import Literal, overload

import torch
from torch import Tensor

from zipasr.losses import checks
from zipasr.losses.lattice import lattice_score
from zipasr.losses.logprobs import full_lattice, pruned_lattice, smoothed_lattice


def rnnt_loss(
    logits: Tensor,
    symbols: Tensor,
    termination_symbol: int,
    boundary: Tensor | None = None,
    rnnt_type: str = "regular",
    delay_penalty: float = 0.0,
    reduction: str | None = "mean",
) -> Tensor:
    """Full-lattice RNN-T loss.

    Args:
        logits: (B, T, S+1, V) unnormalised joiner output.
        symbols: (B, S) token ids (any valid id past each utterance's U_b).
        termination_symbol: the blank id.
        boundary: (B, 4) int64, or None for ``[0, 0, S, T]``.
        rnnt_type, delay_penalty: only k2's defaults ("regular", 0.0) are supported.
        reduction: "none" -> (B,), "mean" or "sum" -> scalar.

    Raises:
        ValueError: on shape/dtype mistakes, utterances without frames, or a non-finite loss.
    """
    checks.check_regular(rnnt_type, delay_penalty)
    reduction = checks.check_reduction(reduction)
    if logits.ndim != 4:
        raise ValueError(f"logits must be (B, T, S+1, V), got shape {tuple(logits.shape)}")
    batch, num_t, num_s1, vocab = logits.shape
    symbols = checks.check_symbols(symbols, batch, num_s1 - 1, vocab)
    checks.check_termination_symbol(termination_symbol, vocab)
    with checks.float32_region(logits):
        logits = checks.at_least_float32(logits, "logits")
        boundary, rows = checks.check_rnnt_boundary(
            boundary, batch, num_s1 - 1, num_t, logits.device
        )
        px, py = full_lattice(logits, symbols.to(logits.device), termination_symbol, boundary)
        scores, _, _ = lattice_score(px, py, boundary)
    checks.raise_if_not_finite(scores, rows, "RNN-T loss", "check the logits for inf/NaN")
    return checks.reduce(-scores, reduction)


@overload
def rnnt_loss_smoothed(
    lm: Tensor,
    am: Tensor,
    symbols: Tensor,
    termination_symbol: int,
    lm_only_scale: float = ...,
    am_only_scale: float = ...,
    boundary: Tensor | None = ...,
    rnnt_type: str = ...,
    delay_penalty: float = ...,
    reduction: str | None = ...,
    *,
    return_grad: Literal[True],
) -> tuple[Tensor, tuple[Tensor, Tensor]]: ...


@overload
def rnnt_loss_smoothed(
    lm: Tensor,
    am: Tensor,
    symbols: Tensor,
    termination_symbol: int,
    lm_only_scale: float = ...,
    am_only_scale: float = ...,
    boundary: Tensor | None = ...,
    rnnt_type: str = ...,
    delay_penalty: float = ...,
    reduction: str | None = ...,
    return_grad: Literal[False] = ...,
) -> Tensor: ...


def rnnt_loss_smoothed(
    lm: Tensor,
    am: Tensor,
    symbols: Tensor,
    termination_symbol: int,
    lm_only_scale: float = 0.1,
    am_only_scale: float = 0.1,
    boundary: Tensor | None = None,
    rnnt_type: str = "regular",
    delay_penalty: float = 0.0,
    reduction: str | None = "mean",
    return_grad: bool = False,
) -> Tensor | tuple[Tensor, tuple[Tensor, Tensor]]:
    """The "simple" RNN-T loss of a summing joiner, smoothed with LM-only and AM-only terms.

    Each step's log-probability is ``lm_only_scale * lm_only + am_only_scale * am_only +
    (1 - lm_only_scale - am_only_scale) * combined`` (see ``logprobs.smoothed_lattice``).

    Args:
        lm: (B, S+1, V) unnormalised LM-side scores (the simple_lm_proj output).
        am: (B, T, V) unnormalised acoustic scores (the simple_am_proj output).
        symbols: (B, S) token ids.
        termination_symbol: the blank id.
        lm_only_scale, am_only_scale: smoothing weights (icefall: 0.25 and 0.0).
        boundary: (B, 4) int64, or None for ``[0, 0, S, T]``.
        rnnt_type, delay_penalty: only k2's defaults ("regular", 0.0) are supported.
        reduction: "none" -> (B,), "mean" or "sum" -> scalar.
        return_grad: also return ``(px_grad, py_grad)``, (B, S, T+1) and (B, S+1, T): the
            occupation probability of each token and blank step (the gradients of the summed
            negated loss with respect to the step log-probabilities), for
            ``get_rnnt_prune_ranges``. They carry no autograd history.

    Returns:
        ``loss``, or ``(loss, (px_grad, py_grad))`` when return_grad.
    """
    checks.check_regular(rnnt_type, delay_penalty)
    reduction = checks.check_reduction(reduction)
    if lm.ndim != 3 or am.ndim != 3 or lm.shape[0] != am.shape[0] or lm.shape[2] != am.shape[2]:
        raise ValueError(
            f"lm {tuple(lm.shape)} and am {tuple(am.shape)} must be (B, S+1, V) and (B, T, V)"
        )
    batch, num_t, vocab = am.shape
    num_s = lm.shape[1] - 1
    symbols = checks.check_symbols(symbols, batch, num_s, vocab)
    checks.check_termination_symbol(termination_symbol, vocab)
    with checks.float32_region(am):
        am = checks.at_least_float32(am, "am")
        lm = checks.at_least_float32(lm, "lm").to(am.dtype)
        boundary, rows = checks.check_rnnt_boundary(boundary, batch, num_s, num_t, am.device)
        px, py = smoothed_lattice(
            lm,
            am,
            symbols.to(am.device),
            termination_symbol,
            lm_only_scale,
            am_only_scale,
            boundary,
        )
        scores, px_grad, py_grad = lattice_score(px, py, boundary, return_grad)
    checks.raise_if_not_finite(scores, rows, "simple RNN-T loss", "check am and lm for inf/NaN")
    loss = checks.reduce(-scores, reduction)
    if not return_grad:
        return loss
    assert px_grad is not None and py_grad is not None
    return loss, (px_grad, py_grad)


def rnnt_loss_simple(
    lm: Tensor,
    am: Tensor,
    symbols: Tensor,
    termination_symbol: int,
    boundary: Tensor | None = None,
    rnnt_type: str = "regular",
    delay_penalty: float = 0.0,
    reduction: str | None = "mean",
    return_grad: bool = False,
) -> Tensor | tuple[Tensor, tuple[Tensor, Tensor]]:
    """``rnnt_loss_smoothed`` with both smoothing scales 0: the exact loss of logits am + lm."""
    return rnnt_loss_smoothed(  # type: ignore[call-overload]
        lm,
        am,
        symbols,
        termination_symbol,
        lm_only_scale=0.0,
        am_only_scale=0.0,
        boundary=boundary,
        rnnt_type=rnnt_type,
        delay_penalty=delay_penalty,
        reduction=reduction,
        return_grad=return_grad,
    )


def _check_ranges(ranges: Tensor, batch: int, num_t: int, width: int, num_s: int) -> None:
    if tuple(ranges.shape) != (batch, num_t, width) or ranges.dtype != torch.int64:
        raise ValueError(
            f"ranges must be int64 of shape (B, T, R) = ({batch}, {num_t}, {width}) like "
            f"logits' first three dims; got {ranges.dtype} {tuple(ranges.shape)}"
        )
    start = ranges[:, :, :1]
    consecutive = ranges - start == torch.arange(width, device=ranges.device)
    if not bool(consecutive.all()):
        raise ValueError("ranges[b, t] must be consecutive symbols start, start+1, ..., start+R-1")
    if ranges.numel() > 0 and (int(start.min()) < 0 or int(ranges[:, :, -1].max()) > num_s):
        raise ValueError(f"ranges must lie in [0, S={num_s}]; get them from get_rnnt_prune_ranges")


def rnnt_loss_pruned(
    logits: Tensor,
    symbols: Tensor,
    ranges: Tensor,
    termination_symbol: int,
    boundary: Tensor | None = None,
    rnnt_type: str = "regular",
    delay_penalty: float = 0.0,
    reduction: str | None = "mean",
) -> Tensor:
    """RNN-T loss over a band of R symbols per frame.

    Args:
        logits: (B, T, R, V) joiner output on the pruned nodes (see ``do_rnnt_pruning``).
        symbols: (B, S) token ids.
        ranges: (B, T, R) int64, from ``get_rnnt_prune_ranges``: the symbol positions
            ``start, ..., start + R - 1`` that logits[b, t] covers.
        termination_symbol: the blank id.
        boundary: (B, 4) int64, or None for ``[0, 0, S, T]``.
        rnnt_type, delay_penalty: only k2's defaults ("regular", 0.0) are supported.
        reduction: "none" -> (B,), "mean" or "sum" -> scalar.

    Raises:
        ValueError: on shape/dtype mistakes, utterances without frames, or bands that hold no
            complete path (the loss would be infinite).
    """
    checks.check_regular(rnnt_type, delay_penalty)
    reduction = checks.check_reduction(reduction)
    if logits.ndim != 4:
        raise ValueError(f"logits must be (B, T, R, V), got shape {tuple(logits.shape)}")
    batch, num_t, width, vocab = logits.shape
    if symbols.ndim != 2:
        raise ValueError(f"symbols must be (B, S), got shape {tuple(symbols.shape)}")
    num_s = symbols.shape[1]
    symbols = checks.check_symbols(symbols, batch, num_s, vocab)
    checks.check_termination_symbol(termination_symbol, vocab)
    _check_ranges(ranges, batch, num_t, width, num_s)
    with checks.float32_region(logits):
        logits = checks.at_least_float32(logits, "logits")
        boundary, rows = checks.check_rnnt_boundary(boundary, batch, num_s, num_t, logits.device)
        px, py = pruned_lattice(
            logits,
            symbols.to(logits.device),
            ranges.to(logits.device),
            termination_symbol,
            boundary,
        )
        scores, _, _ = lattice_score(px, py, boundary)
    checks.raise_if_not_finite(
        scores,
        rows,
        "pruned RNN-T loss",
        "its prune ranges hold no complete path (they must start at symbol 0, end at U on the "
        "last frame and advance by less than R per frame), or the logits hold inf/NaN",
    )
    return checks.reduce(-scores, reduction)
