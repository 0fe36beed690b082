"""Fine-tuning: initialisation (all modules or some, onto a new vocabulary), freezing, resume,
``zipasr finetune`` and ``zipasr average``."""

from __future__ import annotations

import dataclasses
import logging
import shutil
from pathlib import Path

import pytest
import torch

import zipasr
from tests.train.conftest import tiny_train_config
from zipasr.cli.main import main
from zipasr.models import AsrModel, AsrModelConfig, TransducerConfig
from zipasr.testing import tiny_config
from zipasr.train import train
from zipasr.train.checkpoint import checkpoint_path, list_checkpoints, load_checkpoint
from zipasr.train.config import TrainConfig
from zipasr.train.init import freeze, initialise, trainable, vocabulary_tensors

VOCAB_TENSORS = {
    "transducer.decoder.embedding.weight",
    "transducer.joiner.output_linear.weight",
    "transducer.joiner.output_linear.bias",
    "transducer.simple_am_proj.weight",
    "transducer.simple_am_proj.bias",
    "transducer.simple_lm_proj.weight",
    "transducer.simple_lm_proj.bias",
    "ctc.proj.weight",
    "ctc.proj.bias",
}


def _model(vocab: int, seed: int) -> AsrModel:
    torch.manual_seed(seed)
    config = AsrModelConfig(tiny_config(causal=True), vocab, TransducerConfig(16, 16, 2), ctc=True)
    return AsrModel(config)


def _state(model: torch.nn.Module) -> dict[str, torch.Tensor]:
    return {k: v.clone() for k, v in model.state_dict().items()}


def test_a_new_vocabulary_reinitialises_exactly_the_tensors_it_indexes() -> None:
    source, model = _model(20, seed=0), _model(30, seed=1)
    assert set(vocabulary_tensors(model.config)) == VOCAB_TENSORS
    fresh = _state(model)
    report = initialise(model, source, same_vocabulary=False)
    assert set(report.reinitialised) == VOCAB_TENSORS and not report.untouched
    theirs = source.state_dict()
    for name, value in model.state_dict().items():
        expected = fresh[name] if name in VOCAB_TENSORS else theirs[name]
        assert torch.equal(value, expected), name
    assert set(report.copied) == set(theirs) - VOCAB_TENSORS


def test_other_tokens_of_the_same_count_are_a_new_vocabulary_too() -> None:
    source, model = _model(20, seed=0), _model(20, seed=1)
    fresh = _state(model)
    initialise(model, source, same_vocabulary=False)
    for name in VOCAB_TENSORS:
        assert torch.equal(model.state_dict()[name], fresh[name])
    initialise(model, source, same_vocabulary=True)  # the same tokens: everything copied
    for name, value in model.state_dict().items():
        assert torch.equal(value, source.state_dict()[name]), name


def test_init_modules_copies_only_the_named_modules() -> None:
    source, model = _model(20, seed=0), _model(20, seed=1)
    fresh = _state(model)
    report = initialise(model, source, ("encoder.embed", "ctc"))
    assert report.copied and all(n.startswith(("encoder.embed.", "ctc.")) for n in report.copied)
    for name, value in model.state_dict().items():
        copied = name.startswith(("encoder.embed.", "ctc."))
        assert torch.equal(value, (source.state_dict() if copied else fresh)[name]), name


def test_unknown_module_names_are_one_clear_error() -> None:
    source, model = _model(20, seed=0), _model(20, seed=1)
    with pytest.raises(ValueError, match=r"init_modules: 'encodr' names no module.*transducer"):
        initialise(model, source, ("encodr",))
    with pytest.raises(ValueError, match=r"freeze: 'encoder.stacks.9' names no module"):
        freeze(model, ("encoder.stacks.9",))
    with pytest.raises(ValueError, match="init_modules is set but init_from is not"):
        TrainConfig(init_modules=("encoder",))


def test_freeze_takes_the_parameters_out_of_the_optimizer() -> None:
    model = _model(20, seed=0)
    frozen = freeze(model, ("encoder.stacks.0", "ctc"))
    assert frozen and all(n.startswith(("encoder.stacks.0.", "ctc.")) for n in frozen)
    names = [n for n, _ in trainable(model)]
    assert not set(frozen) & set(names)
    assert set(frozen) | set(names) == {n for n, _ in model.named_parameters()}


