"""Decoders: the reference's token ids on an icefall-converted random model, and properties."""

from __future__ import annotations

import math

import pytest
import torch

import zipasr
from zipasr.decoding import (
    METHODS,
    ctc_greedy_search,
    ctc_prefix_beam_search,
    greedy_search,
    modified_beam_search,
    tokens_to_text,
)
from zipasr.decoding.greedy import continue_greedy_search
from zipasr.decoding.hypothesis import Hypothesis
from zipasr.testing import random_state_dict

from ..conftest import FIXTURES


@pytest.fixture(scope="module")
def fixture():
    return torch.load(FIXTURES / "models" / "small_transducer_ctc.pt", weights_only=True)


@pytest.fixture(scope="module")
def model(fixture):
    state = random_state_dict(fixture["shapes"])
    bias = state["joiner.output_linear.bias"].clone()
    bias[0] += fixture["decode_blank_bias"]
    state["joiner.output_linear.bias"] = bias
    return zipasr.load_icefall(state)


def test_greedy_matches_reference(model, fixture):
    hyps = greedy_search(model, fixture["decode_encoder_out"], fixture["decode_lengths"])
    assert [h.tokens for h in hyps] == fixture["greedy_tokens"]
    assert all(len(h.frames) == len(h.tokens) for h in hyps)
    assert all(h.frames == sorted(h.frames) for h in hyps)


def test_modified_beam_search_matches_reference(model, fixture):
    hyps = modified_beam_search(
        model, fixture["decode_encoder_out"], fixture["decode_lengths"], beam=4
    )
    assert [h.tokens for h in hyps] == fixture["beam4_tokens"]
    assert fixture["beam4_tokens"] != fixture["greedy_tokens"], "the fixture separates them"


def test_ctc_greedy_matches_reference(model, fixture):
    with torch.no_grad():
        enc, lengths = model.encode(fixture["features"], fixture["lengths"])
        hyps = ctc_greedy_search(model.ctc_log_probs(enc), lengths)
    assert [h.tokens for h in hyps] == fixture["ctc_greedy_tokens"]


def test_beam_of_one_is_greedy(model, fixture):
    enc, lengths = fixture["decode_encoder_out"], fixture["decode_lengths"]
    greedy = greedy_search(model, enc, lengths)
    beam = modified_beam_search(model, enc, lengths, beam=1, length_norm=False)
    assert [h.tokens for h in beam] == [h.tokens for h in greedy]
    assert [h.frames for h in beam] == [h.frames for h in greedy]
    for g, b in zip(greedy, beam):
        assert b.score <= g.score + 1e-4  # greedy's score leaves out the blanks' log-probs


def frame_by_frame_greedy(model, enc, lengths, max_symbols, blank_penalty):
    """Greedy search as the paper states it: one joiner call per frame and symbol."""
    head, blank = model.transducer, model.blank_id
    context = head.config.context_size
    out = []
    for b in range(enc.shape[0]):
        tokens, frames, score = [], [], 0.0
        for t in range(int(lengths[b])):
            for _ in range(max_symbols):
                y = torch.tensor([([-1] * (context - 1) + [blank] + tokens)[-context:]])
                dec = head.joiner.project_decoder(head.decoder(y, need_pad=False))[0, 0]
                logits = head.joiner(head.joiner.project_encoder(enc[b, t]), dec, False)
                logits[blank] -= blank_penalty
                best = int(logits.argmax())
                if best == blank:
                    break
                tokens.append(best)
                frames.append(t)
                score += float(logits.log_softmax(-1)[best])
        out.append((tokens, frames, score))
    return out


