"""Fine-tuning: start a run from a trained model, for all its modules or some, onto the same or
a new vocabulary, with some modules frozen.

The source (``TrainConfig.init_from``) is any model zipasr reads: a zipasr model directory
(:func:`zipasr.load`), a zipasr training checkpoint (``checkpoint-<step>.pt``) or an icefall
checkpoint (``pretrained.pt``, ``epoch-N.pt``); every file is read with ``weights_only=True``.
The run trains the source's architecture. Its vocabulary comes from the run's tokenizer: the
source's own unless another is given, in which case the tensors indexed by the vocabulary
(decoder embedding, joiner output, the simple-loss projections, CTC output, attention-decoder
embedding and output) keep their fresh initialisation and the run names them.

The weights are copied once, when a run starts from scratch; a resumed run takes every weight
from its checkpoint (icefall's recipe has the same rule: ``--do-finetune`` only at the start).
Frozen parameters (``TrainConfig.freeze``, name prefixes) get no gradient and are not given to
the optimizer, so they end the run bit for bit as they started.
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import Tensor, nn

from zipasr.convert.checkpoint import load_icefall
from zipasr.data.tokenizer import read_metadata
from zipasr.loading import load
from zipasr.models import AsrModel
from zipasr.models.config import AsrModelConfig
from zipasr.models.storage import read_tokens
from zipasr.text import guess_normalizer
from zipasr.weights import assign_weights, load_weights_file

log = logging.getLogger(__name__)


@dataclass
class InitSource:
    """A trained model to start from.

    Attributes:
        model: the source model (CPU, float32).
        path: where it was read from.
        tokenizer: the source's sentencepiece model file (``bpe.model``) as bytes, if it came
            with one; tokenizer_kind and normalizer: what it records about it (None: unknown).
        weights: which weights were taken (``"model"``, ``"model_avg"``, ``"pretrained"``).
    """

    model: AsrModel
    path: Path
    tokenizer: bytes | None
    tokenizer_kind: str | None
    normalizer: str | None
    weights: str


def read_source(path: str | Path, *, averaged: bool = True) -> InitSource:
    """Reads the model at ``path`` (see the module docstring).

    ``averaged``: from a training checkpoint (zipasr's or icefall's), take the running average
    of the weights (``model_avg``) rather than the last weights, as icefall recommends for
    fine-tuning; a zipasr checkpoint written before its average began gives its last weights.

    Raises:
        FileNotFoundError: nothing at ``path``.
        ValueError: a file that is neither (named), or weights that do not fit.
    """
    source = Path(path)
    if not source.exists():
        raise FileNotFoundError(f"init_from={source}: no such model directory or checkpoint file")
    if source.is_dir():
        model = load(source)
        bpe = source / "bpe.model"
        recorded = read_metadata(source)
        return InitSource(
            model=model,
            path=source,
            tokenizer=bpe.read_bytes() if bpe.is_file() else None,
            tokenizer_kind=recorded.get("kind"),
            normalizer=recorded.get("normalizer", model.normalizer),
            weights="pretrained",
        )
    data = load_weights_file(source, "checkpoint")
    if isinstance(data, dict) and "model_config" in data and "format" in data:
        return _from_training_checkpoint(data, source, averaged)
    has_avg = isinstance(data, dict) and "model_avg" in data
    del data  # load_icefall reads the file itself
    beside, table = source.parent / "bpe.model", source.parent / "tokens.txt"
    tokens = read_tokens(table) if table.is_file() else None
    model = load_icefall(source, averaged=averaged and has_avg, tokens=tokens)
    model.normalizer = guess_normalizer(tokens)
    return InitSource(
        model=model,
        path=source,
        tokenizer=beside.read_bytes() if beside.is_file() else None,
        tokenizer_kind=None,
        normalizer=None,
        weights="model_avg" if averaged and has_avg else "model",
    )


def _from_training_checkpoint(data: dict, path: Path, averaged: bool) -> InitSource:
    from zipasr.train.checkpoint import TrainCheckpoint

    ckpt = TrainCheckpoint.from_dict(data, where=str(path))
    config = ckpt.config
    # The average holds the initial weights until its first update (ModelAverager).
    began = ckpt.state.step >= config.average_start_step + config.average_period
    use_avg = averaged and began
    if averaged and not began:
        log.warning(
            "%s was written at step %d, before its running average began (step %d): "
            "initialising from its last weights instead",
            path,
            ckpt.state.step,
            config.average_start_step + config.average_period,
        )
    state = ckpt.model_avg if use_avg else ckpt.model
    with torch.device("meta"):
        model = AsrModel(ckpt.model_config, normalizer=config.data.normalizer)
    assign_weights(model, state)
    return InitSource(
        model=model.eval(),
        path=path,
        tokenizer=ckpt.tokenizer,
        tokenizer_kind=config.data.tokenizer_type,
        normalizer=config.data.normalizer,
        weights="model_avg" if use_avg else "model",
    )


def vocabulary_tensors(config: AsrModelConfig) -> list[str]:
    """The state_dict keys of a model of ``config`` whose shapes depend on the vocabulary size
    (found by building the model, without memory, at two sizes)."""
    with torch.device("meta"):
        a = AsrModel(config).state_dict()
        b = AsrModel(dataclasses.replace(config, vocab_size=config.vocab_size + 1)).state_dict()
    return [k for k in a if a[k].shape != b[k].shape]


def _matches(name: str, prefix: str) -> bool:
    return name == prefix or name.startswith(prefix + ".")


def module_names(model: nn.Module, depth: int = 2) -> list[str]:
    """The model's module names up to ``depth`` dots deep (for error messages)."""
    return [n for n, _ in model.named_modules() if n and n.count(".") < depth]


