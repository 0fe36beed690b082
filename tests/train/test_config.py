from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

from zipasr.train.config import TrainConfig, load_config, save_config
from zipasr.train.demo import demo_config

RECIPES = Path(__file__).parents[2] / "recipes"


def test_yaml_round_trip(tmp_path: Path) -> None:
    config = TrainConfig(max_steps=7, resume="auto")
    config.chunking.chunk_frames = (16, None)
    config.model.dims = (96, 128, 128, 128, 128, 96)
    assert load_config(save_config(config, tmp_path / "c.yaml")) == config


def test_overrides_reach_every_field_with_its_type(tmp_path: Path) -> None:
    path = save_config(TrainConfig(), tmp_path / "c.yaml")
    config = load_config(
        path,
        [
            "--optim.base_lr", "0.03",
            "--resume", "auto",
            "--max-steps", "100",
            "--model.dims", "96,128,128,128,128,96",
            "--chunking.chunk_frames", "[16, 32, null]",
            "--model.decoder_dim", "null",
            "--model.ctc", "true",
        ],
    )  # fmt: skip
    assert config.optim.base_lr == 0.03 and config.resume == "auto" and config.max_steps == 100
    assert config.model.dims == (96, 128, 128, 128, 128, 96)
    assert config.chunking.chunk_frames == (16, 32, None)
    assert config.model.decoder_dim is None and config.model.ctc is True
    assert config.model.build(500).transducer is None


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        (["--optim.base_rate", "1"], r"unknown field\(s\) \['optim.base_rate'\]"),
        (["--max_steps", "ten"], "max_steps='ten' must be a int"),
        (["--model.ctc", "maybe"], "model.ctc='maybe' must be true or false"),
        (["--precision", "fp8"], "precision='fp8'"),
        (["--optim.base_lr"], "pairs"),
        (["--keep_last", "0"], "keep_last=0 must be >= 1"),
        (["--keep_epochs", "-1"], "keep_epochs=-1 must be >= 0, or null"),
        (["--loss.warm_step", "0"], "warm_step=0 must be >= 1"),
    ],
)
def test_bad_overrides_name_the_field(overrides: list[str], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        load_config(None, overrides)


@pytest.mark.parametrize("path", sorted(RECIPES.rglob("*.yaml")), ids=lambda p: p.name)
def test_recipe_configs_load_and_build(path: Path) -> None:
    config = load_config(path)
    model = config.model.build(config.data.vocab_size)
    if model.encoder.causal:
        for chunk in config.chunking.chunk_frames:
            for left in config.chunking.left_context_frames if chunk else (None,):
                model.encoder.check_chunking(chunk, left)


def test_demo_yaml_mirrors_the_embedded_demo() -> None:
    assert load_config(RECIPES / "demo.yaml") == demo_config("zipasr-demo")


def test_mandarin_demo_trains_characters_with_the_basic_normaliser() -> None:
    english, mandarin = demo_config("d"), demo_config("d", language="cmn")
    assert (english.data.tokenizer_type, english.data.normalizer) == ("bpe", "english")
    assert (mandarin.data.tokenizer_type, mandarin.data.normalizer) == ("char", "basic")
    # The same encoder; more steps, twice the learning rate, CTC as heavy as the transducer, a
    # one-character decoder context and the average taken over the last quarter (demo_config).
    assert mandarin.model == dataclasses.replace(english.model, context_size=1)
    assert (english.max_steps, mandarin.max_steps) == (1000, 1350)
    from zipasr.data.synth.languages import LANGUAGES
    from zipasr.train.demo import DEMO_STEPS

    assert set(DEMO_STEPS) == set(LANGUAGES)  # every corpus language has a demo length
    assert (english.loss.ctc_loss_scale, mandarin.loss.ctc_loss_scale) == (0.5, 1.0)
    assert (english.optim.base_lr, mandarin.optim.base_lr) == (0.045, 0.09)
    assert mandarin.average_start_step == 3 * mandarin.max_steps // 4
    assert (
        dataclasses.replace(
            mandarin,
            model=english.model,
            data=english.data,
            loss=english.loss,
            optim=english.optim,
            average_start_step=english.average_start_step,
            max_steps=english.max_steps,
            save_every_steps=english.save_every_steps,
            valid_every_steps=english.valid_every_steps,
        )
        == english
    )
    with pytest.raises(ValueError, match="cmn"):
        demo_config("d", language="xx")


def test_demo_sized_for_any_step_count() -> None:
    from zipasr.train.demo import demo_schedule

    short = demo_config("d", steps=3)
    assert short.max_steps == 3 and short.loss.warm_step == 1
    assert short.save_every_steps == short.valid_every_steps == 1
    assert demo_schedule(1350) == {"lr_batches": 450, "warmup_batches": 135, "warm_step": 337}
    with pytest.raises(ValueError, match="at least 1 step"):
        demo_config("d", steps=0)


def test_an_existing_demo_corpus_must_be_the_one_asked_for(tmp_path: Path) -> None:
    import json

    from zipasr.train.demo import check_existing_corpus

    check_existing_corpus(tmp_path, "en", hours=5.0, pool="wide")  # no corpus.json: as it is
    settings = {"language": "en", "pool": "wide", "hours": 1.0, "seed": 0}
    (tmp_path / "corpus.json").write_text(json.dumps(settings))
    check_existing_corpus(tmp_path, "en")
    check_existing_corpus(tmp_path, "en", hours=1.0, pool="wide")
    with pytest.raises(ValueError, match=r"language 'en' \(asked: 'cmn'\)"):
        check_existing_corpus(tmp_path, "cmn")
    with pytest.raises(ValueError, match=r"hours 1.0 \(asked: 3.0\).*pool 'wide'"):
        check_existing_corpus(tmp_path, "en", hours=3.0, pool="templates")
    (tmp_path / "corpus.json").write_text(json.dumps({**settings, "splits": ["test"]}))
    with pytest.raises(ValueError, match=r"no train/dev split; add them with `zipasr synth "):
        check_existing_corpus(tmp_path, "en")
    with pytest.raises(ValueError, match=r"hours 1.0 \(asked: 2.0\), no train/dev split"):
        check_existing_corpus(tmp_path, "en", hours=2.0)


def test_the_command_offered_for_missing_splits_adds_them(tmp_path: Path) -> None:
    import shlex

    from zipasr.cli.main import main
    from zipasr.data.synth import build_corpus
    from zipasr.train.demo import check_existing_corpus

    data = tmp_path / "a demo" / "data"  # a space in the path
    build_corpus(data, 0.002, seed=2, fractions=(0.8, 0.1, 0.1), splits=("test",))
    with pytest.raises(ValueError) as missing:
        check_existing_corpus(data, "en")
    command = str(missing.value).split("`")[1]
    assert command.startswith("zipasr synth --out ")
    assert main(shlex.split(command)[1:]) == 0
    check_existing_corpus(data, "en")  # the whole corpus now
    assert all((data / f"{split}.jsonl").exists() for split in ("train", "dev", "test"))
