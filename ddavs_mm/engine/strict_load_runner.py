"""An MMEngine Runner whose checkpoint loads are safe and strict."""
import os.path as osp

from mmengine.model import BaseTTAModel, is_model_wrapper
from mmengine.runner import Runner
from mmengine.runner.checkpoint import find_latest_checkpoint

from ddavs_mm.utils.checkpoint_loading import (DEFAULT_REVISE_KEYS,
                                               CheckpointError,
                                               checkpoint_state_dict,
                                               compare_state_dict,
                                               load_state_dict_checked,
                                               read_checkpoint)

_HINT = ('use a checkpoint of this config, or pass --no-strict / set '
         'strict_load=False to load only the keys that fit')


class StrictLoadRunner(Runner):
    """:class:`~mmengine.runner.Runner` for ``tools/train.py`` and
    ``tools/test.py``.

    * ``load_from`` (test, fine-tuning) and resumed checkpoints are read
      with ``weights_only=True`` and errors that name the file
      (:func:`~ddavs_mm.utils.checkpoint_loading.read_checkpoint`).
    * They load strictly: a missing, unexpected or mis-shaped key is a
      :class:`~ddavs_mm.utils.checkpoint_loading.CheckpointError` naming
      the file and the first offending keys, raised before any hook or
      weight is touched. ``strict_load = False`` in the config (the tools'
      ``--no-strict``) loads what fits and logs a table of the rest.
      MMEngine's Runner loads with ``strict=False`` and only logs.
    * ``resume = True`` without ``load_from`` warns, and trains from
      scratch, when the work dir holds no ``last_checkpoint``; it is an
      error when ``last_checkpoint`` names a file that does not exist.
      MMEngine logs "Auto resumed from the latest checkpoint None." and
      fails later with ``FileNotFoundError`` respectively.

    Built with ``StrictLoadRunner.from_cfg(cfg)`` like ``Runner``.
    """

    @property
    def strict_load(self) -> bool:
        """``cfg.strict_load`` (default True)."""
        return bool(self.cfg.get('strict_load', True))

    def load_checkpoint(self, filename: str, map_location='cpu',
                        strict=None, revise_keys=DEFAULT_REVISE_KEYS):
        """Read ``filename`` safely and load it into the model.

        Args:
            filename (str): a checkpoint file or URI.
            map_location: as for :func:`torch.load`. Defaults to 'cpu'.
            strict (bool, optional): default :attr:`strict_load`.
            revise_keys (sequence): ``(pattern, replacement)`` key renames.

        Returns:
            dict: the checkpoint.
        """
        strict = self.strict_load if strict is None else strict
        checkpoint = read_checkpoint(filename, map_location)
        model = self.model.module if is_model_wrapper(self.model) \
            else self.model
        if isinstance(model, BaseTTAModel):  # tools/test.py --tta
            model = model.module
        if strict:  # check before a hook (EMA, RNG state) reads anything
            state = checkpoint_state_dict(checkpoint, filename,
                                          revise_keys=revise_keys)
            report = compare_state_dict(model, state, filename)
            if not report.complete:
                raise CheckpointError(
                    filename, f'does not fit the model: {report.problem()}',
                    _HINT)
        self.call_hook('after_load_checkpoint', checkpoint=checkpoint)
        load_state_dict_checked(model, checkpoint, filename, strict=strict,
                                revise_keys=revise_keys, hint=_HINT)
        self._has_loaded = True
        self.logger.info(f'Load checkpoint from {filename}')
        return checkpoint

    def load_or_resume(self) -> None:
        """Resume from the work dir's ``last_checkpoint`` (saying so when
        there is none), or MMEngine's behaviour otherwise."""
        if self._has_loaded or not self._resume or \
                self._load_from is not None:
            return super().load_or_resume()
        latest = find_latest_checkpoint(self.work_dir)
        if latest is None:
            self.logger.warning(
                f'resume: {self.work_dir} holds no checkpoint to resume '
                f'(no last_checkpoint file); training starts from scratch')
            return None
        if not osp.isfile(latest):
            pointer = osp.join(self.work_dir, 'last_checkpoint')
            raise CheckpointError(
                latest, f'named by {pointer} does not exist',
                'resume from an existing checkpoint with --resume PATH')
        self.logger.info(f'Resuming from the latest checkpoint {latest}')
        self.resume(latest)
        self._has_loaded = True
        return None
