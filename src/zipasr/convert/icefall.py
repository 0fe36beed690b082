"""icefall <-> zipasr parameter names, declared once and used in both directions.

icefall's (and the ``zipformer`` PyPI package's) encoder keys look like
``encoder.encoders.2.encoder.layers.1.self_attn_weights.linear_pos.weight``; ours like
``stacks.2.layers.1.attn_weights.pos_proj.weight``. :data:`KEY_MAP` lists the correspondences as
templates: ``{i}`` is a stack index, ``{j}`` a layer index, ``{n}`` a module number (1-3).
Every icefall encoder key matches exactly one template except the per-layer ``bypass_scale``,
a parameter icefall creates but never uses; it is dropped by name (:data:`DEAD_KEYS`).
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping

import torch
from torch import Tensor

from zipasr.encoder.config import ZipformerConfig

# Paths of a layer's parameters relative to the layer: (icefall, zipasr).
_LAYER_PARAMS: tuple[tuple[str, str], ...] = (
    ("self_attn_weights.in_proj.{p}", "attn_weights.in_proj.{p}"),
    ("self_attn_weights.linear_pos.weight", "attn_weights.pos_proj.weight"),
    ("self_attn{n}.in_proj.{p}", "self_attn{n}.in_proj.{p}"),
    ("self_attn{n}.out_proj.{p}", "self_attn{n}.out_proj.{p}"),
    ("feed_forward{n}.in_proj.{p}", "ff{n}.in_proj.{p}"),
    ("feed_forward{n}.out_proj.{p}", "ff{n}.out_proj.{p}"),
    ("nonlin_attention.in_proj.{p}", "nonlin_attn.in_proj.{p}"),
    ("nonlin_attention.out_proj.{p}", "nonlin_attn.out_proj.{p}"),
    ("conv_module{n}.in_proj.{p}", "conv{n}.in_proj.{p}"),
    ("conv_module{n}.out_proj.{p}", "conv{n}.out_proj.{p}"),
    ("conv_module{n}.depthwise_conv.{p}", "conv{n}.depthwise.{p}"),
    ("conv_module{n}.depthwise_conv.causal_conv.{p}", "conv{n}.depthwise.causal.{p}"),
    ("conv_module{n}.depthwise_conv.chunkwise_conv.{p}", "conv{n}.depthwise.chunkwise.{p}"),
    ("conv_module{n}.depthwise_conv.chunkwise_conv_scale", "conv{n}.depthwise.chunkwise_scale"),
    ("norm.log_scale", "norm.log_scale"),
    ("norm.bias", "norm.bias"),
    ("bypass.bypass_scale", "bypass.scale"),
    ("bypass_mid.bypass_scale", "bypass_mid.scale"),
)

# Stack 0 runs at the full rate and has no downsampling wrapper in icefall.
_LAYER_PREFIXES = (
    ("encoder.encoders.0.layers.{j}.", "stacks.0.layers.{j}."),
    ("encoder.encoders.{i}.encoder.layers.{j}.", "stacks.{i}.layers.{j}."),
)

KEY_MAP: tuple[tuple[str, str], ...] = (
    ("encoder_embed.conv.0.{p}", "embed.conv1.{p}"),
    ("encoder_embed.conv.4.{p}", "embed.conv2.{p}"),
    ("encoder_embed.conv.7.{p}", "embed.conv3.{p}"),
    ("encoder_embed.convnext.depthwise_conv.{p}", "embed.convnext.depthwise.{p}"),
    ("encoder_embed.convnext.pointwise_conv1.{p}", "embed.convnext.pointwise1.{p}"),
    ("encoder_embed.convnext.pointwise_conv2.{p}", "embed.convnext.pointwise2.{p}"),
    ("encoder_embed.out.{p}", "embed.proj.{p}"),
    ("encoder_embed.out_norm.log_scale", "embed.norm.log_scale"),
    ("encoder_embed.out_norm.bias", "embed.norm.bias"),
    ("encoder.encoders.{i}.downsample.bias", "stacks.{i}.downsample.bias"),
    ("encoder.encoders.{i}.out_combiner.bypass_scale", "stacks.{i}.bypass.scale"),
    ("encoder.downsample_output.bias", "output_downsample.bias"),
) + tuple(
    (ice_prefix + ice, ours_prefix + mine)
    for ice_prefix, ours_prefix in _LAYER_PREFIXES
    for ice, mine in _LAYER_PARAMS
)

#: icefall encoder keys with no zipasr counterpart: the unused per-layer bypass_scale.
DEAD_KEYS: tuple[str, ...] = (
    "encoder.encoders.0.layers.{j}.bypass_scale",
    "encoder.encoders.{i}.encoder.layers.{j}.bypass_scale",
)

#: icefall keys of the heads around the encoder, and ours (under AsrModel).
HEAD_KEY_MAP: tuple[tuple[str, str], ...] = (
    ("decoder.embedding.weight", "transducer.decoder.embedding.weight"),
    ("decoder.conv.weight", "transducer.decoder.conv.weight"),
    ("joiner.encoder_proj.{p}", "transducer.joiner.encoder_proj.{p}"),
    ("joiner.decoder_proj.{p}", "transducer.joiner.decoder_proj.{p}"),
    ("joiner.output_linear.{p}", "transducer.joiner.output_linear.{p}"),
    ("simple_am_proj.{p}", "transducer.simple_am_proj.{p}"),
    ("simple_lm_proj.{p}", "transducer.simple_lm_proj.{p}"),
    ("ctc_output.1.{p}", "ctc.proj.{p}"),
    ("attention_decoder.decoder.embed.weight", "attention_decoder.embedding.weight"),
    ("attention_decoder.decoder.output_layer.{p}", "attention_decoder.output.{p}"),
) + tuple(
    (
        f"attention_decoder.decoder.layers.{{j}}.{ice}.{{p}}",
        f"attention_decoder.layers.{{j}}.{mine}.{{p}}",
    )
    for ice, mine in (
        ("norm_self_attn", "self_attn_norm"),
        ("self_attn.linear_q", "self_attn.q_proj"),
        ("self_attn.linear_k", "self_attn.k_proj"),
        ("self_attn.linear_v", "self_attn.v_proj"),
        ("self_attn.out_proj", "self_attn.out_proj"),
        ("norm_src_attn", "cross_attn_norm"),
        ("src_attn.linear_q", "cross_attn.q_proj"),
        ("src_attn.linear_k", "cross_attn.k_proj"),
        ("src_attn.linear_v", "cross_attn.v_proj"),
        ("src_attn.out_proj", "cross_attn.out_proj"),
        ("norm_ff", "ff_norm"),
        ("feed_forward.0", "ff_in"),
        ("feed_forward.3", "ff_out"),
    )
)

_FIELDS = {
    "i": r"(?P<i>[1-9]\d*)",
    "j": r"(?P<j>\d+)",
    "n": r"(?P<n>[1-3])",
    "p": r"(?P<p>weight|bias)",
}


def _compile(template: str) -> re.Pattern[str]:
    pattern = re.escape(template)
    for name, regex in _FIELDS.items():
        pattern = pattern.replace(re.escape("{" + name + "}"), regex)
    return re.compile(pattern)


_FORWARD = tuple((_compile(a), b) for a, b in KEY_MAP)
_BACKWARD = tuple((_compile(b), a) for a, b in KEY_MAP)
_HEADS_FORWARD = tuple((_compile(a), b) for a, b in HEAD_KEY_MAP)
_HEADS_BACKWARD = tuple((_compile(b), a) for a, b in HEAD_KEY_MAP)
_DEAD = tuple(_compile(k) for k in DEAD_KEYS)
# icefall's flat stack is index 0, which the {i} field (1-9...) never matches.
_ENCODER_PREFIXES = ("encoder_embed.", "encoder.")


def _translate(key: str, rules: tuple[tuple[re.Pattern[str], str], ...]) -> str | None:
    for pattern, target in rules:
        m = pattern.fullmatch(key)
        if m:
            return target.format(**m.groupdict())
    return None


def zipasr_key(icefall_key: str) -> str | None:
    """Our name for an icefall encoder key; None for a dead key. KeyError if unknown."""
    if any(p.fullmatch(icefall_key) for p in _DEAD):
        return None
    ours = _translate(icefall_key, _FORWARD)
    if ours is None:
        raise KeyError(f"no zipasr parameter corresponds to icefall key {icefall_key!r}")
    return ours


def icefall_key(zipasr_key: str) -> str:
    """icefall's name for one of our encoder parameters. KeyError if unknown."""
    theirs = _translate(zipasr_key, _BACKWARD)
    if theirs is None:
        raise KeyError(f"no icefall parameter corresponds to zipasr key {zipasr_key!r}")
    return theirs


