"""AsrModel composition: heads, losses in training, streaming primitives."""

from __future__ import annotations

import pytest
import torch

import zipasr
from zipasr.testing import random_features, tiny_config


def build(transducer: bool = True, ctc: bool = True) -> zipasr.AsrModel:
    config = zipasr.AsrModelConfig(
        tiny_config(causal=True),
        vocab_size=30,
        transducer=zipasr.TransducerConfig(16, 24, 2) if transducer else None,
        ctc=ctc,
    )
    return zipasr.AsrModel(config)


@pytest.mark.parametrize("transducer,ctc", [(True, True), (True, False), (False, True)])
def test_training_step_gives_finite_losses_and_gradients(transducer, ctc):
    torch.manual_seed(0)
    model = build(transducer, ctc).train()
    x, lengths = random_features([200, 150, 120])
    targets = [[5, 6, 7, 8], [9, 10], [11, 12, 13]]
    losses = model(x, lengths, targets, chunk_frames=16, left_context_frames=32)
    assert (losses.simple is not None) == transducer and (losses.pruned is not None) == transducer
    assert (losses.ctc is not None) == ctc
    total = sum(v for v in (losses.simple, losses.pruned, losses.ctc) if v is not None)
    assert torch.isfinite(total)
    total.backward()
    grads = [p.grad for p in model.parameters() if p.grad is not None]
    assert grads and all(torch.isfinite(g).all() for g in grads)


def test_missing_head_is_a_clear_error():
    ctc_only = build(transducer=False).eval()
    with pytest.raises(ValueError, match="no transducer head"):
        ctc_only.predict(torch.zeros(1, 2, dtype=torch.int64), need_pad=False)
    transducer_only = build(ctc=False).eval()
    with pytest.raises(ValueError, match="no CTC head"):
        transducer_only.ctc_log_probs(torch.zeros(1, 3, 32))


def test_decoder_context_and_padding():
    model = build().eval()
    with torch.no_grad():
        start = model.predict(torch.tensor([[-1, 0]]), need_pad=False)
        assert start.shape == (1, 1, 16)
        with pytest.raises(ValueError, match="context_size=2"):
            model.predict(torch.tensor([[0, 1, 2]]), need_pad=False)
        # negative ids embed to zero: [-1, 0] sees only the blank
        both = model.predict(torch.tensor([[0, 0]]), need_pad=True)
        assert torch.allclose(both[:, :1], start)


def test_encode_chunk_is_the_encoders():
    model = build().eval()
    state = model.initial_state(1, 32)
    window = torch.randn(1, model.encoder.chunk_input_frames(16), 80)
    with torch.no_grad():
        a, _ = model.encode_chunk(window, state)
        b, _ = model.encoder.forward_chunk(window, state)
    assert torch.equal(a, b)


@pytest.mark.parametrize("as_matmul", [True, False], ids=["matmul", "convolution"])
@pytest.mark.parametrize("context_size", [2, 3])
def test_decoder_one_position_equals_the_padded_sequence(context_size, as_matmul):
    # Decoding computes the context convolution as grouped matrix products (export keeps the
    # convolution call); either must be the training path's convolution at the last position.
    from zipasr.models.decoder import StatelessDecoder

    torch.manual_seed(0)
    decoder = StatelessDecoder(vocab_size=30, dim=32, context_size=context_size).eval()
    decoder.context_as_matmul = as_matmul
    y = torch.randint(-1, 30, (5, 7))
    with torch.no_grad():
        full = decoder(y, need_pad=True)
        for u in range(context_size - 1, 7):
            one = decoder(y[:, u - context_size + 1 : u + 1], need_pad=False)
            torch.testing.assert_close(one, full[:, u : u + 1], rtol=1e-5, atol=1e-6)
