"""The exported graphs: valid ONNX, sherpa-onnx's names/dtypes/axes/metadata, and onnxruntime
outputs equal to PyTorch's (<= 1e-4) for the offline and streaming encoders, decoder, joiner."""

from __future__ import annotations

import copy
import logging

import numpy as np
import onnx
import onnxruntime as ort
import pytest
import torch

from zipasr.export.adapters import flat_state, keep_convolutions, state_names
from zipasr.export.metadata import read_metadata
from zipasr.testing import random_features

from .conftest import CHUNK, LEFT

TOLERANCE = 1e-4
VARIANTS = ["offline_transducer", "offline_ctc", "streaming_transducer", "streaming_ctc"]
STREAMING_KEYS = (
    "decode_chunk_len T num_encoder_layers encoder_dims cnn_module_kernels left_context_len "
    "query_head_dims value_head_dims num_heads"
).split()


def session(path) -> ort.InferenceSession:
    return ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])


def signature(path) -> tuple[list[tuple[str, str, list]], list[tuple[str, str, list]]]:
    s = session(path)
    return (
        [(i.name, i.type, i.shape) for i in s.get_inputs()],
        [(o.name, o.type, o.shape) for o in s.get_outputs()],
    )


def head(model, ctc: bool, enc: torch.Tensor) -> torch.Tensor:
    """What the exported encoder returns: CTC log-probs, or the joiner-projected output."""
    return model.ctc_log_probs(enc) if ctc else model.transducer.joiner.encoder_proj(enc)


def max_diff(a: np.ndarray, b: torch.Tensor) -> float:
    assert a.shape == tuple(b.shape), (a.shape, b.shape)
    return float(np.abs(a - b.numpy()).max())


@pytest.mark.parametrize("variant", VARIANTS)
def test_checker_passes_and_metadata_is_complete(exports, variant):
    exported = exports[variant][0]
    for path in exported.files.values():
        onnx.checker.check_model(onnx.load(str(path)), full_check=True)
    assert exported.tokens.read_text().splitlines()[:3] == ["<blk> 0", "<sos/eos> 1", "<unk> 2"]
    first = read_metadata(exported.files["model" if exported.ctc else "encoder"])
    assert first["version"] == "1"
    if exported.streaming:
        assert first["model_type"] == "zipformer2"
        assert set(STREAMING_KEYS) <= set(first)
        assert (first["T"], first["decode_chunk_len"]) == (str(2 * CHUNK + 13), str(2 * CHUNK))
        assert first["left_context_len"] == "128,64,32,16,32,64"
    else:
        assert first["model_type"] == ("zipformer2_ctc" if exported.ctc else "zipformer2")
    if not exported.ctc:
        decoder = read_metadata(exported.files["decoder"])
        assert (decoder["vocab_size"], decoder["context_size"]) == ("55", "2")
        assert read_metadata(exported.files["joiner"])["joiner_dim"] == "32"


def test_exported_graphs_keep_the_convolutions(exports, model):
    # The eager streaming step replaces short depthwise convolutions and the decoder's context
    # convolution by products and sums (faster in PyTorch on CPU); exported graphs keep them.
    exported = exports["streaming_transducer"][0]
    # Two depthwise Conv1d per convolution module (causal and chunkwise) in the encoder.
    depthwise = sum(isinstance(m, torch.nn.Conv1d) for m in model.encoder.modules())
    for name, expected in (("encoder", depthwise), ("decoder", 1)):
        graph = onnx.load(str(exported.files[name])).graph
        assert sum(n.op_type == "Conv" for n in graph.node) >= expected, name


