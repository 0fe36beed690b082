"""Text in any script: the normalisers, CJK characters, icefall's byte mapping, and the rule that
turns a token table's pieces into text.

Pure Python (no extra needed), below every other layer, so that tokenizers, decoders, scoring
and export all share one definition.

Normalisers (:data:`NORMALIZERS`; a model records the one it was trained with):

``"english"``
    LibriSpeech's convention and zipasr's historical one: Unicode NFKC; upper case; typographic
    apostrophes become ``'``; every character that is not A-Z, 0-9 or ``'`` becomes a space;
    runs of spaces collapse and the ends are trimmed. Letters outside A-Z are lost
    (``niño`` -> ``NI O``), so it is only for English.
``"basic"``
    For every language: NFKC; case folding (``str.casefold``); letters, combining marks and
    digits of every script are kept; an apostrophe between two letters is kept (as ``'``);
    everything else (punctuation, symbols, control characters) becomes a space; spaces collapse;
    then the CJK spacing rule of :func:`cjk_spacing`.
``"none"``
    The text as given.

Characters of scripts written without spaces between words (Han, kana, bopomofo: see
:func:`is_cjk`) are scored and tokenised one by one, as icefall's Chinese and bilingual recipes do.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Callable, Sequence

NORMALIZERS = ("english", "basic", "none")
#: sentencepiece's word-boundary marker.
WORD_BOUNDARY = "\u2581"
#: The pieces that never stand for text (icefall's reserved ids 0, 1, 2).
RESERVED_PIECES = ("<blk>", "<sos/eos>", "<unk>")

_APOSTROPHES = str.maketrans({"\u2019": "'", "\u2018": "'", "`": "'"})
_NOT_ENGLISH = re.compile(r"[^A-Z0-9']+")
_SPACES = re.compile(r"\s+")

#: Code point ranges (inclusive) of the characters treated as CJK: Han ideographs (the unified
#: blocks, extensions A-H and the compatibility blocks), the ideographic zero and iteration
#: mark, hiragana, katakana (with the phonetic extensions and half-width forms) and bopomofo.
#: Hangul is not among them: Korean is written with spaces between words.
CJK_RANGES = (
    (0x3005, 0x3007),
    (0x3040, 0x309F),
    (0x30A0, 0x30FF),
    (0x3100, 0x312F),
    (0x31A0, 0x31BF),
    (0x31F0, 0x31FF),
    (0x3400, 0x4DBF),
    (0x4E00, 0x9FFF),
    (0xF900, 0xFAFF),
    (0xFF66, 0xFF9F),
    (0x20000, 0x2A6DF),
    (0x2A700, 0x2EBEF),
    (0x2F800, 0x2FA1F),
    (0x30000, 0x323AF),
)


def is_cjk(char: str) -> bool:
    """True for one character of :data:`CJK_RANGES`."""
    code = ord(char)
    return any(lo <= code <= hi for lo, hi in CJK_RANGES)


def has_cjk(text: str) -> bool:
    return any(is_cjk(c) for c in text)


def mixed_units(text: str) -> list[str]:
    """The units of the mixed error rate: each CJK character on its own, and each run of other
    non-space characters (a word). ``"我用iphone 打电话"`` -> ``我 用 iphone 打 电 话``."""
    units: list[str] = []
    for chunk in text.split():
        word = ""
        for char in chunk:
            if is_cjk(char):
                if word:
                    units.append(word)
                    word = ""
                units.append(char)
            else:
                word += char
        if word:
            units.append(word)
    return units


def cjk_spacing(text: str) -> str:
    """No space between two CJK characters, one space between a CJK character and a word, one
    space between words: ``" 今天 天气 hello世界"`` -> ``"今天天气 hello 世界"``."""
    out = ""
    previous = ""
    for unit in mixed_units(text):
        if out and not (is_cjk(unit[0]) and is_cjk(previous[-1])):
            out += " "
        out += unit
        previous = unit
    return out


def normalize_english(text: str) -> str:
    """The ``"english"`` normaliser (see the module docstring).

    >>> normalize_english("  Hello, world! It’s 9 a.m.")
    "HELLO WORLD IT'S 9 A M"
    """
    text = unicodedata.normalize("NFKC", text).upper().translate(_APOSTROPHES)
    return _NOT_ENGLISH.sub(" ", text).strip()


def _is_letter(char: str) -> bool:
    return unicodedata.category(char)[0] in "LM"


def normalize_basic(text: str) -> str:
    """The ``"basic"`` normaliser (see the module docstring).

    >>> normalize_basic("  Hello, world! It’s 9 a.m. Ça va? 今天 天气很好。")
    "hello world it's 9 a m ça va 今天天气很好"
    """
    text = unicodedata.normalize("NFKC", text).casefold()
    text = unicodedata.normalize("NFKC", text).translate(_APOSTROPHES)
    kept = []
    for i, char in enumerate(text):
        kind = unicodedata.category(char)[0]
        if kind in "LMN":
            kept.append(char)
        elif (
            char == "'"
            and 0 < i < len(text) - 1
            and _is_letter(text[i - 1])
            and _is_letter(text[i + 1])
        ):
            kept.append(char)
        else:
            kept.append(" ")
    return cjk_spacing("".join(kept))


def normalize_none(text: str) -> str:
    """The ``"none"`` normaliser: ``text`` unchanged."""
    return text


_NORMALIZE: dict[str, Callable[[str], str]] = {
    "english": normalize_english,
    "basic": normalize_basic,
    "none": normalize_none,
}


def normalizer(name: str) -> Callable[[str], str]:
    """The normalising function called ``name`` (one of :data:`NORMALIZERS`)."""
    if name not in _NORMALIZE:
        raise ValueError(f"normalizer={name!r}; choose one of {list(NORMALIZERS)}")
    return _NORMALIZE[name]


def normalize(text: str, name: str = "english") -> str:
    """``text`` through the normaliser called ``name``."""
    return normalizer(name)(text)


# --- icefall's byte-level BPE mapping -------------------------------------------------------------
#
# Byte-level BPE (icefall's bbpe recipes) trains sentencepiece on text whose UTF-8 bytes are each
# written as one printable character: byte b becomes the character BYTE_CHARS[b]. The characters
# are contiguous code point runs, chosen (by icefall) to be printable and unchanged by NFKC.
_BYTE_CHAR_RUNS = (  # (first byte, first code point, length)
    (0, 256, 32),
    (32, 32, 95),
    (127, 288, 18),
    (145, 308, 11),
    (156, 321, 8),
    (164, 330, 53),
    (217, 384, 39),
)
BYTE_CHARS: tuple[str, ...] = tuple(
    chr(code + k) for _, code, length in _BYTE_CHAR_RUNS for k in range(length)
)
_BYTE_OF = {char: byte for byte, char in enumerate(BYTE_CHARS)}
assert len(BYTE_CHARS) == 256 and len(_BYTE_OF) == 256


def byte_encode(text: str) -> str:
    """``text`` as byte characters: each UTF-8 byte becomes ``BYTE_CHARS[byte]`` (whitespace
    runs first become one space, byte 32, which maps to itself)."""
    return "".join(BYTE_CHARS[b] for b in _SPACES.sub(" ", text).encode("utf-8"))


def byte_decode(chars: str) -> str:
    """The inverse of :func:`byte_encode`. Characters that are not byte characters are kept as
    they are; byte sequences that are not valid UTF-8 (a decoder cut a character short) are
    dropped."""
    data = bytearray()
    for char in chars:
        byte = _BYTE_OF.get(char)
        if byte is None:
            data += char.encode("utf-8")
        else:
            data.append(byte)
    return data.decode("utf-8", errors="ignore")


def is_byte_bpe(table: Sequence[str]) -> bool:
    """Whether ``table`` is a byte-level BPE token table, by sherpa-onnx's test: every piece,
    after an optional leading ``▁``, is made of characters whose UTF-8 bytes are at most 0xC6,
    and some piece reaches 0xC6 (the byte characters of bytes 217-255 are U+0180-U+01A6)."""
    top = 0
    for piece in table:
        data = piece.removeprefix(WORD_BOUNDARY).encode("utf-8")
        if not data:
            continue
        high = max(data)
        if high > 0xC6:
            return False
        top = max(top, high)
    return top == 0xC6


# --- token tables to text ---------------------------------------------------------------------

_KIND_CACHE: dict[int, tuple[Sequence[str], bool]] = {}


def _byte_level(table: Sequence[str]) -> bool:
    """:func:`is_byte_bpe`, remembered for the last few tables (decoders call this per
    utterance; the table is the model's and does not change)."""
    hit = _KIND_CACHE.get(id(table))
    if hit is not None and hit[0] is table:
        return hit[1]
    if len(_KIND_CACHE) > 8:
        _KIND_CACHE.clear()
    result = is_byte_bpe(table)
    _KIND_CACHE[id(table)] = (table, result)
    return result


def pieces_to_text(pieces: Sequence[str], byte_level: bool = False) -> str:
    """Joins token pieces into text.

    Pieces: ``▁`` starts a word (a space). Byte-level pieces are byte characters, reassembled
    into UTF-8 (reserved pieces such as ``<unk>`` are dropped). Text with CJK characters gets the
    spacing of :func:`cjk_spacing`; other text only loses its leading and trailing spaces, as
    zipasr always did for English.
    """
    if byte_level:
        joined = "".join(p for p in pieces if p not in RESERVED_PIECES)
        text = byte_decode(joined.replace(WORD_BOUNDARY, " "))
    else:
        text = "".join(pieces).replace(WORD_BOUNDARY, " ")
    if has_cjk(text):
        return cjk_spacing(text)
    return text.strip()


def tokens_to_text(tokens: Sequence[int], table: Sequence[str]) -> str:
    """The text of token ids, read with ``table`` (index = id): byte-level BPE tables (detected
    by :func:`is_byte_bpe`) are byte-decoded, others joined (see :func:`pieces_to_text`)."""
    return pieces_to_text([table[t] for t in tokens], _byte_level(table))


def guess_normalizer(table: Sequence[str] | None) -> str:
    """The normaliser a model with this token table was most likely trained with, for models
    that do not record one (icefall checkpoints): ``"english"`` for tables of ASCII pieces (an
    icefall LibriSpeech BPE table), else ``"basic"``."""
    if table is None:
        return "english"
    if is_byte_bpe(table):
        return "basic"
    ascii_only = all(p.removeprefix(WORD_BOUNDARY).isascii() for p in table)
    return "english" if ascii_only else "basic"


METRICS = ("wer", "cer", "mer")


def default_metric(table: Sequence[str] | None) -> str:
    """``"cer"`` for a table with CJK characters and no word pieces (a Chinese char or bbpe
    model), ``"mer"`` for CJK characters and word pieces of two or more letters (a bilingual
    model), ``"wer"`` otherwise."""
    if table is None:
        return "wer"
    byte_level = is_byte_bpe(table)
    cjk = words = False
    for piece in table:
        if piece in RESERVED_PIECES:
            continue
        body = piece.removeprefix(WORD_BOUNDARY)
        if byte_level:
            data = bytes(_BYTE_OF[c] for c in body if c in _BYTE_OF)
            cjk = cjk or any(0xE3 <= b <= 0xE9 for b in data)  # lead bytes of U+3000-U+9FFF
            body = data.decode("utf-8", errors="ignore")
        cjk = cjk or has_cjk(body)
        letters = [c for c in body if c.isalpha() and not is_cjk(c)]
        words = words or len(letters) >= 2
    if cjk:
        return "mer" if words else "cer"
    return "wer"


def metric_units(text: str, metric: str) -> list[str]:
    """The units a metric counts in ``text``: words (``"wer"``, split on whitespace),
    characters other than whitespace (``"cer"``, as icefall scores Chinese), or CJK characters
    and words (``"mer"``, see :func:`mixed_units`)."""
    if metric == "wer":
        return text.split()
    if metric == "cer":
        return [c for c in text if not c.isspace()]
    if metric == "mer":
        return mixed_units(text)
    raise ValueError(f"metric={metric!r}; choose one of {list(METRICS)}")
