"""zipasr: the Zipformer speech recognizer and the ScaledAdam optimizer as a PyTorch library."""

from zipasr import testing
from zipasr.encoder import Zipformer, ZipformerConfig
from zipasr.regularizers import strip_training_modules

__version__ = "0.1.0.dev0"

__all__ = ["Zipformer", "ZipformerConfig", "strip_training_modules", "testing", "__version__"]
