"""MMEngine's one-cycle learning rate with a checkpoint-safe state dict."""
from mmengine.optim.scheduler import OneCycleLR

from ddavs_mm.registry import PARAM_SCHEDULERS


@PARAM_SCHEDULERS.register_module()
class ResumableOneCycleLR(OneCycleLR):
    """:class:`mmengine.optim.OneCycleLR` whose state dict resumes.

    MMEngine's scheduler keeps its annealing function in its state dict; a
    function pickles through the builtin ``getattr``, which
    ``torch.load(weights_only=True)`` (and so resuming a run) refuses (see
    :mod:`ddavs_mm.utils.checkpoint_safety`). The function follows from
    ``anneal_strategy`` and is rebuilt by ``__init__``, so it is left out.
    Arguments as :class:`~mmengine.optim.OneCycleLR`.
    """

    def state_dict(self) -> dict:
        """The scheduler state without its annealing function."""
        state = super().state_dict()
        state.pop('anneal_func', None)
        return state