def check_prefixes(model: nn.Module, prefixes: Sequence[str], option: str) -> None:
    """Raises ValueError naming ``option`` unless every prefix names a module or parameter of
    ``model`` (``encoder``, ``encoder.stacks.0``, ``transducer.decoder``, ...)."""
    names = list(model.state_dict())
    for prefix in prefixes:
        if not prefix or not any(_matches(n, prefix) for n in names):
            raise ValueError(
                f"{option}: {prefix!r} names no module of the model; its modules are "
                f"{', '.join(module_names(model))} (or deeper, e.g. encoder.stacks.0)"
            )


@dataclass
class InitReport:
    """What :func:`initialise` did, by state_dict key."""

    copied: list[str]
    reinitialised: list[str]
    untouched: list[str]

    def summary(self, source: InitSource) -> str:
        text = f"initialised {len(self.copied)} tensors from {source.path} ({source.weights})" + (
            f"; {len(self.untouched)} keep their fresh initialisation" if self.untouched else ""
        )
        if self.reinitialised:
            text += "; re-initialised for the new vocabulary: " + ", ".join(self.reinitialised)
        return text


@torch.no_grad()
def initialise(
    model: AsrModel,
    source: AsrModel,
    modules: Sequence[str] | None = None,
    *,
    same_vocabulary: bool = True,
) -> InitReport:
    """Copies ``source``'s weights into ``model`` (both of the same architecture but for the
    vocabulary size).

    Args:
        modules: prefixes of the parameters to copy (icefall's ``--init-modules``: ``encoder``,
            ``transducer``, ``ctc``, ``attention_decoder``, or deeper names such as
            ``encoder.embed``); None copies everything.
        same_vocabulary: False when the run's tokens differ from the source's (even at the
            same size): the tensors indexed by the vocabulary are then left as initialised.

    Raises:
        ValueError: a prefix that names nothing, or a tensor whose shape differs for a reason
            other than the vocabulary.
    """
    if modules is not None:
        check_prefixes(model, modules, "init_modules")
    vocab = set(vocabulary_tensors(model.config))
    theirs = source.state_dict()
    report = InitReport([], [], [])
    for name, tensor in model.state_dict().items():
        if modules is not None and not any(_matches(name, p) for p in modules):
            report.untouched.append(name)
            continue
        if name in vocab and not same_vocabulary:
            report.reinitialised.append(name)
            continue
        other = theirs.get(name)
        if other is None or other.shape != tensor.shape:
            found = "absent" if other is None else f"of shape {tuple(other.shape)}"
            raise ValueError(
                f"init_from: {name} is {found} in the source but of shape "
                f"{tuple(tensor.shape)} in the model being trained"
            )
        tensor.copy_(other)
        report.copied.append(name)
    return report


def freeze(model: nn.Module, prefixes: Sequence[str]) -> list[str]:
    """Stops the gradient of every parameter under ``prefixes`` (names as in
    ``model.named_parameters()``); returns the frozen names.

    Raises:
        ValueError: a prefix that names no module of the model (the message lists them).
    """
    check_prefixes(model, prefixes, "freeze")
    frozen = []
    for name, param in model.named_parameters():
        if any(_matches(name, p) for p in prefixes):
            param.requires_grad_(False)
            frozen.append(name)
    if prefixes and not frozen:
        raise ValueError(f"freeze: {list(prefixes)} name buffers only, no parameter")
    return frozen


def trainable(model: nn.Module) -> list[tuple[str, Tensor]]:
    """(name, parameter) of the parameters that take gradients: what the optimizer gets."""
    return [(n, p) for n, p in model.named_parameters() if p.requires_grad]


def same_tokens(source: InitSource, pieces: Iterable[str]) -> bool:
    """Whether ``pieces`` (the run's token table) is the source's vocabulary. A source without
    a token table counts as the same when the sizes agree."""
    pieces = list(pieces)
    if source.model.tokens is not None:
        return list(source.model.tokens) == pieces
    if source.tokenizer is not None:
        return tokenizer_pieces(source.tokenizer) == pieces
    return source.model.config.vocab_size == len(pieces)


def tokenizer_pieces(model_bytes: bytes) -> list[str]:
    """The token table (id -> piece) of a sentencepiece model given as the file's bytes."""
    import sentencepiece as spm

    sp = spm.SentencePieceProcessor(model_proto=model_bytes)
    return [sp.id_to_piece(i) for i in range(sp.get_piece_size())]
