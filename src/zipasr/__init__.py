"""zipasr: the Zipformer speech recognizer and the ScaledAdam optimizer as a PyTorch library."""

from zipasr.allocator import keep_freed_memory
from zipasr.convert.checkpoint import load_icefall, load_icefall_encoder
from zipasr.encoder import Zipformer, ZipformerConfig
from zipasr.loading import load
from zipasr.models import AsrLosses, AsrModel, AsrModelConfig, TransducerConfig
from zipasr.models.storage import save
from zipasr.regularizers import strip_training_modules

__version__ = "0.1.0.dev0"

__all__ = [
    "AsrLosses",
    "AsrModel",
    "AsrModelConfig",
    "TransducerConfig",
    "Zipformer",
    "ZipformerConfig",
    "__version__",
    "keep_freed_memory",
    "load",
    "load_icefall",
    "load_icefall_encoder",
    "save",
    "strip_training_modules",
]
