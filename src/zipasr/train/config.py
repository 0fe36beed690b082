"""Training configuration: dataclasses, YAML round trip and ``--key value`` overrides.

One :class:`TrainConfig` holds everything a run needs; YAML files map onto it section by section
(``model``, ``data``, ``optim``, ``loss``, ``chunking`` and the top-level fields), and any field
can be overridden from the command line with its dotted path: ``--optim.base_lr 0.03``,
``--resume auto``. Values are parsed as YAML scalars/lists and converted to the field's type.
"""

from __future__ import annotations

import dataclasses
import types
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import yaml

from zipasr.encoder.config import ZipformerConfig
from zipasr.losses import LossWeights
from zipasr.models.config import AsrModelConfig, TransducerConfig
from zipasr.schedule import REF_DURATION_S

T = TypeVar("T")

PRESETS = ("tiny", "small", "medium", "large")


@dataclass
class ModelSpec:
    """The recognizer to train: a named encoder preset plus optional per-field overrides.

    Attributes:
        preset: one of :data:`PRESETS` (``ZipformerConfig.tiny()``, ``small()``, ...).
        causal: train the streaming (chunk-causal) variant.
        num_layers, dims, num_heads, feedforward_dims, conv_kernels: per-stack overrides of the
            preset (6 entries each), or None to keep the preset's.
        decoder_dim, joiner_dim, context_size: the transducer head (None: no transducer).
        ctc: add a CTC head (the recipe adds one for the streaming model).
    """

    preset: str = "small"
    causal: bool = False
    num_layers: tuple[int, ...] | None = None
    dims: tuple[int, ...] | None = None
    num_heads: tuple[int, ...] | None = None
    feedforward_dims: tuple[int, ...] | None = None
    conv_kernels: tuple[int, ...] | None = None
    decoder_dim: int | None = 512
    joiner_dim: int = 512
    context_size: int = 2
    ctc: bool = False

    def build(self, vocab_size: int) -> AsrModelConfig:
        """The architecture for a tokenizer of ``vocab_size`` tokens."""
        if self.preset not in PRESETS:
            raise ValueError(f"model.preset={self.preset!r}; choose one of {PRESETS}")
        encoder = getattr(ZipformerConfig, self.preset)(causal=self.causal)
        names = ("num_layers", "dims", "num_heads", "feedforward_dims", "conv_kernels")
        overrides = {n: getattr(self, n) for n in names if getattr(self, n) is not None}
        encoder = dataclasses.replace(encoder, **overrides)
        transducer = None
        if self.decoder_dim is not None:
            transducer = TransducerConfig(self.decoder_dim, self.joiner_dim, self.context_size)
        return AsrModelConfig(encoder, vocab_size, transducer, self.ctc)


@dataclass
class DataConfig:
    """Where the utterances come from and how batches are drawn.

    Attributes:
        train_manifest, valid_manifest: a plain JSONL manifest, a lhotse cut manifest or a
            folder of wav+txt (see :func:`zipasr.data.load_cuts`); no validation if None.
        tokenizer: a ``bpe.model``; None trains one of ``vocab_size`` on the train transcripts.
        tokenizer_type: the kind trained when ``tokenizer`` is None: ``bpe``, ``unigram``,
            ``char``, ``cjkchar+bpe`` or ``bbpe`` (see :mod:`zipasr.data.tokenizer`).
        normalizer: the transcript normaliser (``english``, ``basic``, ``none``; see
            :mod:`zipasr.text`), recorded with the tokenizer and the model. A given
            ``tokenizer`` with a ``tokenizer.json`` beside it uses the normaliser recorded there.
        max_duration_s: audio seconds per batch per process (the recipe's ``--max-duration``).
        precompute_features: compute fbank once into ``exp_dir/features`` (small corpora); else
            per batch, in the loader's workers.
        spec_augment, speed_perturb: the recipe's augmentations (training batches only).
    """

    train_manifest: str = ""
    valid_manifest: str | None = None
    tokenizer: str | None = None
    tokenizer_type: str = "bpe"
    normalizer: str = "english"
    vocab_size: int = 500
    max_duration_s: float = 1000.0
    num_buckets: int = 30
    num_workers: int = 2
    shuffle: bool = True
    precompute_features: bool = False
    spec_augment: bool = True
    speed_perturb: bool = False


