"""Cache of tensors derived from weights, recomputed when a weight changes.

Some values of a forward pass depend on the weights only: the prototype
bank's keys and values in the Audio Query Module, HTSAT's relative position
bias. In eval mode they are the same in every call, so
:class:`WeightDerivedCache` computes them once and keeps them until one of
their source tensors changes. A source counts as changed when its identity,
storage, in-place version counter (bumped by optimizer steps,
``load_state_dict``, ``copy_``, ...), dtype, device or shape differs.

The cache is bypassed (the value recomputed in every call) where reuse could
be wrong or would break autograd:

* a source requires grad and grad mode is on (training, or gradients taken
  through an eval-mode model): the value must be part of the graph;
* a source is an inference tensor (created under ``torch.inference_mode``),
  whose in-place changes are not versioned;
* inside ``torch.compile`` tracing, where the check would break the graph
  (the compiled graph recomputes the value, or folds it with
  ``torch._inductor.config.freezing``).

Owners clear it in ``train()`` and when their state is loaded.
"""
from typing import Callable, Optional, Sequence, Tuple

import torch

Signature = Tuple[tuple, ...]


def _signature(sources: Sequence[torch.Tensor]) -> Optional[Signature]:
    sig = []
    for t in sources:
        if t.is_inference():
            return None
        sig.append((id(t), t.data_ptr(), t._version, t.dtype, t.device,
                    tuple(t.shape)))
    return tuple(sig)


class WeightDerivedCache:
    """One cached value (a tensor or a tuple of tensors) and its sources'
    signature.

    Examples:
        >>> lin = torch.nn.Linear(4, 4)
        >>> cache = WeightDerivedCache()
        >>> with torch.no_grad():
        ...     a = cache.get([lin.weight], lambda: lin.weight.t() * 2)
        ...     b = cache.get([lin.weight], lambda: lin.weight.t() * 2)
        >>> a is b
        True
    """

    def __init__(self) -> None:
        self._signature: Optional[Signature] = None
        self._value = None

    def clear(self) -> None:
        """Forget the cached value."""
        self._signature = None
        self._value = None

    def get(self, sources: Sequence[torch.Tensor], compute: Callable,
            extra_key: tuple = ()):
        """The value of ``compute()``, cached while ``sources`` (and
        ``extra_key``, e.g. a dtype) are unchanged.

        Args:
            sources (Sequence[Tensor]): tensors the value depends on.
            compute (callable): ``() -> value``.
            extra_key (tuple): further hashable parts of the key.

        Returns:
            The value; a cached value was computed outside inference mode
            and without autograd history.
        """
        if torch.compiler.is_compiling() or (
                torch.is_grad_enabled()
                and any(t.requires_grad for t in sources)):
            return compute()
        sig = _signature(sources)
        if sig is None:
            return compute()
        sig = sig + (tuple(extra_key), )
        if sig != self._signature:
            # a normal tensor, usable later outside inference mode too
            with torch.inference_mode(False), torch.no_grad():
                self._value = compute()
            self._signature = sig
        return self._value
