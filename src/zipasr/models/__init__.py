"""Recognizers built on the encoder: transducer, CTC and attention-decoder heads, and their
composition."""

from zipasr.models.asr import AsrLosses, AsrModel
from zipasr.models.attention_decoder import AttentionDecoder
from zipasr.models.config import AsrModelConfig, AttentionDecoderConfig, TransducerConfig
from zipasr.models.ctc import CtcHead
from zipasr.models.decoder import StatelessDecoder
from zipasr.models.joiner import Joiner
from zipasr.models.transducer import TransducerHead

__all__ = [
    "AsrLosses",
    "AsrModel",
    "AsrModelConfig",
    "AttentionDecoder",
    "AttentionDecoderConfig",
    "CtcHead",
    "Joiner",
    "StatelessDecoder",
    "TransducerConfig",
    "TransducerHead",
]
