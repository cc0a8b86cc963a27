"""Pre-flight of a training config (``tools/train.py CONFIG --preflight``).

Before a long (multi-GPU) run, on the real data and config, in about a
minute:

1. build the full train and val data sets (every file of every clip is
   checked to exist) and count the iterations of one epoch;
2. build the runner as ``tools/train.py`` does and run the consistency
   checks (:mod:`ddavs_mm.engine.consistency_checks`) before the first step;
3. run ``train_steps`` (2) training steps on the first clips of the train
   set, then ``val_steps`` (2) validation steps on the first val clips
   (keeping the best checkpoint when the config asks for it), and save the
   epoch checkpoint;
4. resume from that checkpoint in a new runner and verify that the epoch,
   iteration, weights and optimizer state are those that were saved;
5. report what was checked, the step and validation times, and the time
   of a full epoch (iterations x the last training step) and of the whole
   schedule.

Everything is written to a temporary folder inside the work dir, removed at
the end. The data sets are cut with mmengine's ``indices`` argument (so a
data set wrapper such as ``ConcatDataset``, which does not take it, is not
supported), and the config's own data set, pipeline, loader, model,
optimizer, schedule and hooks run. The timed steps include data loading;
the first of each kind also includes start-up costs (workers, caches), so
the estimate uses the last one.
"""
import copy
import math
import os
import os.path as osp
import shutil
import sys
import tempfile
import time
import traceback
from typing import Any, List, Optional

import torch
from mmengine.config import Config
from mmengine.hooks import Hook
from mmengine.logging import print_log
from mmengine.model import is_model_wrapper
from mmengine.registry import init_default_scope

from .consistency_checks import ConsistencyError
from .hooks import ConsistencyCheckHook
from .strict_load_runner import StrictLoadRunner

__all__ = ['PreflightError', 'run_preflight', 'preflight_main']


class PreflightError(RuntimeError):
    """A pre-flight stage failed (the message names the stage)."""


class _Timing(Hook):
    """Wall-clock times of the training and validation iterations (data
    loading included) and of the epoch's checkpoint save."""

    priority = 'LOWEST'

    def __init__(self) -> None:
        self.train_iters: List[float] = []
        self.val_iters: List[float] = []
        self.val_metrics: dict = {}
        self.save_seconds: Optional[float] = None
        self._t = 0.0
        self._v = 0.0
        self._save_t: Optional[float] = None

    def before_train_epoch(self, runner) -> None:
        self._t = time.perf_counter()

    def after_train_iter(self, runner, batch_idx, data_batch=None,
                         outputs=None) -> None:
        now = time.perf_counter()
        self.train_iters.append(now - self._t)
        self._t = now

    def before_save_checkpoint(self, runner, checkpoint) -> None:
        if self._save_t is None:
            self._save_t = time.perf_counter()

    def after_train_epoch(self, runner) -> None:
        if self._save_t is not None and self.save_seconds is None:
            self.save_seconds = time.perf_counter() - self._save_t

    def before_val_epoch(self, runner) -> None:
        self._v = time.perf_counter()

    def after_val_iter(self, runner, batch_idx, data_batch=None,
                       outputs=None) -> None:
        now = time.perf_counter()
        self.val_iters.append(now - self._v)
        self._v = now

    def after_val_epoch(self, runner, metrics=None) -> None:
        self.val_metrics = dict(metrics or {})


def _n(count: int, word: str) -> str:
    """``'1 step'``, ``'2 steps'``."""
    return f'{count} {word}{"" if count == 1 else "s"}'


def _times(steps: List[float]) -> str:
    text = f'{_n(len(steps), "step")} of ' + \
        ', '.join(f'{t:.2f} s' for t in steps)
    return text + (' (the first includes start-up)' if len(steps) > 1
                   else '')


def _hms(seconds: float) -> str:
    seconds = int(round(seconds))
    return f'{seconds // 3600}:{seconds // 60 % 60:02d}:{seconds % 60:02d}'