def _encoder_items(state_dict: Mapping[str, Tensor]) -> Iterator[tuple[str, Tensor]]:
    for key, value in state_dict.items():
        key = key.removeprefix("module.")  # checkpoints saved from a DDP wrapper
        if key.startswith(_ENCODER_PREFIXES):
            yield key, value


def encoder_state_from_icefall(state_dict: Mapping[str, Tensor]) -> dict[str, Tensor]:
    """The ``encoder_embed.*`` and ``encoder.*`` entries of an icefall model state_dict under our
    names (other entries are ignored; dead keys dropped). KeyError names an unknown key."""
    out = {}
    for key, value in _encoder_items(state_dict):
        ours = zipasr_key(key)
        if ours is not None:
            out[ours] = value
    return out


def encoder_state_to_icefall(state_dict: Mapping[str, Tensor]) -> dict[str, Tensor]:
    """Our encoder state_dict under icefall's names, with the dead per-layer ``bypass_scale``
    recreated (0.5, its never-trained initial value) so that icefall loads it strictly."""
    out = {icefall_key(k): v for k, v in state_dict.items()}
    for key, value in list(out.items()):
        if key.endswith(".norm.bias") and ".layers." in key:
            layer_prefix = key[: -len("norm.bias")]
            out[layer_prefix + "bypass_scale"] = torch.full_like(value, 0.5)
    return out


