"""Rich results: per-token log-probabilities from every search, words with times and
confidences (split as the tokenizer marks them), and transcribe --json printing them."""

from __future__ import annotations

import math

import pytest
import torch

from zipasr.decoding import SearchOptions, search
from zipasr.longform.transcript import words_of
from zipasr.testing import tiny_recognizer

TOKENS = ["<blk>", "<sos/eos>", "<unk>"] + [f"\u2581W{i}" for i in range(30)] + list("ABCDEFG")


def test_words_follow_the_tokenizer_and_carry_confidences():
    table = [
        "<blk>",
        "<sos/eos>",
        "<unk>",
        "\u2581HE",
        "LLO",
        "\u2581WORLD",
        "你",
        "好",
        "\u2581OK",
    ]
    tokens = [3, 4, 5, 6, 7, 8]
    times = [0.0, 0.04, 0.2, 0.4, 0.44, 0.6]
    lps = [math.log(0.9), math.log(0.4), math.log(0.8), 0.0, math.log(0.5), -0.1]
    words = words_of(tokens, times, table, lps)
    assert [w.word for w in words] == ["HELLO", "WORLD", "你", "好", "OK"]
    assert words[0].start == 0.0 and words[0].end == 0.08
    assert words[0].confidence == pytest.approx(math.sqrt(0.9 * 0.4))
    assert words[2].confidence == 1.0 and 0 < words[3].confidence == pytest.approx(0.5)
    assert all(0 < w.confidence <= 1 for w in words)
    assert words_of(tokens, times, table)[0].confidence is None  # no log-probabilities


@pytest.mark.parametrize(
    "method",
    ["greedy_search", "modified_beam_search", "ctc_greedy_search", "ctc_prefix_beam_search"],
)
def test_every_search_gives_a_log_probability_per_token(method):
    model = tiny_recognizer(TOKENS)
    enc = torch.randn(
        2, 25, model.config.encoder.output_dim, generator=torch.Generator().manual_seed(0)
    )
    for hyp in search(model, enc, torch.tensor([25, 17]), SearchOptions(method, beam=3)):
        assert len(hyp.token_log_probs) == len(hyp.tokens) == len(hyp.frames)
        assert all(-math.inf < lp <= 0 for lp in hyp.token_log_probs)


def test_an_utterance_decodes_the_same_whatever_shares_its_batch():
    # The encoder runs on each utterance alone (DecodeOptions.encode_alone): padding in a batch
    # would change the last frames of the shorter ones (downsampling, front-end convolution).
    from zipasr.recognize import DecodeOptions, decode_features
    from zipasr.testing import random_features

    model = tiny_recognizer(TOKENS)
    x, lengths = random_features([157, 97, 123, 61], seed=4)
    feats = [x[i, :n] for i, n in enumerate(lengths.tolist())]
    for method in ("greedy_search", "modified_beam_search", "ctc_prefix_beam_search"):
        alone = [decode_features(model, [f], DecodeOptions(method))[0] for f in feats]
        together = decode_features(model, feats, DecodeOptions(method, batch_size=4))
        assert [h.tokens for h in together] == [h.tokens for h in alone]
        assert [h.frames for h in together] == [h.frames for h in alone]