def _iterations(num_clips: int, batch_size: int, world_size: int,
                drop_last: bool) -> int:
    """Iterations of one epoch per process (mmengine's DefaultSampler pads
    every process to ``ceil(num_clips / world_size)`` clips)."""
    per_rank = math.ceil(num_clips / world_size)
    if drop_last:
        return per_rank // batch_size
    return math.ceil(per_rank / batch_size)


def _validations(train_cfg: dict) -> int:
    """Validations of an epoch-based schedule (as mmengine's loop runs
    them: from ``val_begin``, every ``val_interval`` and after the last
    epoch)."""
    max_epochs = int(train_cfg['max_epochs'])
    interval = int(train_cfg.get('val_interval', 1))
    begin = int(train_cfg.get('val_begin', 1))
    return sum(1 for e in range(1, max_epochs + 1)
               if e >= begin and (e % interval == 0 or e == max_epochs))


def _cpu_state(obj: Any) -> Any:
    """A detached CPU copy of nested dicts / lists of tensors."""
    if isinstance(obj, torch.Tensor):
        return obj.detach().cpu().clone()
    if isinstance(obj, dict):
        return {k: _cpu_state(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return type(obj)(_cpu_state(v) for v in obj)
    return copy.deepcopy(obj)


def _first_difference(a: Any, b: Any, path: str = '') -> Optional[str]:
    """The first path where two nested states differ, or None."""
    if isinstance(a, torch.Tensor) or isinstance(b, torch.Tensor):
        same = isinstance(a, torch.Tensor) and isinstance(b, torch.Tensor) \
            and a.shape == b.shape and torch.equal(a.cpu(), b.cpu())
        return None if same else path or '(tensor)'
    if isinstance(a, dict) and isinstance(b, dict):
        if set(a) != set(b):
            return f'{path} (keys {sorted(map(str, set(a) ^ set(b)))[:3]})'
        for key in a:
            diff = _first_difference(a[key], b[key], f'{path}.{key}')
            if diff:
                return diff
        return None
    if isinstance(a, (list, tuple)) and isinstance(b, (list, tuple)):
        if len(a) != len(b):
            return f'{path} (length {len(a)} != {len(b)})'
        for i, (x, y) in enumerate(zip(a, b)):
            diff = _first_difference(x, y, f'{path}[{i}]')
            if diff:
                return diff
        return None
    return None if a == b else path


def _model(runner) -> torch.nn.Module:
    return runner.model.module if is_model_wrapper(runner.model) \
        else runner.model


class _Stage:
    """Names the stage that an exception comes from."""

    def __init__(self, name: str) -> None:
        self.name = name

    def __enter__(self):
        print_log(f'preflight: {self.name} ...', logger='current')
        return self

    def __exit__(self, exc_type, exc, tb):
        if exc is None or isinstance(exc, (PreflightError,
                                           ConsistencyError)):
            return False
        raise PreflightError(
            f'{self.name} failed: {type(exc).__name__}: {exc}') from exc


def _short_cfg(cfg: Config, work_dir: str, train_clips: List[int],
               val_clips: List[int]) -> Config:
    """The config of the pre-flight run: one epoch of ``train_clips`` with
    a validation on ``val_clips`` (mmengine's ``indices``), in
    ``work_dir``, logging every step, with a visualizer of its own;
    nothing else changes."""
    pre = copy.deepcopy(cfg)
    pre.work_dir = work_dir
    pre.launcher = 'none'
    pre.resume = False
    pre.train_dataloader.dataset.indices = train_clips
    if val_clips:
        pre.val_dataloader.dataset.indices = val_clips
    pre.train_cfg.update(max_epochs=1, val_interval=1, val_begin=1)
    if pre.get('default_hooks', {}).get('logger'):
        pre.default_hooks.logger.interval = 1
    if pre.get('visualizer'):
        # mmengine keeps one visualizer per name in the process; this one
        # writes to work_dir, which is removed afterwards
        pre.visualizer.name = f'visualizer_{osp.basename(work_dir)}'
    return pre


def _train(pre: Config, timing: _Timing):
    """Build the runner and run its epoch; return it and the checks."""
    with _Stage('build the runner (model, optimizer, loaders, hooks)'):
        runner = StrictLoadRunner.from_cfg(pre)
        runner.register_hook(timing)
        checks = [h for h in runner.hooks
                  if isinstance(h, ConsistencyCheckHook)]
        if not checks:
            checks = [ConsistencyCheckHook()]
            runner.register_hook(checks[0])
    with _Stage(f'{len(pre.train_dataloader.dataset.indices)} training '
                'clips, validation, checkpoint save'):
        runner.train()
    return runner, checks[0]


def _resume_and_compare(pre: Config, ckpt: str, state: dict) -> float:
    """Resume ``ckpt`` in a new runner and compare what it restored with
    ``state`` (``epoch``, ``iter``, ``model``, ``optimizer``); return the
    seconds taken."""
    with _Stage('load and resume the checkpoint'):
        res = copy.deepcopy(pre)
        res.resume = True
        res.load_from = ckpt
        start = time.perf_counter()
        runner = StrictLoadRunner.from_cfg(res)
        runner.train()  # resumes at the end of its only epoch: no step
        seconds = time.perf_counter() - start
    if (runner.epoch, runner.iter) != (state['epoch'], state['iter']):
        raise PreflightError(
            f'resume from {ckpt} restored epoch {runner.epoch}, iteration '
            f'{runner.iter}; it was saved at epoch {state["epoch"]}, '
            f'iteration {state["iter"]}')
    diff = _first_difference(state['model'],
                             _cpu_state(_model(runner).state_dict()),
                             'model')
    if diff is None:
        diff = _first_difference(
            state['optimizer'],
            _cpu_state(runner.optim_wrapper.state_dict()), 'optimizer')
    if diff is not None:
        raise PreflightError(f'resume from {ckpt} did not restore the '
                             f'saved state: {diff} differs')
    return seconds


def run_preflight(cfg: Config, train_steps: int = 2, val_steps: int = 2,
                  world_size: int = 1) -> List[str]:
    """Run the pre-flight of a training config.

    Args:
        cfg (Config): the training config as ``tools/train.py`` builds it
            (work dir set).
        train_steps (int): training steps to run (the last one is timed
            for the estimate; the first includes start-up costs).
        val_steps (int): validation steps to run (timed the same way).
        world_size (int): processes of the real run, for the estimate of
            its epoch (each process takes ``batch_size`` clips a step).

    Returns:
        list[str]: the report, one line per item.

    Raises:
        ConsistencyError: a check before the first step failed.
        PreflightError: a stage failed (the message names it).
    """
    from ddavs_mm.registry import DATASETS
    if min(train_steps, val_steps, world_size) < 1:
        raise ValueError('train_steps, val_steps and world_size must be '
                         '>= 1')
    max_epochs = cfg.train_cfg.get('max_epochs')
    if max_epochs is None:
        raise PreflightError(
            'preflight needs an epoch-based train_cfg (max_epochs), got '
            f'{dict(cfg.train_cfg)}')
    init_default_scope(cfg.get('default_scope', 'ddavs_mm'))
    train_loader, val_loader = cfg.train_dataloader, cfg.get(
        'val_dataloader')
    with _Stage('build the full train and val data sets'):
        num_train = len(DATASETS.build(train_loader.dataset))
        num_val = len(DATASETS.build(val_loader.dataset)) \
            if val_loader else 0
    report = [f'data: {num_train} train clips, {num_val} val clips (every '
              'file found)']
    batch = int(train_loader.batch_size)
    val_batch = int(val_loader.batch_size) if val_loader else 0
    # the first clips, again from the start in a set smaller than that
    train_clips = [i % num_train for i in range(train_steps * batch)]
    val_clips = [i % num_val for i in range(val_steps * val_batch)]

    os.makedirs(cfg.work_dir, exist_ok=True)
    tmp = tempfile.mkdtemp(prefix='preflight_', dir=cfg.work_dir)
    try:
        pre = _short_cfg(cfg, tmp, train_clips, val_clips)
        timing = _Timing()
        runner, checks = _train(pre, timing)
        report += checks.report
        report.append(f'training: {_times(timing.train_iters)}')
        if val_loader:
            shown = [(k, v) for k, v in timing.val_metrics.items()
                     if isinstance(v, (int, float))][:3]
            report.append(f'validation: {_times(timing.val_iters)}; ' +
                          ', '.join(f'{k} {v:.2f}' for k, v in shown))
        ckpt = osp.join(tmp, 'epoch_1.pth')
        if not osp.isfile(ckpt):
            raise PreflightError(f'no epoch checkpoint was saved in {tmp}')
        saved = sorted(f for f in os.listdir(tmp) if f.endswith('.pth'))
        took = f' in {timing.save_seconds:.1f} s' \
            if timing.save_seconds is not None else ''
        report.append(f'checkpoint: {", ".join(saved)} saved; epoch_1.pth '
                      f'{osp.getsize(ckpt) / 2**20:.1f} MiB{took}')
        state = dict(epoch=runner.epoch, iter=runner.iter,
                     model=_cpu_state(_model(runner).state_dict()),
                     optimizer=_cpu_state(runner.optim_wrapper.state_dict()))
        del runner
        seconds = _resume_and_compare(pre, ckpt, state)
        report.append(f'resume: epoch {state["epoch"]}, iteration '
                      f'{state["iter"]}, weights and optimizer state '
                      f'restored exactly ({seconds:.1f} s with the runner '
                      'build)')
    finally:
        shutil.rmtree(tmp, ignore_errors=True)

    step = timing.train_iters[-1]
    iters = _iterations(num_train, batch, world_size,
                        bool(train_loader.get('drop_last', False)))
    procs = f'{world_size} process{"es" if world_size > 1 else ""}'
    vals = 0
    report.append(
        f'estimate: one epoch = {num_train} clips / ({batch} per step x '
        f'{procs}) = {_n(iters, "iteration")} x {step:.2f} s = '
        f'{_hms(iters * step)}')
    total = max_epochs * iters * step
    if val_loader:
        val_iters = _iterations(num_val, val_batch, world_size, False)
        val_s = val_iters * timing.val_iters[-1]
        vals = _validations(cfg.train_cfg)
        total += vals * val_s
        report.append(f'estimate: one validation = '
                      f'{_n(val_iters, "iteration")} x '
                      f'{timing.val_iters[-1]:.2f} s = {_hms(val_s)}')
    report.append(f'estimate: the schedule ({_n(max_epochs, "epoch")}, '
                  f'{_n(vals, "validation")}) = {_hms(total)} on {procs}')
    return report


def preflight_main(cfg: Config, world_size: int = 1) -> int:
    """Run :func:`run_preflight` for ``tools/train.py``: the report goes to
    stdout, a failure to stderr.

    Returns:
        int: 0 when every stage passed, 1 otherwise (the failing stage and
        its error are printed; a failure inside a stage also prints its
        traceback first).
    """
    start = time.perf_counter()
    try:
        report = run_preflight(cfg, world_size=world_size)
    except ConsistencyError as err:
        print(f'preflight FAILED before the first step: {err}',
              file=sys.stderr, flush=True)
        return 1
    except PreflightError as err:
        if err.__cause__ is not None:
            traceback.print_exception(err.__cause__, file=sys.stderr)
        print(f'preflight FAILED: {err}', file=sys.stderr, flush=True)
        return 1
    print(f'preflight passed in {time.perf_counter() - start:.0f} s '
          f'({cfg.filename}):\n' + '\n'.join(f'  - {line}'
                                              for line in report),
          flush=True)
    return 0