#: The rate (1 / downsampling) a Zipformer's last stack runs at, at the lowest: its stacks come
#: back to the output frame rate (icefall's 1,2,4,8,4,2 ends at 2).
MAX_LAST_DOWNSAMPLING = 2


def _check_stack_count(downsampling: list[int], num_stacks: int | None) -> None:
    """A checkpoint that lost its last stacks must not pass for a smaller model. With
    ``num_stacks`` the count must be that; without, the last stack must run at the output
    rate, as every Zipformer's does (a truncated 1,2,4,8,4,2 ends at 4 or 8)."""
    count = len(downsampling)
    if num_stacks is not None:
        if count != num_stacks:
            raise ValueError(
                f"the checkpoint's encoder has {count} stacks (encoder.encoders.0-{count - 1}), "
                f"not num_stacks={num_stacks}"
                + (
                    f": encoder.encoders.{count}.* and later are missing"
                    if count < num_stacks
                    else ""
                )
            )
        return
    if downsampling[-1] > MAX_LAST_DOWNSAMPLING:
        rates = ",".join(map(str, downsampling))
        raise ValueError(
            f"the checkpoint's encoder ends with stack {count - 1} at downsampling "
            f"{downsampling[-1]} (stacks {rates}), but a Zipformer's last stack runs at the "
            f"output rate (icefall's 1,2,4,8,4,2): encoder.encoders.{count}.* looks missing (a "
            f"truncated or damaged file?). If the model really has these {count} stacks, pass "
            f"num_stacks={count}"
        )


