"""Token n-gram LMs (ARPA reading, Kneser-Ney estimation), shallow fusion, LODR and hotwords in
the beam searches: scale 0 changes nothing, -inf never becomes NaN, the LM moves the result."""

from __future__ import annotations

import math
import random

import pytest
import torch

from zipasr.decoding import (
    ContextGraph,
    Fusion,
    NgramLm,
    SearchOptions,
    ctc_prefix_beam_search,
    estimate_ngram,
    search,
    write_arpa,
)
from zipasr.decoding.lm import MIN_LOG_PROB
from zipasr.testing import tiny_recognizer

PIECES = ["a", "b", "c", "d", "e"]
TABLE = ["<blk>", "<sos/eos>", "<unk>", *PIECES]  # ids 3..7


def lm_file(tmp_path, order=3, seed=0):
    rng = random.Random(seed)
    sentences = [[rng.choice(PIECES[:4]) for _ in range(rng.randint(1, 7))] for _ in range(40)]
    return write_arpa(estimate_ngram(sentences, order, PIECES), tmp_path / f"lm{order}.arpa")


@pytest.mark.parametrize("order", [1, 2, 3, 4])
def test_estimated_model_is_normalised_in_every_context(tmp_path, order):
    lm = NgramLm(lm_file(tmp_path, order), TABLE)
    assert lm.order == order
    contexts = [lm.initial_state()]
    for token in (3, 4, 7, 7, 5):  # seen and unseen histories
        contexts.append(lm.advance(contexts[-1], token))
    for state in contexts:
        dist = lm.score([state])[0].double()
        total = dist[3:].exp().sum() + lm.final_score([state]).double().exp()[0]
        assert float(total) == pytest.approx(1.0, abs=1e-5)


def test_arpa_backoff_by_hand(tmp_path):
    path = tmp_path / "hand.arpa"
    path.write_text(
        "\\data\\\nngram 1=4\nngram 2=2\n\n\\1-grams:\n-1.0\t<s>\t-0.5\n-0.5\ta\t-0.3\n"
        "-0.7\tb\n-0.9\t</s>\n\n\\2-grams:\n-0.2\t<s> a\n-0.1\ta b\n\n\\end\\\n"
    )
    lm = NgramLm(path, TABLE[:5])  # <blk> <sos/eos> <unk> a b
    ln10 = math.log(10)
    start = lm.initial_state()
    assert float(lm.score([start])[0, 3]) == pytest.approx(-0.2 * ln10)  # <s> a: listed
    assert float(lm.score([start])[0, 4]) == pytest.approx((-0.5 - 0.7) * ln10)  # backoff
    after_a = lm.advance(start, 3)
    assert float(lm.score([after_a])[0, 4]) == pytest.approx(-0.1 * ln10)
    assert float(lm.final_score([after_a])[0]) == pytest.approx((-0.3 - 0.9) * ln10)
    # <unk> is absent and so is id 2's piece: the floor, never -inf.
    assert float(lm.score([start])[0, 2]) == MIN_LOG_PROB
    assert lm.sentence_score([3, 4]) == pytest.approx((-0.2 - 0.1 - 0.9) * ln10, abs=1e-6)


def test_minus_infinity_in_a_file_never_makes_nan(tmp_path):
    path = tmp_path / "inf.arpa"
    path.write_text("\\data\\\nngram 1=2\n\n\\1-grams:\n-inf\ta\n-99\tb\n\n\\end\\\n")
    lm = NgramLm(path, TABLE)
    scores = lm.score([lm.initial_state()])
    assert torch.isfinite(scores).all() and float(scores.min()) == MIN_LOG_PROB
    # Shallow fusion and LODR with the same LM: -inf - -inf would be NaN.
    fusion = Fusion(lm, 2.0, lm, 1.5)
    assert torch.isfinite(fusion.scores([fusion.start()])).all()
    log_probs = torch.randn(2, 9, len(TABLE)).log_softmax(-1)
    log_probs[0, :, 4] = -math.inf  # a label the model can never emit
    hyps = ctc_prefix_beam_search(log_probs, torch.tensor([9, 6]), beam=3, fusion=fusion)
    assert all(math.isfinite(h.score) for h in hyps)


