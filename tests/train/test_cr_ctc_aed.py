"""CR-CTC and the attention decoder in training: the views, the config, the loss weights, and
the two LibriSpeech recipes that use them, shrunk, on the tiny synthetic corpus."""

from __future__ import annotations

import random
from pathlib import Path

import pytest
import torch

import zipasr
from zipasr.cli.main import main
from zipasr.losses import LossWeights
from zipasr.testing import random_features
from zipasr.train import load_config, train
from zipasr.train.config import LossConfig, ModelSpec, TrainConfig
from zipasr.train.demo import demo_config
from zipasr.train.step import cr_ctc_views

RECIPES = Path(__file__).parents[2] / "recipes"


def test_views_are_two_copies_without_augmentation():
    x, lengths = random_features([120, 80])
    views, view_lengths = cr_ctc_views(x, lengths, augment=False)
    assert views.shape == (4, 120, 80) and view_lengths.tolist() == [120, 80, 120, 80]
    assert torch.equal(views[:2], x) and torch.equal(views[2:], x)


def test_augmented_views_differ_and_mask_more_time_with_a_higher_ratio():
    random.seed(0)
    torch.manual_seed(0)
    x, lengths = random_features([400, 300], seed=1)
    views, _ = cr_ctc_views(x, lengths, time_warp_factor=0, p=1.0)
    assert not torch.equal(views[:2], views[2:])  # masks drawn per view

    def masked_frames(ratio: float) -> int:
        random.seed(1)
        torch.manual_seed(1)
        out, _ = cr_ctc_views(x, lengths, time_mask_ratio=ratio, time_warp_factor=0, p=1.0)
        return int((out == out.mean(dim=-1, keepdim=True)).all(dim=-1).sum())

    assert masked_frames(2.5) > masked_frames(1.0)


def test_time_warp_is_shared_by_both_views():
    """Warping happens once, before the duplication: away from each view's own masks, the two
    views hold the same warped values (independent warps would interpolate differently)."""
    random.seed(3)
    torch.manual_seed(3)
    x, lengths = random_features([300, 250], seed=2)
    views, _ = cr_ctc_views(x, lengths, time_mask_ratio=0.1, time_warp_factor=80, p=1.0)
    assert not torch.equal(views[:2, :250], x[:, :250])
    same = (views[:2] == views[2:]).float().mean().item()
    assert same > 0.5
    with pytest.raises(ValueError, match="time_mask_ratio"):
        cr_ctc_views(x, lengths, time_mask_ratio=0.0)


def test_config_checks():
    with pytest.raises(ValueError, match="loss.cr_ctc needs a CTC head"):
        TrainConfig(model=ModelSpec(ctc=False), loss=LossConfig(cr_ctc=True))
    with pytest.raises(ValueError, match="time_mask_ratio"):
        LossConfig(time_mask_ratio=0.0)
    with pytest.raises(ValueError, match="label_smoothing"):
        LossConfig(label_smoothing=1.0)
    with pytest.raises(ValueError, match="cr_loss_scale"):
        LossWeights(cr_loss_scale=-1.0)
    scales = LossWeights(ctc_loss_scale=0.1, cr_loss_scale=0.02).at(5000)
    total = scales.total(
        torch.tensor(1.0), torch.tensor(2.0), torch.tensor(3.0), torch.tensor(4.0), None
    )
    assert total.item() == pytest.approx(0.5 + 2.0 + 0.3 + 0.08)


def test_model_forward_halves_every_loss_of_the_two_views():
    """Two identical views in eval mode: each halved loss equals the one-view loss and the
    consistency term is 0."""
    torch.manual_seed(0)
    config = zipasr.AsrModelConfig(
        zipasr.ZipformerConfig.tiny(),
        vocab_size=20,
        transducer=zipasr.TransducerConfig(16, 16, 2),
        ctc=True,
        attention_decoder=zipasr.models.AttentionDecoderConfig(16, 1, 16, 2, 32),
    )
    model = zipasr.AsrModel(config).eval()
    x, lengths = random_features([150, 110])
    targets = [[3, 4, 5], [6, 7]]
    with torch.no_grad():
        one = model(x, lengths, targets)
        two = model(*cr_ctc_views(x, lengths, augment=False), targets, cr_ctc=True)
    for name in ("simple", "pruned", "ctc", "attention"):
        assert getattr(two, name).item() == pytest.approx(getattr(one, name).item(), rel=1e-5)
    assert abs(two.cr_ctc.item()) < 1e-4 and one.cr_ctc is None
    assert two.num_frames == one.num_frames
    with pytest.raises(ValueError, match="two views"):
        model(x, lengths, targets, cr_ctc=True)  # one view only


