from __future__ import annotations

import pytest

from zipasr.data import Tokenizer, normalize_text


def test_reserved_ids_are_icefalls(tokenizer: Tokenizer) -> None:
    assert tokenizer.pieces()[:3] == ["<blk>", "<sos/eos>", "<unk>"]
    assert tokenizer.blank_id == 0 and 3 < tokenizer.vocab_size <= 120


def test_tokens_txt_is_sherpa_onnx_format(tokenizer: Tokenizer) -> None:
    lines = (tokenizer.model_path.parent / "tokens.txt").read_text().splitlines()
    assert len(lines) == tokenizer.vocab_size
    assert lines[:3] == ["<blk> 0", "<sos/eos> 1", "<unk> 2"]
    assert all(line.rsplit(" ", 1)[1] == str(i) for i, line in enumerate(lines))


def test_encode_normalises_and_decode_inverts(tokenizer: Tokenizer) -> None:
    ids = tokenizer.encode(["The red House, near the river!"])
    assert all(i > 2 for i in ids[0])
    assert tokenizer.decode(ids) == ["THE RED HOUSE NEAR THE RIVER"]


def test_normalize_text_rule() -> None:
    assert normalize_text("  Hello,\tworld! It’s 9 a.m. ") == "HELLO WORLD IT'S 9 A M"
    assert normalize_text("?!") == ""


def test_tokenizer_errors_name_the_fix(tmp_path) -> None:
    with pytest.raises(FileNotFoundError, match="train_tokenizer"):
        Tokenizer(tmp_path / "missing.model")
