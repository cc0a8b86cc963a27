"""Mixed precision without loss scaling, on any device (bf16 on CPUs too)."""
from contextlib import contextmanager
from typing import Union

import torch
import torch.nn as nn
from mmengine.optim import OptimWrapper

from ddavs_mm.registry import OPTIM_WRAPPERS


@OPTIM_WRAPPERS.register_module()
class AutocastOptimWrapper(OptimWrapper):
    """:class:`~mmengine.optim.OptimWrapper` whose forward runs under
    :func:`torch.autocast` on the device of the model's parameters.

    mmengine's ``AmpOptimWrapper`` (``tools/train.py --amp``) needs a GPU
    and a gradient scaler. bfloat16 has fp32's exponent range, so it needs
    no loss scaling, and ``torch.autocast('cpu', torch.bfloat16)`` uses the
    bf16 units of recent CPUs (AMX, AVX512-BF16). Parameters, gradients and
    the optimizer state stay fp32; only the autocast ops run in ``dtype``.

    Args:
        dtype (str | torch.dtype): ``'bfloat16'`` (default) or
            ``'float16'``. There is no loss scaling here, which float16
            gradients may need: for fp16 training on a GPU use
            ``AmpOptimWrapper``.
        **kwargs: :class:`~mmengine.optim.OptimWrapper` arguments
            (``optimizer``, ``clip_grad``, ``accumulative_counts``).
    """

    valid_dtypes = ('bfloat16', 'float16')

    def __init__(self, dtype: Union[str, torch.dtype] = 'bfloat16',
                 **kwargs) -> None:
        super().__init__(**kwargs)
        if isinstance(dtype, torch.dtype):
            dtype = str(dtype).replace('torch.', '')
        if dtype not in self.valid_dtypes:
            raise ValueError(f'AutocastOptimWrapper dtype must be one of '
                             f'{self.valid_dtypes}, got {dtype!r}')
        self.cast_dtype = getattr(torch, dtype)

    @contextmanager
    def optim_context(self, model: nn.Module):
        """Gradient-accumulation context of the parent plus autocast on the
        device type of ``model``'s first parameter (CPU if it has none)."""
        param = next(model.parameters(), None)
        device_type = param.device.type if param is not None else 'cpu'
        with super().optim_context(model), torch.autocast(
                device_type=device_type, dtype=self.cast_dtype):
            yield