@dataclass
class OptimConfig:
    """ScaledAdam + Eden (spec 5.1, 5.5); the defaults are the recipe's."""

    base_lr: float = 0.045
    clipping_scale: float = 2.0
    lr_batches: float = 7500.0
    lr_epochs: float = 3.5
    warmup_batches: float = 500.0
    warmup_start: float = 0.1


@dataclass(frozen=True)
class LossConfig(LossWeights):
    """The training losses: their weights and warm-up (the inherited
    :class:`~zipasr.losses.LossWeights` fields, spec 6.7) plus the pruned RNN-T settings. The
    defaults are the recipe's.

    Attributes:
        prune_range: symbols per frame in the pruned loss's band.
        lm_scale, am_scale: the simple loss's "LM only" and "AM only" smoothing weights.
    """

    prune_range: int = 5
    lm_scale: float = 0.25
    am_scale: float = 0.0


@dataclass
class ChunkingConfig:
    """Chunk sizes and left contexts drawn per batch when training a causal model (spec 4.2),
    in 50 Hz frames; ``null``/None is full context. Ignored for non-causal models."""

    chunk_frames: tuple[int | None, ...] = (16, 32, 64, None)
    left_context_frames: tuple[int | None, ...] = (64, 128, 256, None)


@dataclass
class TrainConfig:
    """One training run.

    Attributes:
        exp_dir: checkpoints, ``config.yaml``, TensorBoard logs, the curve and ``model/``.
        num_epochs: passes over the training data; max_steps: stop earlier (optimizer steps).
        accum_grad: batches per optimizer step (gradient accumulation).
        ref_duration_s: audio seconds per "reference batch" of the regularisation schedules
            (the recipe's 600). Short runs can lower it so that dropout, layer skipping and
            balancing relax within the run rather than after 4000-20000 reference batches.
        average_period: steps between updates of the running model average (spec 5.6).
        average_start_step: the average covers the models from this step on (0: the recipe's
            running mean since the start; later starts suit short runs).
        export_averaged: export the averaged model (else the last one) to ``exp_dir/model``.
        save_every_steps: checkpoint period; checkpoints are also written at epoch ends.
        keep_last: the newest checkpoints kept, whether periodic or written at an epoch end
            (at least 1: a resume starts from the newest). Older ones are deleted, except:
        keep_epochs: the checkpoints written at the ends of this many most recent epochs are
            kept as well (0: none beyond ``keep_last``; None: every epoch's, the recipe's
            habit, for comparing or averaging epochs afterwards).
        valid_every_steps: validation period (and once more at the end of the run).
        log_every_steps: when stderr is not a terminal (a log file, CI), one progress line per
            this many steps instead of the live progress bar.
        precision: ``auto`` (bf16 on GPUs that support it, else fp16; fp32 on CPU), ``fp32``,
            ``bf16`` or ``fp16``.
        device: ``auto``, ``cpu`` or ``cuda``.
        resume: ``auto`` (newest checkpoint in exp_dir, if any), a checkpoint path, or None.
        threads: CPU threads for torch (None: torch's default).
    """

    exp_dir: str = "exp"
    model: ModelSpec = field(default_factory=ModelSpec)
    data: DataConfig = field(default_factory=DataConfig)
    optim: OptimConfig = field(default_factory=OptimConfig)
    loss: LossConfig = field(default_factory=LossConfig)
    chunking: ChunkingConfig = field(default_factory=ChunkingConfig)
    seed: int = 42
    num_epochs: int = 30
    max_steps: int | None = None
    accum_grad: int = 1
    ref_duration_s: float = REF_DURATION_S
    average_period: int = 200
    average_start_step: int = 0
    export_averaged: bool = True
    save_every_steps: int = 4000
    keep_last: int = 3
    keep_epochs: int | None = None
    valid_every_steps: int = 3000
    log_every_steps: int = 50
    precision: str = "auto"
    device: str = "auto"
    resume: str | None = None
    threads: int | None = None

    def __post_init__(self) -> None:
        names = (
            "accum_grad",
            "average_period",
            "save_every_steps",
            "keep_last",
            "valid_every_steps",
            "log_every_steps",
        )
        for name in names:
            if getattr(self, name) < 1:
                raise ValueError(f"{name}={getattr(self, name)} must be >= 1")
        if self.keep_epochs is not None and self.keep_epochs < 0:
            raise ValueError(
                f"keep_epochs={self.keep_epochs} must be >= 0, or null to keep every epoch's"
            )
        if self.precision not in ("auto", "fp32", "bf16", "fp16"):
            raise ValueError(f"precision={self.precision!r}; choose auto, fp32, bf16 or fp16")


