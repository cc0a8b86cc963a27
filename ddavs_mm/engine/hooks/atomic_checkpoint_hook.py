"""MMEngine's CheckpointHook, safe against a kill at any instant."""
import os
import os.path as osp
import re

from mmengine.dist import is_main_process
from mmengine.hooks import CheckpointHook

from ddavs_mm.registry import HOOKS
from ddavs_mm.utils.atomic_file import (ATOMIC_BACKEND, atomic_write_text,
                                        remove_stale_temporaries)


class _DeferredRemovals:
    """A file backend whose ``remove`` / ``rmtree`` only note the path."""

    def __init__(self, backend) -> None:
        self._backend = backend
        self.paths = []

    def remove(self, path) -> None:
        self.paths.append(path)

    def rmtree(self, path) -> None:
        self.paths.append(path)

    def __getattr__(self, name):
        return getattr(self._backend, name)


@HOOKS.register_module()
class AtomicCheckpointHook(CheckpointHook):
    """:class:`~mmengine.hooks.CheckpointHook` whose checkpoints survive a
    kill at any instant, mid-save included.

    MMEngine 0.10's hook first deletes the checkpoint that falls out of
    ``max_keep_ckpts`` (or the previous best one), then writes the new file
    in place, then ``last_checkpoint``. Killed in between, the work dir can
    hold no complete checkpoint, a partial ``.pth``, or a
    ``last_checkpoint`` that names a missing file. This hook keeps the same
    options and file names and changes the order:

    1. the new checkpoint is written to a temporary file, ``fsync``\\ ed and
       renamed into place (:mod:`ddavs_mm.utils.atomic_file`);
    2. ``last_checkpoint`` is replaced the same way, so it always names a
       complete file;
    3. only then are the checkpoints that fall out of ``max_keep_ckpts``
       and the previous best checkpoint deleted.

    A kill therefore leaves the previous state or the new one, plus at
    worst a stray temporary file or a checkpoint that was due for deletion;
    both are removed when training starts again (``before_train``).
    Writes go through the atomic local backend unless ``backend_args`` or
    an ``out_dir`` with a URI scheme chooses another storage.

    Args:
        *args, **kwargs: those of :class:`~mmengine.hooks.CheckpointHook`.
    """

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        out_dir = self.out_dir
        local = out_dir is None or '://' not in str(out_dir)
        if self.backend_args is None and self.file_client_args is None \
                and local:
            self.backend_args = dict(backend=ATOMIC_BACKEND)

    def before_train(self, runner) -> None:
        """Set up as MMEngine does, then tidy what a kill left behind."""
        super().before_train(runner)
        if not is_main_process():
            return
        folders = {runner.work_dir, self.out_dir}
        for folder in folders:
            if '://' in str(folder):
                continue
            for path in remove_stale_temporaries(folder):
                runner.logger.info(
                    f'Removed {path}, left by an interrupted save')
        self._retire_leftovers(runner)

    def _retire_leftovers(self, runner) -> None:
        """Delete checkpoints a kill between a save and step 3 (see the
        class docstring) left: ``filename_tmpl`` files older than every
        kept one, and best checkpoints older than the current best of
        their metric."""
        if '://' in str(self.out_dir) or not osp.isdir(self.out_dir):
            return
        step = re.escape(self.filename_tmpl).replace(
            re.escape('{}'), r'(\d+)')
        regular = re.compile(f'^{step}$')
        best = re.compile(f'^best_(.+)_{step}$')
        keep = getattr(self, 'keep_ckpt_ids', None)
        oldest_kept = min(keep) if self.max_keep_ckpts > 0 and keep \
            else None
        current_best = {}  # metric -> step of its best checkpoint
        paths = [getattr(self, 'best_ckpt_path', None)]
        paths += list(getattr(self, 'best_ckpt_path_dict', {}).values())
        for path in filter(None, paths):
            match = best.match(osp.basename(path))
            if match:
                current_best[match.group(1)] = int(match.group(2))
        for name in sorted(os.listdir(self.out_dir)):
            path = osp.join(self.out_dir, name)
            match = regular.match(name)
            if match and oldest_kept is not None:
                stale = int(match.group(1)) < oldest_kept
            else:
                match = best.match(name)
                stale = bool(match) and int(match.group(2)) < \
                    current_best.get(match.group(1), -1)
            if stale and osp.isfile(path):
                os.remove(path)
                runner.logger.info(f'Removed {path}: due for deletion '
                                   f'when the last run stopped')

    def _save_checkpoint_with_step(self, runner, step, meta) -> None:
        """Save ``filename_tmpl.format(step)``, point ``last_checkpoint`` at
        it, then delete the checkpoints ``max_keep_ckpts`` drops."""
        retired = []
        if self.max_keep_ckpts > 0 and not (
                self.keep_ckpt_ids and self.keep_ckpt_ids[-1] == step):
            if len(self.keep_ckpt_ids) == self.max_keep_ckpts:
                retired.append(self.keep_ckpt_ids.popleft())
            self.keep_ckpt_ids.append(step)
            runner.message_hub.update_info('keep_ckpt_ids',
                                           list(self.keep_ckpt_ids))
        ckpt_filename = self.filename_tmpl.format(step)
        self.last_ckpt = self.file_backend.join_path(self.out_dir,
                                                     ckpt_filename)
        runner.message_hub.update_info('last_ckpt', self.last_ckpt)
        runner.save_checkpoint(
            self.out_dir,
            ckpt_filename,
            self.file_client_args,
            save_optimizer=self.save_optimizer,
            save_param_scheduler=self.save_param_scheduler,
            meta=meta,
            by_epoch=self.by_epoch,
            backend_args=self.backend_args,
            **self.args)
        if not is_main_process():
            return
        atomic_write_text(osp.join(runner.work_dir, 'last_checkpoint'),
                          self.last_ckpt)
        for old in retired:
            path = self.file_backend.join_path(self.out_dir,
                                               self.filename_tmpl.format(old))
            if self.file_backend.isfile(path):
                self.file_backend.remove(path)
            elif self.file_backend.isdir(path):
                self.file_backend.rmtree(path)

    def _save_best_checkpoint(self, runner, metrics) -> None:
        """MMEngine's best-checkpoint logic, with the previous best file
        deleted only after the new one is saved."""
        backend = self.file_backend
        deferred = _DeferredRemovals(backend)
        self.file_backend = deferred
        try:
            super()._save_best_checkpoint(runner, metrics)
        finally:
            self.file_backend = backend
        in_use = {self.last_ckpt, getattr(self, 'best_ckpt_path', None)}
        in_use.update(getattr(self, 'best_ckpt_path_dict', {}).values())
        for path in deferred.paths:
            if path in in_use:
                continue
            if backend.isfile(path):
                backend.remove(path)
            elif backend.isdir(path):
                backend.rmtree(path)
