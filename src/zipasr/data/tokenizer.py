"""Tokenizers for every language, all stored as one sentencepiece model, with icefall's
reserved ids and sherpa-onnx's ``tokens.txt``.

Ids 0, 1 and 2 are ``<blk>`` (the transducer/CTC blank), ``<sos/eos>`` and ``<unk>``, as in
icefall's ``train_bpe_model.py``; sherpa-onnx reads the same table from ``tokens.txt``.

Kinds (:data:`TOKENIZER_TYPES`):

``"bpe"``, ``"unigram"``
    sentencepiece pieces of the normalised text (icefall's LibriSpeech recipes).
``"char"``
    one token per character; a space between words is the piece ``▁`` (CJK text has none).
``"cjkchar+bpe"``
    every CJK character its own token, other words in BPE pieces, as icefall's bilingual
    recipes do (BPE trained on the text with a space around each CJK character).
``"bbpe"``
    byte-level BPE as icefall's bbpe recipes: BPE over :func:`zipasr.text.byte_encode`'d text
    (CJK characters spaced as for ``cjkchar+bpe``); all 255 non-space byte characters are in the
    table, so any text can be encoded and the table is recognised as byte-level by zipasr and
    sherpa-onnx alike.

Text is normalised before training and encoding by the tokenizer's normaliser
(:data:`zipasr.text.NORMALIZERS`); token ids are turned back into text by
:func:`zipasr.text.pieces_to_text`, the rule the decoders use. The kind and the normaliser are
recorded in ``tokenizer.json`` beside ``bpe.model``; a ``bpe.model`` without it is an English
BPE/unigram model (the normaliser ``"english"``), as before.
"""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Iterable
from pathlib import Path

from zipasr.text import (
    BYTE_CHARS,
    WORD_BOUNDARY,
    byte_encode,
    is_cjk,
    normalizer,
    pieces_to_text,
)

BLANK_ID = 0
SOS_EOS_ID = 1
UNK_ID = 2
_RESERVED = ("<blk>", "<sos/eos>")  # user-defined symbols take ids 0 and 1; <unk> follows
TOKENIZER_TYPES = ("bpe", "unigram", "char", "cjkchar+bpe", "bbpe")
METADATA = "tokenizer.json"


def space_cjk(text: str) -> str:
    """A space on each side of every CJK character (icefall's ``tokenize_by_CJK_char``), so that
    sentencepiece keeps each one a word of its own."""
    out = []
    for char in text:
        out.append(f" {char} " if is_cjk(char) else char)
    return " ".join("".join(out).split())


class Tokenizer:
    """A trained tokenizer: a sentencepiece model (``bpe.model``) of one of the kinds above.

    Args:
        model_path: the ``bpe.model`` file written by :func:`train_tokenizer` (or icefall's).
        kind, normalizer: override what ``tokenizer.json`` beside the model says; without that
            file, ``"bpe"`` (or ``"unigram"``, from the model) and ``"english"``.
    """

    def __init__(
        self, model_path: str | Path, kind: str | None = None, normalizer: str | None = None
    ) -> None:
        import sentencepiece as spm

        self.model_path = Path(model_path)
        if not self.model_path.is_file():
            raise FileNotFoundError(
                f"model_path={self.model_path} does not exist; train one with "
                "zipasr.data.train_tokenizer(texts, out_dir)"
            )
        self._sp = spm.SentencePieceProcessor(model_file=str(self.model_path))
        if self._sp.id_to_piece(BLANK_ID) != "<blk>" or self._sp.unk_id() != UNK_ID:
            raise ValueError(
                f"{self.model_path} has id 0 = {self._sp.id_to_piece(0)!r} and unk_id = "
                f"{self._sp.unk_id()}; zipasr needs <blk>=0 and <unk>=2 (train it with "
                "train_tokenizer)"
            )
        recorded = read_metadata(self.model_path.parent)
        self.kind: str = kind or recorded.get("kind") or self._sp_type()
        self.normalizer: str = normalizer or recorded.get("normalizer") or "english"
        if self.kind not in TOKENIZER_TYPES:
            raise ValueError(f"kind={self.kind!r}; choose one of {list(TOKENIZER_TYPES)}")
        self._normalize = _normalizer_checked(self.normalizer)
        self._pieces = [self._sp.id_to_piece(i) for i in range(self.vocab_size)]

    def _sp_type(self) -> str:
        from sentencepiece import sentencepiece_model_pb2 as model_pb2

        proto = model_pb2.ModelProto()  # type: ignore[attr-defined]
        proto.ParseFromString(self.model_path.read_bytes())
        names = {1: "unigram", 2: "bpe", 4: "char"}
        return names.get(proto.trainer_spec.model_type, "bpe")

    @property
    def vocab_size(self) -> int:
        """Number of token ids V, including the three reserved ones."""
        return int(self._sp.get_piece_size())

    @property
    def blank_id(self) -> int:
        return BLANK_ID

    def normalize(self, text: str) -> str:
        """``text`` as this tokenizer's normaliser writes it (what it encodes and scores)."""
        return self._normalize(text)

    def _prepare(self, text: str) -> str:
        """Normalised text in the form sentencepiece was trained on."""
        text = self._normalize(text)
        if self.kind == "cjkchar+bpe":
            return space_cjk(text)
        if self.kind == "bbpe":
            return byte_encode(space_cjk(text))
        return text

    def encode(self, texts: list[str]) -> list[list[int]]:
        """Token ids of each text, after normalisation: B strings -> B lists of length U_b."""
        return [list(ids) for ids in self._sp.encode([self._prepare(t) for t in texts])]

    def decode(self, token_ids: list[list[int]]) -> list[str]:
        """Texts of B id lists (reserved ids are dropped), as the decoders write them."""
        kept = [[i for i in ids if i > UNK_ID] for ids in token_ids]
        if self.normalizer == "english" and self.kind in ("bpe", "unigram"):
            return [self._sp.decode(ids) for ids in kept]  # zipasr's English text, unchanged
        byte_level = self.kind == "bbpe"
        return [pieces_to_text([self._pieces[i] for i in ids], byte_level) for ids in kept]

    def pieces(self) -> list[str]:
        """All pieces, indexed by id."""
        return list(self._pieces)

    def write_tokens_txt(self, path: str | Path) -> Path:
        """Writes sherpa-onnx's ``tokens.txt`` (one ``piece id`` per line) and returns its path."""
        path = Path(path)
        _write_atomic(path, "".join(f"{p} {i}\n" for i, p in enumerate(self.pieces())))
        return path


