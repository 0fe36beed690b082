"""Recognizers built on the encoder: transducer and CTC heads, and their composition."""

from zipasr.models.asr import AsrLosses, AsrModel
from zipasr.models.config import AsrModelConfig, TransducerConfig
from zipasr.models.ctc import CtcHead
from zipasr.models.decoder import StatelessDecoder
from zipasr.models.joiner import Joiner
from zipasr.models.transducer import TransducerHead

__all__ = [
    "AsrLosses",
    "AsrModel",
    "AsrModelConfig",
    "CtcHead",
    "Joiner",
    "StatelessDecoder",
    "TransducerConfig",
    "TransducerHead",
]