@pytest.mark.parametrize("recipe", ["ctc_aed.yaml", "transducer_cr_ctc.yaml"])
def test_librispeech_recipe_trains_on_the_fake_corpus(recipe, corpus, tmp_path, capsys):
    """The recipe as written, shrunk to the tiny model and two steps; then a decode with the
    attention-decoder rescoring method (CTC/AED) or the transducer (CR-CTC)."""
    config = load_config(
        RECIPES / "librispeech" / recipe,
        [
            "--exp_dir", str(tmp_path / "exp"),
            "--data.train_manifest", str(corpus / "train.jsonl"),
            "--data.valid_manifest", str(corpus / "dev.jsonl"),
            "--model.preset", "tiny",
            "--model.joiner_dim", "16",
            "--model.attention_decoder_dim", "16",
            "--model.attention_decoder_attention_dim", "16",
            "--model.attention_decoder_num_heads", "2",
            "--model.attention_decoder_feedforward_dim", "32",
            "--model.attention_decoder_num_layers", "1",
            "--data.vocab_size", "60",
            "--data.max_duration_s", "10",
            "--data.num_workers", "0",
            "--data.speed_perturb", "false",
            "--max_steps", "2",
            "--threads", "1",
        ]
        + (["--model.decoder_dim", "16"] if "transducer" in recipe else []),
    )  # fmt: skip
    assert config.loss.cr_ctc == ("cr_ctc" in recipe)
    result = train(config)
    assert result.steps == 2
    model = zipasr.load(result.model_dir)
    assert (model.attention_decoder is not None) == ("aed" in recipe)
    method = (
        "ctc_prefix_beam_search_attention_decoder_rescoring"
        if "aed" in recipe
        else "modified_beam_search"
    )
    args = ["decode", str(result.model_dir), str(corpus / "test.jsonl"), "--method", method]
    assert main([*args, "--out", str(tmp_path / "decode"), "--attention-scale", "0.5"]) == 0
    assert "WER" in capsys.readouterr().out


def test_demo_variants():
    plain = demo_config("d")
    cr = demo_config("d", cr_ctc=True)
    # No SpecAugment, as in the plain demo: the views differ by dropout and layer skips.
    assert cr.loss.cr_ctc and not cr.data.spec_augment and not plain.loss.cr_ctc
    assert cr.data.max_duration_s == plain.data.max_duration_s / 2
    assert cr.loss.cr_loss_scale == pytest.approx(0.2 * plain.loss.ctc_loss_scale)
    aed = demo_config("d", attention_decoder=True).model.build(40)
    assert aed.attention_decoder is not None and aed.attention_decoder.dim == 128
    assert plain.model.build(40).attention_decoder is None


@pytest.mark.slow
def test_quick_demo_with_cr_ctc_and_an_attention_decoder(tmp_path: Path, capsys) -> None:
    """The demo pipeline with both options (a 30-step smoke run): it trains, and the report
    has the rescoring methods' WER lines."""
    args = ["demo", "--out", str(tmp_path), "--quick", "--cr-ctc", "--attention-decoder"]
    assert main(args) == 0
    out = capsys.readouterr().out
    assert "ctc_prefix_beam_search_attention_decoder_rescoring (beam 4): WER" in out
    assert "modified_beam_search_attention_decoder_rescoring (beam 4): WER" in out
    model = zipasr.load(tmp_path / "model")
    assert model.attention_decoder is not None
    saved = load_config(tmp_path / "exp" / "config.yaml")
    assert saved.loss.cr_ctc and saved.model.attention_decoder