@pytest.fixture(scope="module")
def source_run(corpus: Path, tmp_path_factory) -> Path:
    """A tiny trained run (4 steps, checkpoints at 2 and 4): its model/ is the source."""
    exp = tmp_path_factory.mktemp("source")
    train(tiny_train_config(corpus, exp, max_steps=4, save_every_steps=2, valid_every_steps=4))
    return exp


def test_sources_training_checkpoints_and_icefall_files(source_run: Path, tmp_path: Path) -> None:
    from zipasr.convert.icefall import model_state_to_icefall
    from zipasr.train.init import read_source

    path = checkpoint_path(source_run, 4)
    ckpt = load_checkpoint(path)
    averaged, last = read_source(path), read_source(path, averaged=False)
    assert (averaged.weights, last.weights) == ("model_avg", "model")
    assert averaged.tokenizer == (source_run / "model" / "bpe.model").read_bytes()
    for name, value in averaged.model.state_dict().items():
        assert torch.equal(value, ckpt["model_avg"][name].float()), name
        assert torch.equal(last.model.state_dict()[name], ckpt["model"][name]), name
    assert not torch.equal(
        averaged.model.state_dict()["ctc.proj.weight"], last.model.state_dict()["ctc.proj.weight"]
    )
    # An icefall training checkpoint: its model_avg, and the bpe.model and tokens.txt beside it.
    icefall = tmp_path / "exp" / "epoch-3.pt"
    icefall.parent.mkdir()
    theirs = {k: model_state_to_icefall(ckpt[k]) for k in ("model", "model_avg")}
    torch.save(theirs, icefall)
    for name in ("bpe.model", "tokens.txt"):
        shutil.copy(source_run / "model" / name, icefall.parent / name)
    source = read_source(icefall)
    assert source.weights == "model_avg" and source.tokenizer == averaged.tokenizer
    assert source.model.tokens == zipasr.load(source_run / "model").tokens
    for name, value in source.model.state_dict().items():
        assert torch.equal(value, averaged.model.state_dict()[name]), name


def _finetune_config(corpus: Path, exp: Path, source: Path, steps: int):
    config = tiny_train_config(corpus, exp, max_steps=steps, save_every_steps=2)
    config.data.valid_manifest = None
    config.init_from = str(source)
    config.freeze = ("encoder.stacks.0",)
    config.model = dataclasses.replace(config.model, preset="small")  # not used with init_from
    return config


def test_a_resumed_finetuning_run_equals_an_uninterrupted_one(
    corpus: Path, source_run: Path, tmp_path: Path
) -> None:
    source = tmp_path / "source"
    shutil.copytree(source_run / "model", source)
    stopped = tmp_path / "stopped"
    train(_finetune_config(corpus, stopped, source, steps=2))
    # Another model in the source's place: a resume that initialised again would take it.
    other = zipasr.load(source)
    with torch.no_grad():
        for p in other.parameters():
            p.add_(1.0)
    zipasr.save(other, source)
    for name in ("bpe.model", "tokenizer.json"):
        shutil.copy(source_run / "model" / name, source / name)
    config = _finetune_config(corpus, stopped, source, steps=4)
    config.resume = "auto"
    resumed = train(config)
    straight = train(_finetune_config(corpus, tmp_path / "straight", source_run / "model", 4))
    a = load_checkpoint(checkpoint_path(stopped, 4))
    b = load_checkpoint(checkpoint_path(tmp_path / "straight", 4))
    for key in ("model", "model_avg"):
        for name in a[key]:
            assert torch.equal(a[key][name], b[key][name]), (key, name)
    assert resumed.train_curve == straight.train_curve

    # Frozen: bit-identical to the source, in the model and its average; not in the optimizer.
    original = zipasr.load(source_run / "model").state_dict()
    exported = zipasr.load(resumed.model_dir).state_dict()
    frozen = [k for k in original if k.startswith("encoder.stacks.0.")]
    for name in frozen:
        assert torch.equal(a["model"][name], original[name]), name
        assert torch.equal(exported[name], original[name]), name
    assert not torch.equal(a["model"]["ctc.proj.weight"], original["ctc.proj.weight"])
    in_optimizer = sum(len(g["params"]) for g in a["optimizer"]["param_groups"])
    params = [n for n, _ in AsrModel(zipasr.load(source_run / "model").config).named_parameters()]
    assert in_optimizer == len([n for n in params if not n.startswith("encoder.stacks.0.")])


