"""zipasr.text: the three normalisers, CJK spacing, icefall's byte mapping, token tables to text,
and the metric a table implies. Pure Python (a core test)."""

from __future__ import annotations

import unicodedata

import pytest

from zipasr.text import (
    BYTE_CHARS,
    NORMALIZERS,
    byte_decode,
    byte_encode,
    cjk_spacing,
    default_metric,
    guess_normalizer,
    is_byte_bpe,
    metric_units,
    normalize,
    tokens_to_text,
)

#: The issue's strings, and what each normaliser makes of them.
EXPECTED = {
    "今天天气很好": {"english": "", "basic": "今天天气很好", "none": "今天天气很好"},
    "Привет мир": {"english": "", "basic": "привет мир", "none": "Привет мир"},
    "niño año": {"english": "NI O A O", "basic": "niño año", "none": "niño año"},
    "  Hello, world! It’s 9 a.m.": {
        "english": "HELLO WORLD IT'S 9 A M",
        "basic": "hello world it's 9 a m",
        "none": "  Hello, world! It’s 9 a.m.",
    },
}


@pytest.mark.parametrize("text", list(EXPECTED))
@pytest.mark.parametrize("name", NORMALIZERS)
def test_each_normaliser_on_the_issue_strings(text: str, name: str) -> None:
    assert normalize(text, name) == EXPECTED[text][name]


def test_basic_keeps_every_script_and_drops_punctuation() -> None:
    assert normalize("Ça va? «Oui», l’homme — 3 €!", "basic") == "ça va oui l'homme 3"
    assert normalize("Straße ΣΊΣΥΦΟΣ", "basic") == "strasse σίσυφοσ"
    assert normalize("नमस्ते दुनिया", "basic") == "नमस्ते दुनिया"  # combining marks kept
    assert normalize("我用iPhone，打电话。 今天 天气", "basic") == "我用 iphone 打电话今天天气"
    assert normalize("？！…", "basic") == ""
    text = "Hello 今天, мир!"
    assert normalize(normalize(text, "basic"), "basic") == normalize(text, "basic")  # idempotent


def test_unknown_normaliser_names_the_choices() -> None:
    with pytest.raises(ValueError, match="english"):
        normalize("x", "french")


def test_cjk_spacing() -> None:
    assert cjk_spacing(" 今 天  hello世界 ok ") == "今天 hello 世界 ok"
    assert cjk_spacing("") == ""


def test_byte_characters_are_icefalls_table() -> None:
    # icefall's PRINTABLE_BASE_CHARS, as runs: bytes 0-31 -> U+0100.., 32-126 -> themselves,
    # then U+0120-U+0131, U+0134-U+013E, U+0141-U+0148, U+014A-U+017E, U+0180-U+01A6.
    expected = [
        *range(256, 288),
        *range(32, 127),
        *range(288, 306),
        *range(308, 319),
        *range(321, 329),
        *range(330, 383),
        *range(384, 423),
    ]
    assert [ord(c) for c in BYTE_CHARS] == expected
    assert all(unicodedata.normalize("NFKC", c) == c for c in BYTE_CHARS)
    for text in ["今天 hello", "Привет мир", "niño año"]:
        assert byte_decode(byte_encode(text)) == text
    assert byte_decode(byte_encode("a\tb\n c")) == "a b c"  # whitespace runs: one space
    assert byte_encode("A é") == "A \u0169\u014f"  # é = C3 A9 -> U+0169 U+014F


#: A byte-level BPE token table written by hand, as icefall's bbpe recipes write them: each
#: piece spells UTF-8 bytes with icefall's byte characters. 今 = E4 BB 8A: E4 -> U+018B (Ƌ),
#: BB -> U+0161 (š), 8A -> U+012B (ī); 天 = E5 A4 A9 -> ƌ Ŋ ŏ; м = D0 BC -> Ŷ Ţ;
#: и = D0 B8 -> Ŷ Ş; р = D1 80 -> ŷ ġ; ñ = C3 B1 -> ũ ŗ (bytes 164-216 are U+014A + b - 164).
HAND_TABLE = [
    "<blk>",
    "<sos/eos>",
    "<unk>",
    "▁\u018b\u0161\u012b",  # 3: ▁今
    "\u018c\u014a\u014f",  # 4: 天
    "▁hel",  # 5
    "lo",  # 6
    "▁\u0176",  # 7: ▁ + first byte of м (D0)
    "\u0162\u0176\u015e",  # 8: last byte of м (BC), then и (D0 B8)
    "\u0177\u0121",  # 9: р (D1 80)
    "▁ni",  # 10
    "\u0169\u0157",  # 11: ñ (C3 B1)
    "o",  # 12
]


def test_hand_made_icefall_bbpe_table_decodes_to_characters() -> None:
    assert is_byte_bpe(HAND_TABLE)
    assert tokens_to_text([3, 4], HAND_TABLE) == "今天"
    assert tokens_to_text([3, 4, 5, 6, 7, 8, 9], HAND_TABLE) == "今天 hello мир"  # м split
    assert tokens_to_text([10, 11, 12], HAND_TABLE) == "niño"
    assert tokens_to_text([7, 5], HAND_TABLE) == "hel"  # a cut-short character is dropped
    assert tokens_to_text([2, 3, 2], HAND_TABLE) == "今"  # <unk> has no bytes
    assert byte_encode("今天") == HAND_TABLE[3][1:] + HAND_TABLE[4]


def test_other_tables_are_not_byte_level() -> None:
    english = ["<blk>", "<sos/eos>", "<unk>", "▁THE", "S", "'"]
    chinese = ["<blk>", "<sos/eos>", "<unk>", "今", "天", "▁"]
    assert not is_byte_bpe(english) and not is_byte_bpe(chinese)
    assert tokens_to_text([3, 4, 3], english) == "THES THE"
    assert (
        tokens_to_text([3, 4, 5, 3], chinese) == "今天今"
        and tokens_to_text([5, 3], chinese) == "今"
    )
    assert tokens_to_text([3, 4, 5], ["<blk>", "<sos/eos>", "<unk>", "▁A", "▁", "B"]) == "A B"


def test_metric_and_normaliser_follow_the_table() -> None:
    english = ["<blk>", "<sos/eos>", "<unk>", "▁THE", "S"]
    assert default_metric(english) == "wer" and guess_normalizer(english) == "english"
    chars = ["<blk>", "<sos/eos>", "<unk>", "今", "天", "▁", "▁a", "b"]
    assert default_metric(chars) == "cer" and guess_normalizer(chars) == "basic"
    bilingual = ["<blk>", "<sos/eos>", "<unk>", "▁今", "天", "▁hello", "lo"]
    assert default_metric(bilingual) == "mer"
    assert default_metric(HAND_TABLE) == "mer"  # ▁hel: a word piece besides 今 and 天
    assert default_metric(HAND_TABLE[:5]) == "cer" and guess_normalizer(HAND_TABLE) == "basic"
    russian = ["<blk>", "<sos/eos>", "<unk>", "▁при", "вет"]
    assert default_metric(russian) == "wer" and guess_normalizer(russian) == "basic"


def test_metric_units() -> None:
    text = "我用 iphone 打电话"
    assert metric_units(text, "wer") == ["我用", "iphone", "打电话"]
    assert metric_units(text, "cer") == list("我用iphone打电话")
    assert metric_units(text, "mer") == ["我", "用", "iphone", "打", "电", "话"]
    with pytest.raises(ValueError, match="mer"):
        metric_units(text, "ter")
