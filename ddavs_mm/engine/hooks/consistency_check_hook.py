"""Run the consistency checks of a run before its first step."""
from typing import List, Sequence

from mmengine.hooks import Hook

from ddavs_mm.registry import HOOKS
from ..consistency_checks import CHECKS, run_consistency_checks


@HOOKS.register_module()
class ConsistencyCheckHook(Hook):
    """Check that the model, data, bank, pipelines, evaluator and checkpoint
    hook of a run fit together (:mod:`ddavs_mm.engine.consistency_checks`)
    before the first training step and before testing.

    A mismatch raises :class:`~ddavs_mm.engine.consistency_checks.
    ConsistencyError` naming both sides; what was verified is logged. It is
    registered in ``default_hooks`` of ``configs/_base_/default_runtime.py``
    (``consistency``), so every config gets it; set
    ``default_hooks.consistency=None`` to run without it, or skip single
    checks (e.g. a deliberate test frame size other than the training one).

    Args:
        skip (Sequence[str]): checks not to run, from
            ``consistency_checks.CHECKS`` (``'classes'``, ``'metric'``,
            ``'bank'``, ``'audio'``, ``'frame_size'``, ``'save_best'``).

    Attributes:
        report (list[str]): the lines of the last run of the checks.
    """

    priority = 'VERY_HIGH'

    def __init__(self, skip: Sequence[str] = ()) -> None:
        unknown = sorted(set(skip) - set(CHECKS))
        if unknown:
            raise ValueError(f'ConsistencyCheckHook: unknown checks '
                             f'{unknown} in skip; the checks are {CHECKS}')
        self.skip = tuple(skip)
        self.report: List[str] = []

    def _run(self, runner, stage: str) -> None:
        self.report = run_consistency_checks(runner, stage, self.skip)
        runner.logger.info(f'Consistency checks ({stage}) passed:\n' +
                           '\n'.join(f'  - {line}' for line in self.report))

    def before_train(self, runner) -> None:
        self._run(runner, 'train')

    def before_test(self, runner) -> None:
        self._run(runner, 'test')