def test_average_cli_writes_the_mean_of_the_last_checkpoints(
    source_run: Path, tmp_path: Path, capsys
) -> None:
    out = tmp_path / "avg"
    assert main(["average", str(source_run), "--last", "2", "--out", str(out)]) == 0
    model = zipasr.load(out)
    assert (out / "bpe.model").is_file() and model.tokens == zipasr.load(
        source_run / "model"
    ).tokens
    states = [load_checkpoint(p)["model"] for p in list_checkpoints(source_run)[-2:]]
    for name, value in model.state_dict().items():
        mean = (states[0][name].double() + states[1][name].double()) / 2
        torch.testing.assert_close(value, mean.float(), rtol=0, atol=1e-7)
    capsys.readouterr()
    assert main(["average", str(source_run), "--last", "9", "--out", str(out)]) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "--last 9" in err and "has 2 checkpoint(s)" in err

    # The running averages (updated every 2 steps) at steps 2 and 4: the span holds one model,
    # step 4's, which the difference of the two averages must give back.
    spanned = tmp_path / "spanned"
    args = ["average", str(source_run), "--last", "1", "--use-averaged", "--out", str(spanned)]
    assert main(args) == 0
    for name, value in zipasr.load(spanned).state_dict().items():
        torch.testing.assert_close(value, states[1][name], rtol=0, atol=1e-6)
    args[3] = "2"
    assert main(args) == 1 and "needs one checkpoint before" in capsys.readouterr().err


@pytest.fixture
def root_logging():
    """``zipasr finetune`` points the root logger at this test's captured stderr: put it back."""
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    yield
    root.handlers[:] = handlers
    root.setLevel(level)


def test_finetune_cli_end_to_end(
    corpus: Path, source_run: Path, tmp_path: Path, capsys, root_logging
) -> None:
    out = tmp_path / "ft"
    args = ["finetune", str(source_run / "model"), str(corpus / "train.jsonl"), "--out", str(out)]
    quick = ["--max-steps", "2", "--max-duration", "10", "--threads", "1", "--workers", "0"]
    valid = ["--valid", str(corpus / "dev.jsonl"), "--valid-wer-utterances", "4"]
    assert main([*args, *quick, *valid]) == 0
    model = zipasr.load(out / "model")
    assert model.tokens == zipasr.load(source_run / "model").tokens
    state = load_checkpoint(checkpoint_path(out, 2))["state"]
    assert [step for step, _ in state["valid_wer_curve"]] == [0, 2]  # 0: the source model
    wav = sorted((corpus / "wav" / "dev").glob("*.wav"))[0]
    assert main(["transcribe", str(out / "model"), str(wav)]) == 0

    capsys.readouterr()
    assert main(["finetune", str(tmp_path / "nothing"), *args[2:], *quick]) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "MODEL" in err and "does not exist" in err
    assert main([*args, *quick, "--init-modules", "encoder,joiner"]) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "init_modules: 'joiner' names no module" in err


def test_validation_wer_equals_decoding_the_manifest(
    corpus: Path, source_run: Path, tmp_path: Path
) -> None:
    from zipasr.data import AsrDataset, LoaderConfig, Tokenizer, load_cuts, make_loader
    from zipasr.recognize import decode_manifest
    from zipasr.testing import tiny_recognizer
    from zipasr.train.loop import valid_wer

    tokenizer = Tokenizer(source_run / "model" / "bpe.model")
    model = tiny_recognizer(tokenizer.pieces())  # emits tokens: a WER that is not just 100%
    cuts = load_cuts(corpus / "dev.jsonl")
    loader, _ = make_loader(
        cuts, AsrDataset(tokenizer), LoaderConfig(max_duration_s=10.0, shuffle=False, num_workers=0)
    )
    stats = valid_wer(model, loader, utterances=len(cuts))
    reference = decode_manifest(model, corpus / "dev.jsonl", tmp_path / "decode").stats
    assert stats == reference and stats.words > 0 and len(cuts) > 1
    assert stats.substitutions > 0  # the model wrote words: not an empty-output 100%
    fewer = valid_wer(model, loader, utterances=1)
    assert 0 < fewer.words < stats.words


def test_a_source_without_a_tokenizer_needs_one(
    corpus: Path, source_run: Path, tmp_path: Path
) -> None:
    bare = tmp_path / "bare"
    zipasr.save(zipasr.load(source_run / "model"), bare)  # config, weights, tokens.txt only
    config = _finetune_config(corpus, tmp_path / "exp", bare, steps=1)
    with pytest.raises(ValueError, match=r"comes without a tokenizer.*--tokenizer.*--vocab-size"):
        train(config)
