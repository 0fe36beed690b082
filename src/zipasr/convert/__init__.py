"""Conversions between icefall checkpoints and zipasr models."""

from zipasr.convert.icefall import (
    encoder_config_from_icefall,
    encoder_state_from_icefall,
    encoder_state_to_icefall,
    icefall_key,
    zipasr_key,
)

__all__ = [
    "encoder_config_from_icefall",
    "encoder_state_from_icefall",
    "encoder_state_to_icefall",
    "icefall_key",
    "zipasr_key",
]
