"""Training: config, the loop, checkpoints, model averaging, DDP and the embedded demo.

Needs the ``train`` and ``data`` extras. Nothing outside ``zipasr.train`` imports it.
"""

from zipasr.train.config import TrainConfig, load_config, save_config
from zipasr.train.loop import TrainResult, train

__all__ = ["TrainConfig", "TrainResult", "load_config", "save_config", "train"]
