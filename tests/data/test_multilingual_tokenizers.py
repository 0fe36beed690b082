"""Tokenizers for every language: round trips of mixed Chinese/English/French/Russian text with
every tokenizer kind, the recorded kind and normaliser, and the English default kept."""

from __future__ import annotations

import random

import pytest

from zipasr.data import Tokenizer, train_tokenizer
from zipasr.data.tokenizer import TOKENIZER_TYPES, read_metadata
from zipasr.text import is_byte_bpe, normalize, tokens_to_text

CHINESE = ["今天天气很好", "我们去公园", "电话号码", "北京", "喝咖啡", "图书馆", "学习", "你好世界"]
ENGLISH = ["Hello", "world", "It's", "nine", "o'clock", "the", "station", "New York"]
FRENCH = ["niño", "año", "l'école", "Ça", "été", "garçon", "où", "Noël", "cœur"]
RUSSIAN = ["Привет", "мир", "Москва", "улица", "хорошо", "ёлка", "съезд", "Щука"]
PUNCTUATION = ["", "", ",", "!", "?", "。", "，", "«", "»", "—"]


def mixed_strings(n: int = 50, seed: int = 0) -> list[str]:
    """``n`` strings of 2-7 words drawn from all four languages, with punctuation and mixed
    case; the first four are the issue's strings."""
    rng = random.Random(seed)
    pools = [CHINESE, ENGLISH, FRENCH, RUSSIAN]
    out = ["今天天气很好", "Привет мир", "niño año", "  Hello, world! It’s 9 a.m."]
    while len(out) < n:
        words = [rng.choice(rng.choice(pools)) + rng.choice(PUNCTUATION) for _ in range(7)]
        out.append(" ".join(words[: rng.randint(2, 7)]))
    return out


STRINGS = mixed_strings()


@pytest.fixture(scope="module", params=TOKENIZER_TYPES)
def tokenizer(request, tmp_path_factory) -> Tokenizer:
    out = tmp_path_factory.mktemp(request.param.replace("+", "_"))
    return train_tokenizer(
        STRINGS, out, vocab_size=400, model_type=request.param, normalizer="basic"
    )


def test_round_trip_of_50_mixed_strings(tokenizer: Tokenizer) -> None:
    assert len(set(STRINGS)) == 50
    expected = [normalize(t, "basic") for t in STRINGS]
    ids = tokenizer.encode(STRINGS)
    assert all(ids) and all(min(i) > 2 for i in ids)  # no <unk>: every character is covered
    assert tokenizer.decode(ids) == expected
    # The decoders' rule (the token table alone, as a saved model or sherpa-onnx has it) agrees.
    assert [tokens_to_text(i, tokenizer.pieces()) for i in ids] == expected


def test_kind_and_normaliser_are_recorded(tokenizer: Tokenizer) -> None:
    folder = tokenizer.model_path.parent
    assert read_metadata(folder) == {"kind": tokenizer.kind, "normalizer": "basic"}
    again = Tokenizer(tokenizer.model_path)
    assert (again.kind, again.normalizer) == (tokenizer.kind, "basic")
    assert again.encode(STRINGS[:5]) == tokenizer.encode(STRINGS[:5])
    table = (folder / "tokens.txt").read_text(encoding="utf-8").splitlines()
    assert table[:3] == ["<blk> 0", "<sos/eos> 1", "<unk> 2"]
    assert is_byte_bpe(tokenizer.pieces()) == (tokenizer.kind == "bbpe")


def test_pieces_of_each_kind(tokenizer: Tokenizer) -> None:
    pieces = [tokenizer.pieces()[i] for i in tokenizer.encode(["今天天气很好 hello"])[0]]
    if tokenizer.kind in ("char", "cjkchar+bpe"):  # one token per CJK character
        assert [p.lstrip("▁") for p in pieces[:6]] == list("今天天气很好")
    if tokenizer.kind == "char":
        assert pieces[6:] == ["▁", "h", "e", "l", "l", "o"]


def test_a_bpe_model_without_metadata_is_english(tmp_path) -> None:
    tokenizer = train_tokenizer(["the red house", "a blue river"] * 5, tmp_path, vocab_size=30)
    (tmp_path / "tokenizer.json").unlink()  # as written before tokenizer.json existed
    old = Tokenizer(tmp_path / "bpe.model")
    assert (old.kind, old.normalizer) == ("bpe", "english")
    assert old.decode(old.encode(["The red, house!"])) == ["THE RED HOUSE"]
    assert tokenizer.encode(["the red house"]) == old.encode(["the red house"])


def test_english_normaliser_keeps_nothing_of_other_scripts(tmp_path) -> None:
    with pytest.raises(ValueError, match="basic"):
        train_tokenizer(["今天天气很好", "Привет мир"], tmp_path)
    with pytest.raises(ValueError, match="model_type"):
        train_tokenizer(["a"], tmp_path, model_type="wordpiece")
