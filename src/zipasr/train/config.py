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
from zipasr.models.config import AsrModelConfig, AttentionDecoderConfig, TransducerConfig
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
        attention_decoder: add an attention-decoder head (icefall's ``--use-attention-decoder``),
            of the ``attention_decoder_*`` sizes (the recipe's defaults: 512, 6 layers, 512,
            8 heads, 2048).
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
    attention_decoder: bool = False
    attention_decoder_dim: int = 512
    attention_decoder_num_layers: int = 6
    attention_decoder_attention_dim: int = 512
    attention_decoder_num_heads: int = 8
    attention_decoder_feedforward_dim: int = 2048

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
        aed = None
        if self.attention_decoder:
            aed = AttentionDecoderConfig(
                dim=self.attention_decoder_dim,
                num_layers=self.attention_decoder_num_layers,
                attention_dim=self.attention_decoder_attention_dim,
                num_heads=self.attention_decoder_num_heads,
                feedforward_dim=self.attention_decoder_feedforward_dim,
            )
        return AsrModelConfig(encoder, vocab_size, transducer, self.ctc, attention_decoder=aed)


@dataclass
class ManifestSpec:
    """One training manifest of a weighted mixture (``data.train_manifests``).

    Attributes:
        path: a manifest of any format :func:`zipasr.data.open_manifest` reads.
        weight: its share of the utterances drawn, relative to the others' (lhotse's
            ``CutSet.mux`` weights: shares of cuts, not of hours).
        repeat: start it over when it runs out, so that its share holds for the whole epoch
            (e.g. a small in-domain set mixed into a large one); the epoch ends when every
            source with ``repeat: false`` has run out.
    """

    path: str = ""
    weight: float = 1.0
    repeat: bool = False


@dataclass
class DataConfig:
    """Where the utterances come from, how batches are drawn and how they are augmented.

    Attributes:
        train_manifest, valid_manifest: a zipasr or NeMo JSONL manifest, a lhotse manifest, a
            Kaldi data directory or a folder of wav+txt (see :func:`zipasr.data.open_manifest`);
            no validation if None. JSONL manifests are read lazily, never listed.
        train_manifests: several training manifests mixed with weights, instead of
            ``train_manifest`` (see :class:`ManifestSpec`).
        tokenizer: a ``bpe.model``; None trains one of ``vocab_size`` on the train transcripts.
        tokenizer_type: the kind trained when ``tokenizer`` is None: ``bpe``, ``unigram``,
            ``char``, ``cjkchar+bpe`` or ``bbpe`` (see :mod:`zipasr.data.tokenizer`).
        normalizer: the transcript normaliser (``english``, ``basic``, ``none``; see
            :mod:`zipasr.text`), recorded with the tokenizer and the model. A given
            ``tokenizer`` with a ``tokenizer.json`` beside it uses the normaliser recorded there.
        max_duration_s: audio seconds per batch per process (the recipe's ``--max-duration``).
        buffer_size: utterances the sampler holds in its duration buckets (the rest of the
            manifest stays on disk).
        precompute_features: compute fbank once into ``exp_dir/features`` (small corpora); else
            per batch, in the loader's workers.
        spec_augment: SpecAugment (the recipe's; training batches only; off unless asked for,
            like every augmentation: the LibriSpeech recipes turn it on). With ``loss.cr_ctc``
            it moves from the loader into the training step, where each batch's two views are
            masked independently (see :class:`LossConfig`).
        speed_perturb, speed_factors, speed_prob: speed perturbation: with probability
            ``speed_prob`` an utterance is played at one of ``speed_factors``.
        volume_perturb, volume_scale, volume_prob: volume perturbation: with probability
            ``volume_prob`` the amplitude is scaled by a factor in ``volume_scale`` (low, high).
        noise_manifest, noise_snr_db, noise_prob: noise mixing, on when ``noise_manifest`` (a
            folder of noise files or an audio manifest, see :func:`zipasr.data.audio_cuts`) is
            given: with probability ``noise_prob`` a random noise is added at an SNR drawn from
            ``noise_snr_db`` (low, high).
        reverb, reverb_prob, rir_manifest: reverberation: with probability ``reverb_prob`` the
            audio is convolved with a room impulse response, one of ``rir_manifest``'s
            recordings, or a simulated room when that is None.
    """

    train_manifest: str = ""
    train_manifests: tuple[ManifestSpec, ...] = ()
    valid_manifest: str | None = None
    tokenizer: str | None = None
    tokenizer_type: str = "bpe"
    normalizer: str = "english"
    vocab_size: int = 500
    max_duration_s: float = 1000.0
    num_buckets: int = 30
    buffer_size: int = 20000
    num_workers: int = 2
    shuffle: bool = True
    precompute_features: bool = False
    spec_augment: bool = False
    speed_perturb: bool = False
    speed_factors: tuple[float, ...] = (0.9, 1.1)
    speed_prob: float = 2 / 3
    volume_perturb: bool = False
    volume_scale: tuple[float, ...] = (0.125, 2.0)
    volume_prob: float = 0.5
    noise_manifest: str | None = None
    noise_snr_db: tuple[float, ...] = (10.0, 20.0)
    noise_prob: float = 0.5
    reverb: bool = False
    reverb_prob: float = 0.5
    rir_manifest: str | None = None

    def __post_init__(self) -> None:
        if self.vocab_size < 4:
            raise ValueError(
                f"data.vocab_size={self.vocab_size} must be at least 4 (blank, sos/eos, unk and "
                "one piece)"
            )
        if not self.max_duration_s > 0:
            raise ValueError(f"data.max_duration_s={self.max_duration_s} must be positive")
        if self.num_buckets < 1:
            raise ValueError(f"data.num_buckets={self.num_buckets} must be >= 1")
        if self.buffer_size < 1:
            raise ValueError(f"data.buffer_size={self.buffer_size} must be >= 1")
        if self.num_workers < 0:
            raise ValueError(f"data.num_workers={self.num_workers} must be >= 0")
        if self.train_manifest and self.train_manifests:
            raise ValueError(
                "data.train_manifest and data.train_manifests are both set; give one manifest "
                "as train_manifest or a mixture as train_manifests, not both"
            )
        for i, spec in enumerate(self.train_manifests):
            if not spec.path:
                raise ValueError(f"data.train_manifests[{i}].path is empty")
            if not spec.weight > 0:
                raise ValueError(f"data.train_manifests[{i}].weight={spec.weight} must be > 0")
        if self.train_manifests and all(s.repeat for s in self.train_manifests):
            raise ValueError(
                "every data.train_manifests entry has repeat: true, so an epoch would never "
                "end; leave at least one with repeat: false"
            )
        for name in ("speed_prob", "volume_prob", "noise_prob", "reverb_prob"):
            if not 0.0 <= getattr(self, name) <= 1.0:
                raise ValueError(f"data.{name}={getattr(self, name)} must be in [0, 1]")
        if not self.speed_factors or min(self.speed_factors) <= 0:
            raise ValueError(f"data.speed_factors={list(self.speed_factors)} must be positive")
        for name in ("volume_scale", "noise_snr_db"):
            low_high = getattr(self, name)
            if len(low_high) != 2 or low_high[0] > low_high[1]:
                raise ValueError(f"data.{name}={list(low_high)} must be [low, high]")
        if self.volume_scale[0] <= 0:
            raise ValueError(f"data.volume_scale={list(self.volume_scale)} must be positive")
        audio = [n for n in ("speed_perturb", "volume_perturb", "reverb") if getattr(self, n)]
        audio += ["noise_manifest"] if self.noise_manifest else []
        if self.precompute_features and audio:
            raise ValueError(
                f"data.precompute_features stores each utterance's features once, but {audio} "
                "change the audio every epoch; turn one or the other off"
            )

    def manifests(self) -> list[ManifestSpec]:
        """The training manifests: ``train_manifests``, or ``train_manifest`` alone."""
        if self.train_manifests:
            return list(self.train_manifests)
        return [ManifestSpec(self.train_manifest)] if self.train_manifest else []


@dataclass
class OptimConfig:
    """ScaledAdam + Eden (spec 5.1, 5.5); the defaults are the recipe's."""

    base_lr: float = 0.045
    clipping_scale: float = 2.0
    lr_batches: float = 7500.0
    lr_epochs: float = 3.5
    warmup_batches: float = 500.0
    warmup_start: float = 0.1

    @classmethod
    def finetune(cls) -> OptimConfig:
        """icefall's Zipformer fine-tuning recipe (``zipformer/finetune.py``): a tenth of the
        training learning rate (0.0045: a larger one soon forgets the initialisation), and
        ``lr_batches``/``lr_epochs`` so large (100000, 100) that Eden barely decays it; its
        scheduler keeps Eden's own warm-up, 500 batches from half the rate."""
        return cls(base_lr=0.0045, lr_batches=100000.0, lr_epochs=100.0, warmup_start=0.5)


@dataclass(frozen=True)
class LossConfig(LossWeights):
    """The training losses: their weights and warm-up (the inherited
    :class:`~zipasr.losses.LossWeights` fields, spec 6.7) plus the pruned RNN-T, CR-CTC and
    attention-decoder settings. The defaults are the recipe's.

    Attributes:
        prune_range: symbols per frame in the pruned loss's band.
        lm_scale, am_scale: the simple loss's "LM only" and "AM only" smoothing weights.
        cr_ctc: consistency-regularised CTC (icefall's ``--use-cr-ctc``; needs
            ``model.ctc``): each batch is encoded twice, as two differently SpecAugmented
            views, every loss is taken over both and halved, and the consistency term is
            added with weight ``cr_loss_scale``. With ``data.spec_augment`` the views get the
            recipe's CR-CTC SpecAugment (one time warp, then frequency and time masks drawn
            per view, ``time_mask_ratio`` times the usual time masking); without it the views
            differ only by the model's own dropout.
        time_mask_ratio: CR-CTC's time-masking multiplier (the recipe's 2.5: 25 masks covering
            at most 37.5% of an utterance instead of 10 and 15%).
        time_warp_factor: the time warp of CR-CTC's SpecAugment (the recipe's 80; 0 disables).
        label_smoothing: of the attention decoder's cross-entropy (the recipe's 0.1).
    """

    prune_range: int = 5
    lm_scale: float = 0.25
    am_scale: float = 0.0
    cr_ctc: bool = False
    time_mask_ratio: float = 2.5
    time_warp_factor: int = 80
    label_smoothing: float = 0.1

    def __post_init__(self) -> None:
        super().__post_init__()
        if int(10 * self.time_mask_ratio) < 1:
            raise ValueError(
                f"loss.time_mask_ratio={self.time_mask_ratio} must be >= 0.1 (10 * ratio "
                "time masks, at least one)"
            )
        if not 0.0 <= self.label_smoothing < 1.0:
            raise ValueError(f"loss.label_smoothing={self.label_smoothing} must be in [0, 1)")


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
        init_from: fine-tuning: start from this trained model (a zipasr model directory, a
            zipasr training checkpoint or an icefall checkpoint; :mod:`zipasr.train.init`).
            The run then trains the source's architecture (``model`` is not used), and a
            resumed run takes its weights from its checkpoint, never from here again.
        init_modules: parameter-name prefixes to copy from ``init_from`` (e.g. ``encoder``,
            ``encoder,transducer``); None copies all. The others keep a fresh initialisation.
        init_averaged: from a training checkpoint, copy its running average (``model_avg``).
        init_tokenizer: with ``init_from`` and no ``data.tokenizer``: train with the source's
            own tokenizer (true), or train a new one of ``data.vocab_size`` on the training
            transcripts (false). A vocabulary other than the source's re-initialises the
            tensors indexed by it; the run lists them.
        freeze: parameter-name prefixes (``encoder``, ``encoder.stacks.0``, ...) that are not
            trained: no gradient, not in the optimizer, unchanged bit for bit.
        valid_wer_utterances: at each validation, also decode this many validation
            utterances (greedy search, full context) and log their WER beside the loss
            (0: no WER).
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
    init_from: str | None = None
    init_modules: tuple[str, ...] | None = None
    init_averaged: bool = True
    init_tokenizer: bool = True
    freeze: tuple[str, ...] = ()
    valid_wer_utterances: int = 0

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
        if self.num_epochs < 1:
            raise ValueError(f"num_epochs={self.num_epochs} must be >= 1")
        if self.max_steps is not None and self.max_steps < 1:
            raise ValueError(f"max_steps={self.max_steps} must be >= 1, or null for no limit")
        if self.keep_epochs is not None and self.keep_epochs < 0:
            raise ValueError(
                f"keep_epochs={self.keep_epochs} must be >= 0, or null to keep every epoch's"
            )
        if self.loss.cr_ctc and not self.model.ctc:
            raise ValueError("loss.cr_ctc needs a CTC head: set model.ctc to true")
        if self.precision not in ("auto", "fp32", "bf16", "fp16"):
            raise ValueError(f"precision={self.precision!r}; choose auto, fp32, bf16 or fp16")
        if self.init_modules is not None and not self.init_from:
            raise ValueError("init_modules is set but init_from is not; give the model to copy")
        if self.init_modules is not None and not all(self.init_modules):
            raise ValueError(f"init_modules={list(self.init_modules)} has an empty name")
        if not all(self.freeze):
            raise ValueError(f"freeze={list(self.freeze)} has an empty name")
        if self.valid_wer_utterances < 0:
            raise ValueError(f"valid_wer_utterances={self.valid_wer_utterances} must be >= 0")


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
        try:
            data = yaml.safe_load(Path(path).read_text(encoding="utf-8-sig")) or {}
        except UnicodeDecodeError:
            raise ValueError(f"{path} is not UTF-8 text; save the config as UTF-8") from None
        except yaml.YAMLError as error:
            raise ValueError(f"{path}{_yaml_problem(error)}") from None
        if not isinstance(data, dict):
            raise ValueError(f"{path} must hold a mapping of config sections, got {data!r}")
    data = apply_overrides(data, list(overrides))
    return from_dict(TrainConfig, data)


def _yaml_problem(error: yaml.YAMLError) -> str:
    """``:line:column: not valid YAML (problem)`` on one line, from PyYAML's multi-line text."""
    mark = getattr(error, "problem_mark", None)
    where = f":{mark.line + 1}:{mark.column + 1}" if mark is not None else ""
    return f"{where}: not valid YAML ({getattr(error, 'problem', None) or type(error).__name__})"


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
        try:
            node[path[-1]] = yaml.safe_load(raw)
        except yaml.YAMLError as error:
            raise ValueError(f"override {key} {raw!r}{_yaml_problem(error)}") from None
    return data


def save_config(config: TrainConfig, path: str | Path) -> Path:
    """Writes the resolved config as YAML (loadable by :func:`load_config`)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(yaml.safe_dump(to_dict(config), sort_keys=False, default_flow_style=None))
    return path
