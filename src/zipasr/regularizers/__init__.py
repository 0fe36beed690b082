"""Training-only machinery. Every module here is exactly the identity in eval."""

from zipasr.regularizers.balancer import Balancer
from zipasr.regularizers.base import Identity, TrainingOnly, strip_training_modules
from zipasr.regularizers.penalties import AbsValuePenalty, ParamLimit, ScaleGrad
from zipasr.regularizers.skip import (
    ConstantAttention,
    FeatureMask,
    LayerSkip,
    RandomDrop,
    SequenceDropout,
    SharedDropout,
)
from zipasr.regularizers.whiten import Whiten, whitening_schedule

__all__ = [
    "AbsValuePenalty",
    "Balancer",
    "ConstantAttention",
    "FeatureMask",
    "Identity",
    "LayerSkip",
    "ParamLimit",
    "RandomDrop",
    "ScaleGrad",
    "SequenceDropout",
    "SharedDropout",
    "TrainingOnly",
    "Whiten",
    "strip_training_modules",
    "whitening_schedule",
]
