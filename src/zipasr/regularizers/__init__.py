"""Training-only machinery. Every module here is exactly the identity in eval.

:func:`training_state` / :func:`load_training_state` save and restore what these modules adapt
while training outside the model's state_dict (for checkpoints).
"""

from zipasr.regularizers.balancer import Balancer
from zipasr.regularizers.base import (
    Identity,
    TrainingOnly,
    load_training_state,
    strip_training_modules,
    training_state,
)
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
    "load_training_state",
    "strip_training_modules",
    "training_state",
    "whitening_schedule",
]
