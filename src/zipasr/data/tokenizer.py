"""SentencePiece tokenizer with icefall's reserved ids, and sherpa-onnx's ``tokens.txt``.

Ids 0, 1 and 2 are ``<blk>`` (the transducer/CTC blank), ``<sos/eos>`` and ``<unk>``, as in
icefall's ``train_bpe_model.py``; sherpa-onnx reads the same table from ``tokens.txt``. Text is
normalised with :func:`zipasr.data.text.normalize_text` before training and encoding.
"""

from __future__ import annotations

import tempfile
from collections.abc import Iterable
from pathlib import Path
from typing import Literal

from zipasr.data.text import normalize_text

BLANK_ID = 0
SOS_EOS_ID = 1
UNK_ID = 2
_RESERVED = ("<blk>", "<sos/eos>")  # user-defined symbols take ids 0 and 1; <unk> follows


class Tokenizer:
    """A trained SentencePiece model (``bpe.model``).

    Args:
        model_path: the ``bpe.model`` file written by :func:`train_tokenizer` (or icefall's).
    """

    def __init__(self, model_path: str | Path) -> None:
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

    @property
    def vocab_size(self) -> int:
        """Number of token ids V, including the three reserved ones."""
        return int(self._sp.get_piece_size())

    @property
    def blank_id(self) -> int:
        return BLANK_ID

    def encode(self, texts: list[str]) -> list[list[int]]:
        """Token ids of each text, after normalisation: B strings -> B lists of length U_b."""
        return [list(ids) for ids in self._sp.encode([normalize_text(t) for t in texts])]

    def decode(self, token_ids: list[list[int]]) -> list[str]:
        """Texts of B id lists (reserved ids are dropped)."""
        return [self._sp.decode([i for i in ids if i > UNK_ID]) for ids in token_ids]

    def pieces(self) -> list[str]:
        """All pieces, indexed by id."""
        return [self._sp.id_to_piece(i) for i in range(self.vocab_size)]

    def write_tokens_txt(self, path: str | Path) -> Path:
        """Writes sherpa-onnx's ``tokens.txt`` (one ``piece id`` per line) and returns its path."""
        path = Path(path)
        path.write_text("".join(f"{p} {i}\n" for i, p in enumerate(self.pieces())))
        return path


def train_tokenizer(
    texts: Iterable[str],
    out_dir: str | Path,
    vocab_size: int = 500,
    model_type: Literal["bpe", "unigram"] = "bpe",
) -> Tokenizer:
    """Trains a SentencePiece model on normalised ``texts``; writes ``out_dir/bpe.model`` and
    ``out_dir/tokens.txt``.

    Args:
        texts: transcripts (raw; they are normalised here).
        out_dir: created if missing.
        vocab_size: V, including ``<blk>``, ``<sos/eos>`` and ``<unk>``. For a small corpus it
            may exceed what BPE can find; the model then has fewer pieces (a warning is logged by
            sentencepiece) rather than failing.
        model_type: ``"bpe"``, or ``"unigram"`` as icefall's LibriSpeech recipe uses.
    """
    import sentencepiece as spm

    if model_type not in ("bpe", "unigram"):
        raise ValueError(f"model_type={model_type!r}; choose 'bpe' or 'unigram'")
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    lines = [t for t in (normalize_text(t) for t in texts) if t]
    if not lines:
        raise ValueError("texts holds no non-empty transcript; pass the training transcripts")
    with tempfile.TemporaryDirectory() as tmp:
        corpus = Path(tmp) / "transcripts.txt"
        corpus.write_text("\n".join(lines) + "\n")
        spm.SentencePieceTrainer.train(
            input=str(corpus),
            model_prefix=str(out_dir / "bpe"),
            model_type=model_type,
            vocab_size=vocab_size,
            character_coverage=1.0,
            user_defined_symbols=list(_RESERVED),
            unk_id=UNK_ID,
            bos_id=-1,
            eos_id=-1,
            hard_vocab_limit=False,
            input_sentence_size=100_000_000,
            minloglevel=2,
        )
    tokenizer = Tokenizer(out_dir / "bpe.model")
    tokenizer.write_tokens_txt(out_dir / "tokens.txt")
    return tokenizer