def read_metadata(folder: str | Path) -> dict[str, str]:
    """``tokenizer.json`` of a tokenizer folder (kind and normaliser), or {} if it has none."""
    path = Path(folder) / METADATA
    if not path.is_file():
        return {}
    data = json.loads(path.read_text(encoding="utf-8"))
    return {k: str(v) for k, v in data.items() if k in ("kind", "normalizer")}


def write_metadata(tokenizer: Tokenizer, folder: str | Path) -> Path:
    """Writes ``folder/tokenizer.json`` (the tokenizer's kind and normaliser); returns its path."""
    path = Path(folder) / METADATA
    record = {"kind": tokenizer.kind, "normalizer": tokenizer.normalizer}
    _write_atomic(path, json.dumps(record) + "\n")
    return path


def _normalizer_checked(name: str):  # -> Callable[[str], str]
    return normalizer(name)


def _write_atomic(path: Path, text: str) -> None:
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    with os.fdopen(fd, "w", encoding="utf-8") as f:
        f.write(text)
    os.chmod(tmp, 0o644)
    os.replace(tmp, path)


def train_tokenizer(
    texts: Iterable[str],
    out_dir: str | Path,
    vocab_size: int = 500,
    model_type: str = "bpe",
    normalizer: str = "english",
) -> Tokenizer:
    """Trains a tokenizer on normalised ``texts``; writes ``out_dir/bpe.model``,
    ``out_dir/tokens.txt`` and ``out_dir/tokenizer.json`` (kind and normaliser).

    Args:
        texts: transcripts (raw; they are normalised here).
        out_dir: created if missing.
        vocab_size: V, including ``<blk>``, ``<sos/eos>`` and ``<unk>``. For a small corpus it
            may exceed what sentencepiece can find; the model then has fewer pieces rather than
            failing. ``"char"`` keeps every character up to this size; ``"bbpe"`` needs at least
            258 + the merges you want (the 255 byte characters are always in).
        model_type: one of :data:`TOKENIZER_TYPES` (``"unigram"`` is icefall's LibriSpeech one).
        normalizer: one of :data:`zipasr.text.NORMALIZERS`; ``"english"`` drops every letter
            outside A-Z, so use ``"basic"`` for other languages.
    """
    import sentencepiece as spm

    if model_type not in TOKENIZER_TYPES:
        raise ValueError(f"model_type={model_type!r}; choose one of {list(TOKENIZER_TYPES)}")
    normalize = _normalizer_checked(normalizer)
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    options: dict = {}
    sp_type = {"char": "char", "unigram": "unigram"}.get(model_type, "bpe")
    if model_type == "bbpe":
        options["required_chars"] = "".join(c for c in BYTE_CHARS if c != " ")
        vocab_size = max(vocab_size, len(BYTE_CHARS) + 3)
    if model_type == "char":
        options["add_dummy_prefix"] = False  # no ▁ before the first character
    if normalizer != "english" or model_type not in ("bpe", "unigram"):
        options["normalization_rule_name"] = "identity"  # ours is applied; sentencepiece's not
    with tempfile.TemporaryDirectory() as tmp:
        corpus = Path(tmp) / "transcripts.txt"
        written = 0
        with corpus.open("w", encoding="utf-8") as f:  # streamed: texts may be a huge iterator
            for text in texts:
                line = normalize(text)
                if not line.strip():
                    continue
                if model_type in ("cjkchar+bpe", "bbpe"):
                    line = space_cjk(line)
                if model_type == "bbpe":
                    line = byte_encode(line)
                f.write(line + "\n")
                written += 1
        if not written:
            raise ValueError(
                f"texts holds no transcript that is non-empty after the {normalizer!r} "
                "normaliser; pass the training transcripts"
                + (
                    ""
                    if normalizer != "english"
                    else " (or normalizer='basic' for non-English text)"
                )
            )
        spm.SentencePieceTrainer.train(
            input=str(corpus),
            model_prefix=str(out_dir / "bpe"),
            model_type=sp_type,
            vocab_size=vocab_size,
            character_coverage=1.0,
            user_defined_symbols=list(_RESERVED),
            unk_id=UNK_ID,
            bos_id=-1,
            eos_id=-1,
            hard_vocab_limit=False,
            input_sentence_size=100_000_000,
            minloglevel=2,
            **options,
        )
    _write_atomic(
        out_dir / METADATA, json.dumps({"kind": model_type, "normalizer": normalizer}) + "\n"
    )
    tokenizer = Tokenizer(out_dir / "bpe.model")
    tokenizer.write_tokens_txt(out_dir / "tokens.txt")
    return tokenizer


__all__ = [
    "BLANK_ID",
    "SOS_EOS_ID",
    "TOKENIZER_TYPES",
    "Tokenizer",
    "UNK_ID",
    "WORD_BOUNDARY",
    "read_metadata",
    "space_cjk",
    "train_tokenizer",
    "write_metadata",
]
