"""Run a Runner's test loop on the fast inference path."""
import copy

from mmengine.hooks import Hook
from mmengine.model import BaseTTAModel, is_model_wrapper

from ddavs_mm.registry import HOOKS


@HOOKS.register_module()
class FastInferenceHook(Hook):
    """Test on a copy of the model switched to the fast inference path
    (:func:`ddavs_mm.apis.optimize_for_inference`).

    Runs last before the test (``priority='LOWEST'``), so the copy is made
    of the weights actually tested: after the checkpoint is loaded and after
    ``EMAHook`` has swapped its averaged weights in. ``runner.model`` is the
    optimized copy during the test loop and the original model afterwards,
    so hooks that hold the original (EMA's swap back) are unaffected by the
    copy's folded BatchNorms and cast weights. ``tools/test.py --fast`` adds
    this hook.

    Args:
        dtype (str): weight dtype (``'auto'``: bf16 on CUDA, float32 on CPU).
        compile (str | bool): ``torch.compile`` (``'auto'``: on CUDA).
        fixed_shapes (bool): CUDA graphs for fixed input shapes; False (the
            default) for test sets whose last batch is smaller.
    """

    priority = 'LOWEST'

    def __init__(self,
                 dtype: str = 'auto',
                 compile='auto',
                 fixed_shapes: bool = False) -> None:
        self.dtype = dtype
        self.compile = compile
        self.fixed_shapes = fixed_shapes
        self._original = None

    def before_test(self, runner) -> None:
        from ddavs_mm.apis import optimize_for_inference
        model = runner.model.module if is_model_wrapper(
            runner.model) else runner.model
        fast = copy.deepcopy(model)
        # with --tta the segmentor inside the TTA model is made fast
        target = fast.module if isinstance(fast, BaseTTAModel) else fast
        optimize_for_inference(
            target,
            dtype=self.dtype,
            compile=self.compile,
            fixed_shapes=self.fixed_shapes)
        self._original = runner.model
        runner.model = fast
        runner.logger.info(f'FastInferenceHook: testing on the fast path '
                           f'{target.fast_inference}')

    def after_test(self, runner) -> None:
        if self._original is not None:
            runner.model = self._original
            self._original = None