def test_the_lm_moves_ctc_prefix_beam_search(tmp_path):
    path = tmp_path / "prefers-b.arpa"
    path.write_text(
        "\\data\\\nngram 1=4\n\n\\1-grams:\n-99\t<s>\n-3.0\ta\n-0.05\tb\n-1.0\t</s>\n\n\\end\\\n"
    )
    lm = NgramLm(path, TABLE)
    log_probs = torch.full((1, 3, len(TABLE)), -20.0)
    log_probs[0, 0, 0] = log_probs[0, 2, 0] = 0.0  # blank, label, blank
    log_probs[0, 1, 3], log_probs[0, 1, 4] = math.log(0.6), math.log(0.4)  # a is likelier
    plain = ctc_prefix_beam_search(log_probs, torch.tensor([3]), beam=4)[0]
    fused = ctc_prefix_beam_search(log_probs, torch.tensor([3]), beam=4, fusion=Fusion(lm, 0.5))[0]
    assert plain.tokens == [3] and fused.tokens == [4]
    assert fused.token_log_probs == pytest.approx([math.log(0.4)])  # the model's, not the LM's


@pytest.fixture(scope="module")
def model():
    tokens = ["<blk>", "<sos/eos>", "<unk>"] + [f"\u2581w{i}" for i in range(37)]
    m = tiny_recognizer(tokens)
    m.config = m.config  # (a transducer model; a CTC head is added below for the CTC methods)
    return m


def encoder_output(model, seed=0):
    gen = torch.Generator().manual_seed(seed)
    enc = torch.randn(3, 30, model.config.encoder.output_dim, generator=gen)
    return enc, torch.tensor([30, 22, 11])


def test_scale_zero_and_score_zero_change_nothing(tmp_path, model):
    lm = NgramLm(lm_file(tmp_path), model.tokens)
    zero_graph = ContextGraph([[5, 6], [7]], score=0.0)
    enc, lengths = encoder_output(model)
    methods = ["modified_beam_search"]
    if model.ctc is not None:
        methods.append("ctc_prefix_beam_search")
    for method in methods:
        plain = search(model, enc, lengths, SearchOptions(method, beam=3))
        for options in (
            SearchOptions(method, beam=3, fusion=Fusion(lm, 0.0, lm, 0.0)),
            SearchOptions(method, beam=3, context_graph=zero_graph),
        ):
            got = search(model, enc, lengths, options)
            for a, b in zip(plain, got):
                assert (a.tokens, a.frames, a.score, a.token_log_probs) == (
                    b.tokens,
                    b.frames,
                    b.score,
                    b.token_log_probs,
                )
        assert any(h.tokens for h in plain), "the test model should say something"


@pytest.mark.parametrize("method", ["modified_beam_search", "ctc_prefix_beam_search"])
def test_hotwords_bring_a_phrase_of_the_beam_to_the_top(model, method):
    from zipasr.decoding import methods

    enc, lengths = encoder_output(model, seed=1)
    options = SearchOptions(method, beam=4)
    states = [methods.start(model, options) for _ in range(3)]
    methods.advance(model, enc, lengths, states, options)
    # A pair of tokens that a runner-up of the first utterance has and its best lacks.
    ranked = states[0].ranked()
    best = ranked[0].tokens
    pairs = [
        h.tokens[i : i + 2]
        for h in ranked[1:]
        for i in range(len(h.tokens) - 1)
        if not any(best[j : j + 2] == h.tokens[i : i + 2] for j in range(len(best)))
    ]
    assert pairs, "the test model's beam should hold other token pairs"
    graph = ContextGraph([pairs[0]], score=8.0)
    boosted = search(model, enc, lengths, SearchOptions(method, beam=4, context_graph=graph))[0]
    assert any(boosted.tokens[i : i + 2] == pairs[0] for i in range(len(boosted.tokens)))
    assert len(boosted.token_log_probs) == len(boosted.tokens)
    assert all(lp <= 0 for lp in boosted.token_log_probs)  # the model's own log-probabilities


def test_lm_with_a_greedy_search_is_refused(tmp_path, model):
    lm = NgramLm(lm_file(tmp_path), model.tokens)
    with pytest.raises(ValueError, match="need a beam search"):
        SearchOptions("greedy_search", fusion=Fusion(lm, 0.5))
    with pytest.raises(ValueError, match="lm_scale=0.5 without"):
        Fusion(None, 0.5)