def to_dict(config: Any) -> dict[str, Any]:
    """A dataclass as plain YAML/JSON-friendly data (tuples become lists)."""
    return _plain(dataclasses.asdict(config))


def _plain(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    return value


def from_dict(cls: type[T], data: dict[str, Any], where: str = "") -> T:
    """Builds dataclass ``cls`` from nested plain data, converting values to the field types.
    Unknown keys are an error naming the key and the valid ones."""
    if not isinstance(data, dict):
        raise ValueError(f"{where or 'config'} must be a mapping, got {data!r}")
    hints = typing.get_type_hints(cls)
    names = [f.name for f in dataclasses.fields(cls)]  # type: ignore[arg-type]
    unknown = sorted(set(data) - set(names))
    if unknown:
        raise ValueError(f"unknown field(s) {[where + k for k in unknown]}; known: {names}")
    values = {k: _convert(hints[k], v, where + k) for k, v in data.items()}
    return cls(**values)


def _convert(tp: Any, value: Any, where: str) -> Any:
    origin, args = typing.get_origin(tp), typing.get_args(tp)
    if origin in (typing.Union, types.UnionType):
        if value is None and type(None) in args:
            return None
        (inner,) = [a for a in args if a is not type(None)]
        return _convert(inner, value, where)
    if dataclasses.is_dataclass(tp):
        return from_dict(tp, value or {}, where + ".")  # type: ignore[arg-type]
    if origin is tuple:
        if isinstance(value, str | int | float) or value is None:
            value = [value] if not isinstance(value, str) else yaml.safe_load(f"[{value}]")
        item = args[0]
        return tuple(_convert(item, v, f"{where}[{i}]") for i, v in enumerate(value))
    if tp is bool:
        if isinstance(value, bool):
            return value
        raise ValueError(f"{where}={value!r} must be true or false")
    if tp in (int, float, str):
        try:
            if tp is int and isinstance(value, float) and not value.is_integer():
                raise ValueError
            return tp(value)
        except (TypeError, ValueError):
            raise ValueError(f"{where}={value!r} must be a {tp.__name__}") from None
    return value


def load_config(path: str | Path | None, overrides: list[str] = ()) -> TrainConfig:  # type: ignore[assignment]
    """A :class:`TrainConfig` from a YAML file (or the defaults if None) plus ``--key value``
    overrides, e.g. ``["--optim.base_lr", "0.03", "--resume", "auto"]``."""
    data: dict[str, Any] = {}
    if path is not None:
        data = yaml.safe_load(Path(path).read_text()) or {}
    data = apply_overrides(data, list(overrides))
    return from_dict(TrainConfig, data)


def apply_overrides(data: dict[str, Any], overrides: list[str]) -> dict[str, Any]:
    """Sets ``--a.b value`` pairs on nested ``data`` (a copy); values are parsed as YAML."""
    data = _plain(data)
    if len(overrides) % 2:
        raise ValueError(f"overrides {overrides} must come in '--key value' pairs")
    for key, raw in zip(overrides[::2], overrides[1::2]):
        if not key.startswith("--"):
            raise ValueError(f"override {key!r} must look like --section.field (then a value)")
        path = key[2:].replace("-", "_").split(".")
        node = data
        for part in path[:-1]:
            node = node.setdefault(part, {})
            if not isinstance(node, dict):
                raise ValueError(f"override {key}: {part!r} is not a section")
        node[path[-1]] = yaml.safe_load(raw)
    return data


def save_config(config: TrainConfig, path: str | Path) -> Path:
    """Writes the resolved config as YAML (loadable by :func:`load_config`)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(yaml.safe_dump(to_dict(config), sort_keys=False, default_flow_style=None))
    return path