def test_keep_convolutions_changes_no_output(model):
    """Export's convolution calls compute what the eager shortcuts compute."""
    kept = copy.deepcopy(model)
    keep_convolutions(kept)
    window = torch.randn(2, model.encoder.chunk_input_frames(CHUNK), 80)
    contexts = torch.tensor([[-1, 0], [5, 7]])

    def outputs(m):
        with torch.no_grad():
            enc, _ = m.encode_chunk(window, m.initial_state(2, LEFT))
            return enc, m.predict(contexts, need_pad=False)

    for a, b in zip(outputs(model), outputs(kept)):
        torch.testing.assert_close(a, b, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("variant", ["offline_transducer", "offline_ctc"])
def test_offline_signature(exports, variant):
    exported = exports[variant][0]
    inputs, outputs = signature(exported.files["model" if exported.ctc else "encoder"])
    assert inputs == [("x", "tensor(float)", ["N", "T", 80]), ("x_lens", "tensor(int64)", ["N"])]
    names = ["log_probs", "log_probs_len"] if exported.ctc else ["encoder_out", "encoder_out_lens"]
    assert [o[0] for o in outputs] == names
    assert outputs[0][2][0] == "N" and isinstance(outputs[0][2][1], str)  # dynamic N, T'
    assert outputs[0][2][2] == (55 if exported.ctc else 32)  # static vocab / joiner dim
    assert outputs[1][1] == "tensor(int64)"


@pytest.mark.parametrize("variant", ["streaming_transducer", "streaming_ctc"])
def test_streaming_signature(exports, model, variant):
    exported = exports[variant][0]
    inputs, outputs = signature(exported.files["model" if exported.ctc else "encoder"])
    names = state_names(len(model.initial_state(1, LEFT).layers))
    assert [i[0] for i in inputs] == ["x", *names]
    first = "log_probs" if exported.ctc else "encoder_out"
    assert [o[0] for o in outputs] == [first, *(f"new_{n}" for n in names)]
    assert inputs[0][2] == ["N", 2 * CHUNK + 13, 80]
    assert inputs[-1][1:] == ("tensor(int64)", ["N"])  # processed_lens
    assert inputs[-2][2] == ["N", 128, 3, 19]  # embed_states
    assert inputs[1][2] == [128, "N", 16] and inputs[5][2] == ["N", 16, 3]  # key_0, conv1_0
    assert outputs[0][2] == ["N", CHUNK // 2, 55 if exported.ctc else 32]


@pytest.mark.parametrize("variant", ["offline_transducer", "offline_ctc"])
def test_offline_encoder_matches_pytorch(exports, model, variant):
    exported = exports[variant][0]
    s = session(exported.files["model" if exported.ctc else "encoder"])
    worst = 0.0
    for lengths in ([100, 61, 300], [9], [57], [25, 24]):
        x, x_lens = random_features(lengths, seed=len(lengths))
        out, out_lens = s.run(None, {"x": x.numpy(), "x_lens": x_lens.numpy()})
        with torch.no_grad():
            enc, enc_lens = model.encode(x, x_lens)
            ref = head(model, exported.ctc, enc)
        assert out_lens.tolist() == enc_lens.tolist()
        for b, n in enumerate(enc_lens.tolist()):  # frames past an utterance's end are padding
            worst = max(worst, max_diff(out[b, :n], ref[b, :n]))
    print(f"{variant}: max |onnxruntime - PyTorch| = {worst:.2e}")
    assert worst <= TOLERANCE


@pytest.mark.parametrize("variant", ["streaming_transducer", "streaming_ctc"])
def test_streaming_encoder_and_states_match_pytorch(exports, model, variant):
    exported = exports[variant][0]
    s = session(exported.files["model" if exported.ctc else "encoder"])
    x, _ = random_features([4 * 2 * CHUNK + 13] * 2, seed=3)
    state = model.initial_state(2, LEFT)
    feeds = {k: v.numpy() for k, v in flat_state(state).items()}
    worst = 0.0
    for start in range(0, 4 * 2 * CHUNK, 2 * CHUNK):
        window = x[:, start : start + 2 * CHUNK + 13]
        outs = s.run(None, {"x": window.numpy(), **feeds})
        with torch.no_grad():
            enc, state = model.encode_chunk(window, state)
            ref = head(model, exported.ctc, enc)
        worst = max(worst, max_diff(outs[0], ref))
        for got, want in zip(outs[1:], state.to_flat()):
            worst = max(worst, max_diff(got.astype(np.float32), want.to(torch.float32)))
        feeds = dict(zip(feeds, outs[1:]))  # new_* outputs feed the next call, in order
    print(f"{variant}: max |onnxruntime - PyTorch| over outputs and states = {worst:.2e}")
    assert worst <= TOLERANCE


def test_decoder_and_joiner_match_pytorch(exports, model):
    exported = exports["offline_transducer"][0]
    head = model.transducer
    assert head is not None
    y = torch.tensor([[-1, 0], [5, 7], [54, 3]])  # -1: the start context embeds to zeros
    (dec,) = session(exported.files["decoder"]).run(None, {"y": y.numpy()})
    enc = torch.randn(3, 32)
    (logit,) = session(exported.files["joiner"]).run(
        None, {"encoder_out": enc.numpy(), "decoder_out": dec}
    )
    with torch.no_grad():
        ref_dec = head.joiner.decoder_proj(head.decoder(y, need_pad=False)).squeeze(1)
        ref_logit = head.joiner(enc, ref_dec, project_input=False)
    assert max(max_diff(dec, ref_dec), max_diff(logit, ref_logit)) <= TOLERANCE


def test_an_export_prints_nothing_a_user_would_read_as_failure(tmp_path, caplog, recwarn) -> None:
    """torch's exporter logs "torchvision is not installed" lines and FutureWarnings about its
    internals; zipasr's export keeps them from the user."""
    from zipasr.export.onnx import _export_graph

    n = torch.export.Dim("N", min=2)
    with caplog.at_level(logging.INFO):
        _export_graph(
            torch.nn.Linear(4, 3),
            (torch.zeros(2, 4),),
            tmp_path / "l.onnx",
            ["x"],
            ["y"],
            ({0: n},),
        )
    assert (tmp_path / "l.onnx").stat().st_size > 0
    assert not [r for r in caplog.records if r.levelno >= logging.WARNING], caplog.text
    assert not [w for w in recwarn if issubclass(w.category, FutureWarning | UserWarning)]
