"""Attention-decoder rescoring: the re-ranking rule on hand-made n-best lists with known scores,
the n-best searches behind it, and the methods end to end on a small model."""

from __future__ import annotations

import pytest
import torch

import zipasr
from zipasr.decoding import (
    RESCORERS,
    ctc_prefix_beam_nbest,
    modified_beam_search,
    modified_beam_search_nbest,
    pick_best,
)
from zipasr.decoding.hypothesis import Hypothesis
from zipasr.decoding.rescore import attention_scores
from zipasr.recognize import DecodeOptions, decode_features
from zipasr.testing import tiny_config


def nbest_of(*candidates: tuple[list[int], float]) -> list[Hypothesis]:
    return [Hypothesis(tokens, list(range(len(tokens))), score) for tokens, score in candidates]


def test_pick_best_on_a_hand_made_nbest_list():
    """First-pass scores -1, -1.5, -3 and attention scores -5, -1, -0.5: the combined score
    ranks the second candidate first at scale 1 (-6, -2.5, -3.5), the first at scale 0 and the
    third at scale 10 (-51, -11.5, -8)."""
    nbest = [nbest_of(([5, 6], -1.0), ([5, 7], -1.5), ([8], -3.0)), nbest_of(([9], -2.0))]
    attention = [[-5.0, -1.0, -0.5], [-0.25]]
    best = pick_best(nbest, attention, 1.0)
    assert [h.tokens for h in best] == [[5, 7], [9]]
    assert [h.score for h in best] == [-2.5, -2.25]
    assert best[0].frames == [0, 1]
    assert pick_best(nbest, attention, 0.0)[0].tokens == [5, 6]
    assert pick_best(nbest, attention, 10.0)[0].tokens == [8]
    assert nbest[0][1].score == -1.5  # the inputs are left alone


def test_pick_best_rejects_mismatched_lists():
    with pytest.raises(ValueError, match="2 hypotheses but 1 scores"):
        pick_best([nbest_of(([1], 0.0), ([2], 0.0))], [[0.0]], 1.0)
    with pytest.raises(ValueError, match="1 n-best lists but 2"):
        pick_best([nbest_of(([1], 0.0))], [[0.0], [0.0]], 1.0)


def test_ctc_nbest_lists_are_distinct_prefixes_best_first():
    # (ctc_prefix_beam_search is this list's head; tests/decoding/test_decoders.py holds it to
    # a brute-force sum over alignments.)
    gen = torch.Generator().manual_seed(0)
    log_probs = (torch.randn(3, 25, 7, generator=gen) * 2).log_softmax(-1)
    lengths = torch.tensor([25, 18, 6])
    nbest = ctc_prefix_beam_nbest(log_probs, lengths, beam=4)
    for hyps in nbest:
        assert 1 < len(hyps) <= 4
        scores = [h.score for h in hyps]
        assert scores == sorted(scores, reverse=True)
        assert len({tuple(h.tokens) for h in hyps}) == len(hyps)


@pytest.fixture(scope="module")
def model() -> zipasr.AsrModel:
    torch.manual_seed(0)
    config = zipasr.AsrModelConfig(
        tiny_config(),
        vocab_size=12,
        transducer=zipasr.TransducerConfig(16, 16, 2),
        ctc=True,
        attention_decoder=zipasr.models.AttentionDecoderConfig(16, 2, 16, 4, 32),
    )
    model = zipasr.AsrModel(config, tokens=[f"t{i}" for i in range(12)]).eval()
    with torch.no_grad():  # random encoder frames give varied, non-empty hypotheses
        model.ctc.proj.bias[0] -= 1.0
    return model


def test_attention_scores_are_each_hypothesis_log_probability(model):
    gen = torch.Generator().manual_seed(1)
    enc, lengths = (
        torch.randn(2, 9, model.config.encoder.output_dim, generator=gen),
        torch.tensor([9, 6]),
    )
    nbest = [nbest_of(([3, 4], 0.0), ([5], 0.0)), nbest_of(([], 0.0))]
    scores = attention_scores(model, enc, lengths, nbest)
    torch.set_grad_enabled(False)
    aed = model.attention_decoder
    for b, hyps in enumerate(nbest):
        for h, score in zip(hyps, scores[b]):
            lp = aed.log_probs(enc[b : b + 1, : lengths[b]], lengths[b : b + 1], [h.tokens])[0]
            expected = sum(lp[u, t] for u, t in enumerate([*h.tokens, aed.config.eos_id]))
            assert score == pytest.approx(float(expected), abs=1e-5)
    torch.set_grad_enabled(True)


@pytest.mark.parametrize("method", list(RESCORERS))
def test_rescoring_methods_pick_the_best_combined_score(model, method):
    gen = torch.Generator().manual_seed(2)
    enc = torch.randn(2, 12, model.config.encoder.output_dim, generator=gen)
    lengths = torch.tensor([12, 8])
    if method.startswith("ctc"):
        nbest = ctc_prefix_beam_nbest(model.ctc_log_probs(enc), lengths, beam=4)
    else:
        nbest = modified_beam_search_nbest(model, enc, lengths, beam=4)
    assert max(len(hyps) for hyps in nbest) > 1
    scores = attention_scores(model, enc, lengths, nbest)
    for scale in (0.0, 0.5, 3.0):
        best = RESCORERS[method](model, enc, lengths, beam=4, attention_scale=scale)
        for b, hyps in enumerate(nbest):
            totals = [h.score + scale * a for h, a in zip(hyps, scores[b])]
            winner = hyps[totals.index(max(totals))]
            assert best[b].tokens == winner.tokens
            assert best[b].score == pytest.approx(max(totals))
            assert best[b].text == "".join(f"t{t}" for t in winner.tokens)


def test_transducer_nbest_heads_with_modified_beam_search(model):
    gen = torch.Generator().manual_seed(3)
    enc = torch.randn(2, 10, model.config.encoder.output_dim, generator=gen)
    lengths = torch.tensor([10, 7])
    nbest = modified_beam_search_nbest(model, enc, lengths, beam=4)
    best = modified_beam_search(model, enc, lengths, beam=4, length_norm=False)
    for hyps, one in zip(nbest, best):
        assert hyps[0].tokens == one.tokens and hyps[0].score == pytest.approx(one.score)


def test_methods_through_decode_options(model):
    gen = torch.Generator().manual_seed(4)
    feats = [torch.randn(120, 80, generator=gen), torch.randn(90, 80, generator=gen)]
    for method in RESCORERS:
        hyps = decode_features(model, feats, DecodeOptions(method=method, attention_scale=0.3))
        assert len(hyps) == 2 and all(h.text is not None for h in hyps)
    plain = zipasr.AsrModel(zipasr.AsrModelConfig(tiny_config(), vocab_size=12, ctc=True)).eval()
    with pytest.raises(ValueError, match="no attention decoder"):
        decode_features(
            plain, feats, DecodeOptions(method="ctc_prefix_beam_search_attention_decoder_rescoring")
        )
