"""Training: config, the loop, checkpoints, model averaging, fine-tuning, DDP and the demo.

Needs the ``train`` extra (which includes ``data``); without it, importing this package raises
:class:`zipasr.optional.MissingExtraError`, which says so. Nothing in the library imports it.
"""

# ruff: noqa: E402  (the extra is checked before the modules that import it)
from zipasr.optional import require_extra

require_extra("train", "training (zipasr.train)")

# isort: split

from zipasr.train.config import TrainConfig, load_config, save_config
from zipasr.train.finetuning import finetune, finetune_config
from zipasr.train.loop import TrainResult, train

__all__ = [
    "TrainConfig",
    "TrainResult",
    "finetune",
    "finetune_config",
    "load_config",
    "save_config",
    "train",
]