@pytest.mark.parametrize("max_symbols, blank_penalty", [(1, 0.0), (2, 0.0), (3, 1.5)])
@pytest.mark.parametrize("batch", [1, 3, 20])
def test_greedy_equals_frame_by_frame_search(model, fixture, max_symbols, blank_penalty, batch):
    # The search scores several frames per joiner call (more per utterance when the batch is
    # small); tokens, frames and scores must be those of the one-frame-at-a-time search, also
    # when a hypothesis is carried over chunks of frames.
    enc = fixture["decode_encoder_out"].repeat(7, 1, 1)[:batch]
    lengths = torch.tensor([30, 22, 9, 1, 0, 17, 29] * 3)[:batch]
    with torch.no_grad():
        want = frame_by_frame_greedy(model, enc, lengths, max_symbols, blank_penalty)
        whole = greedy_search(
            model, enc, lengths, max_symbols_per_frame=max_symbols, blank_penalty=blank_penalty
        )
        chunked = [Hypothesis() for _ in range(batch)]
        for start in range(0, 30, 8):
            n = (lengths - start).clamp(0, 8)
            continue_greedy_search(
                model, enc[:, start : start + 8], n, chunked, frame_offsets=[start] * batch,
                max_symbols_per_frame=max_symbols, blank_penalty=blank_penalty,
            )  # fmt: skip
        # lengths beyond the frames given (30) count as the frames given
        options = dict(max_symbols_per_frame=max_symbols, blank_penalty=blank_penalty)
        beyond = greedy_search(model, enc, lengths + 5, **options)
        clipped = greedy_search(model, enc, (lengths + 5).clamp(max=30), **options)
    assert [(h.tokens, h.frames) for h in beyond] == [(h.tokens, h.frames) for h in clipped]
    assert sum(len(t) for t, _, _ in want) > 0, "the model emits"
    if max_symbols > 1:
        assert any(len(set(f)) < len(f) for _, f, _ in want), "some frame emits twice"
    for got in (whole, chunked):
        assert [(h.tokens, h.frames) for h in got] == [(t, f) for t, f, _ in want]
        for h, (_, _, score) in zip(got, want):
            assert h.score == pytest.approx(score, abs=1e-4)


def brute_force_ctc(log_probs: torch.Tensor, blank: int = 0) -> dict[tuple[int, ...], float]:
    """Probability of every label sequence, by enumerating all frame alignments."""
    t, v = log_probs.shape
    totals: dict[tuple[int, ...], float] = {}
    for path in torch.cartesian_prod(*[torch.arange(v)] * t).tolist():
        labels, prev = [], blank
        for x in path:
            if x != blank and x != prev:
                labels.append(x)
            prev = x
        p = math.exp(sum(log_probs[i, x].item() for i, x in enumerate(path)))
        totals[tuple(labels)] = totals.get(tuple(labels), 0.0) + p
    return totals


def test_ctc_prefix_beam_search_finds_the_most_probable_labels():
    torch.manual_seed(3)
    for _ in range(5):
        log_probs = (torch.randn(1, 6, 4) * 2).log_softmax(-1)
        totals = brute_force_ctc(log_probs[0])
        best, prob = max(totals.items(), key=lambda kv: kv[1])
        hyp = ctc_prefix_beam_search(log_probs, torch.tensor([6]), beam=4096)[0]  # no pruning
        assert tuple(hyp.tokens) == best
        assert hyp.score == pytest.approx(math.log(prob), abs=1e-5)


def test_text_and_timestamps():
    table = ["<blk>", "<sos/eos>", "<unk>", "\u2581he", "llo", "\u2581world"]
    assert tokens_to_text([3, 4, 5], table) == "hello world"
    log_probs = torch.full((1, 5, 6), -10.0)
    for t, label in enumerate([3, 0, 4, 4, 5]):
        log_probs[0, t, label] = 0.0
    hyp = ctc_greedy_search(log_probs, torch.tensor([5]), tokens=table)[0]
    assert hyp.text == "hello world" and hyp.frames == [0, 2, 4]
    assert hyp.timestamps_s == [0.0, 0.08, 0.16]


def test_decoder_table_and_errors(model, fixture):
    assert set(METHODS) == {
        "greedy_search",
        "modified_beam_search",
        "ctc_greedy_search",
        "ctc_prefix_beam_search",
    }
    enc, lengths = fixture["decode_encoder_out"], fixture["decode_lengths"]
    with pytest.raises(ValueError, match="beam=0"):
        modified_beam_search(model, enc, lengths, beam=0)
    with pytest.raises(ValueError, match="max_symbols_per_frame"):
        greedy_search(model, enc, lengths, max_symbols_per_frame=0)
