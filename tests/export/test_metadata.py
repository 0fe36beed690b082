"""The metadata and state names sherpa-onnx reads, against the contract's worked example."""

from __future__ import annotations

import pytest

from zipasr.encoder import ZipformerConfig
from zipasr.export.adapters import state_batch_axes, state_names
from zipasr.export.metadata import streaming_metadata, write_tokens


def test_streaming_metadata_of_medium_matches_the_contract_example():
    meta = streaming_metadata(ZipformerConfig.medium(causal=True), 16, 128, ctc=False)
    assert meta == {
        "model_type": "zipformer2",
        "version": "1",
        "model_author": "zipasr",
        "comment": "streaming zipformer2",
        "decode_chunk_len": "32",
        "T": "45",
        "num_encoder_layers": "2,2,3,4,3,2",
        "encoder_dims": "192,256,384,512,384,256",
        "cnn_module_kernels": "31,31,15,15,15,31",
        "left_context_len": "128,64,32,16,32,64",
        "query_head_dims": "32,32,32,32,32,32",
        "value_head_dims": "12,12,12,12,12,12",
        "num_heads": "4,4,4,8,4,4",
    }


def test_streaming_ctc_metadata_keeps_model_type_zipformer2():
    meta = streaming_metadata(ZipformerConfig.medium(causal=True), 32, 256, ctc=True)
    assert meta["model_type"] == "zipformer2"
    assert (meta["T"], meta["decode_chunk_len"]) == ("77", "64")


def test_medium_model_has_99_streaming_inputs():
    names = state_names(sum(ZipformerConfig.medium().num_layers))
    assert len(names) + 1 == 99  # x, then 98 states (sherpa#679)
    assert names[:7] == [
        "cached_key_0",
        "cached_nonlin_attn_0",
        "cached_val1_0",
        "cached_val2_0",
        "cached_conv1_0",
        "cached_conv2_0",
        "cached_key_1",
    ]
    assert names[-2:] == ["embed_states", "processed_lens"]
    assert state_batch_axes(16)[:6] == [1, 1, 1, 1, 0, 0]


def test_tokens_with_whitespace_are_refused(tmp_path):
    with pytest.raises(ValueError, match="token 1 is 'a b'"):
        write_tokens(["<blk>", "a b"], tmp_path / "tokens.txt")