def encoder_config_from_icefall(
    state_dict: Mapping[str, Tensor],
    *,
    pos_head_dim: int = 4,
    feature_dim: int = 80,
    num_stacks: int | None = None,
) -> ZipformerConfig:
    """Infers the encoder architecture from the shapes of an icefall state_dict.

    Head counts are not fully determined by shapes: (2Q + Pd) H, Pd H and V H are. The
    positional head size Pd (4 in every published recipe) is therefore taken as given.

    A file that lost its last stacks would describe a smaller, valid-looking model, so the stacks
    are checked: their count must be ``num_stacks`` if given; if not, the last stack must run at
    the output rate (downsampling <= 2), as in every Zipformer.
    """
    sd = encoder_state_from_icefall(state_dict)
    if "embed.proj.weight" not in sd:
        raise ValueError("state_dict has no encoder_embed.out.weight: not an icefall Zipformer")
    stacks: dict[int, set[int]] = {}
    for key in sd:
        m = re.fullmatch(r"stacks\.(\d+)\.layers\.(\d+)\..*", key)
        if m:
            stacks.setdefault(int(m[1]), set()).add(int(m[2]))
    if sorted(stacks) != list(range(len(stacks))):
        raise ValueError(f"icefall state_dict has non-contiguous stacks {sorted(stacks)}")
    causal = any(".depthwise.causal." in k for k in sd)

    per_stack: dict[str, list[int]] = {k: [] for k in ("layers", "ds", "dim", "heads", "ff", "k")}
    head_dims: set[tuple[int, int, int]] = set()
    for i in range(len(stacks)):
        layer = f"stacks.{i}.layers.0."
        dim = sd[layer + "norm.bias"].shape[0]
        heads = sd[layer + "attn_weights.pos_proj.weight"].shape[0] // pos_head_dim
        q2 = sd[layer + "attn_weights.in_proj.weight"].shape[0] // heads - pos_head_dim
        value = sd[layer + "self_attn1.in_proj.weight"].shape[0] // heads
        pos_dim = sd[layer + "attn_weights.pos_proj.weight"].shape[1]
        head_dims.add((q2 // 2, value, pos_dim))
        conv = "depthwise.chunkwise.weight" if causal else "depthwise.weight"
        down = sd.get(f"stacks.{i}.downsample.bias")
        per_stack["layers"].append(len(stacks[i]))
        per_stack["ds"].append(1 if down is None else down.shape[0])
        per_stack["dim"].append(dim)
        per_stack["heads"].append(heads)
        per_stack["ff"].append(sd[layer + "ff2.in_proj.weight"].shape[0])
        per_stack["k"].append(sd[layer + f"conv1.{conv}"].shape[-1])
    _check_stack_count(per_stack["ds"], num_stacks)
    if len(head_dims) != 1:
        raise ValueError(f"per-stack (query, value, pos) dims differ: {sorted(head_dims)}")
    ((query, value, pos_dim),) = head_dims
    config = ZipformerConfig(
        feature_dim=feature_dim,
        num_layers=tuple(per_stack["layers"]),
        downsampling=tuple(per_stack["ds"]),
        dims=tuple(per_stack["dim"]),
        num_heads=tuple(per_stack["heads"]),
        feedforward_dims=tuple(per_stack["ff"]),
        conv_kernels=tuple(per_stack["k"]),
        query_head_dim=query,
        value_head_dim=value,
        pos_head_dim=pos_head_dim,
        pos_dim=pos_dim,
        causal=causal,
    )
    bins = sd["embed.proj.weight"].shape[1] // sd["embed.conv3.weight"].shape[0]
    if ((feature_dim - 1) // 2 - 1) // 2 != bins:
        raise ValueError(
            f"the front end was trained on features whose width gives {bins} bins after "
            f"subsampling, not feature_dim={feature_dim}; pass the right feature_dim"
        )
    return config


def model_key(icefall_key: str) -> str | None:
    """Our AsrModel name for any icefall model key; None for a dead key. KeyError if unknown."""
    if icefall_key.startswith(_ENCODER_PREFIXES):
        ours = zipasr_key(icefall_key)
        return None if ours is None else "encoder." + ours
    head = _translate(icefall_key, _HEADS_FORWARD)
    if head is None:
        raise KeyError(f"no zipasr parameter corresponds to icefall key {icefall_key!r}")
    return head


def icefall_model_key(key: str) -> str:
    """icefall's name for one of our AsrModel parameters. KeyError if unknown."""
    if key.startswith("encoder."):
        return icefall_key(key.removeprefix("encoder."))
    theirs = _translate(key, _HEADS_BACKWARD)
    if theirs is None:
        raise KeyError(f"no icefall parameter corresponds to zipasr key {key!r}")
    return theirs


def model_state_to_icefall(state_dict: Mapping[str, Tensor]) -> dict[str, Tensor]:
    """Our AsrModel state_dict under icefall's names (dead keys recreated, see
    :func:`encoder_state_to_icefall`)."""
    encoder = {
        k.removeprefix("encoder."): v for k, v in state_dict.items() if k.startswith("encoder.")
    }
    heads = {icefall_model_key(k): v for k, v in state_dict.items() if not k.startswith("encoder.")}
    return {**encoder_state_to_icefall(encoder), **heads}
