"""The Zipformer encoder: front end, blocks, stacks and the U-Net that connects them."""

from zipasr.encoder.config import ZipformerConfig
from zipasr.encoder.zipformer import Zipformer, check_lengths

__all__ = ["Zipformer", "ZipformerConfig", "check_lengths"]
