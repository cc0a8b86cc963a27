"""``init_cfg=dict(type='Pretrained', ...)`` that fills every weight."""
from typing import Optional, Sequence

from mmengine.model.weight_init import PretrainedInit, update_init_info

from ddavs_mm.registry import WEIGHT_INITIALIZERS
from ddavs_mm.utils.checkpoint_loading import (load_state_dict_checked,
                                               read_checkpoint)


@WEIGHT_INITIALIZERS.register_module(name='Pretrained')
class StrictPretrainedInit(PretrainedInit):
    """MMEngine's ``Pretrained`` initialiser, strict by default.

    Registered as ``Pretrained`` in the ``ddavs_mm`` scope, so every
    ``init_cfg=dict(type='Pretrained', checkpoint=...)`` of a DDAVS-MM
    config (a whole model, the MiT backbone, the mask decoder) uses it.
    MMEngine's own version loads with ``strict=False`` and only logs what
    did not match; this one reads the file with ``weights_only=True`` and
    raises :class:`~ddavs_mm.utils.checkpoint_loading.CheckpointError`
    naming the file and the first offending keys when a module weight is
    missing from the file, a file tensor has no place in the module, or
    the shapes differ. A documented partial load is declared in the config,
    e.g. a mask decoder initialised from a pretraining file that holds
    everything but the classifier it was pretrained with::

        init_cfg=dict(type='Pretrained', checkpoint=path, prefix='head.',
                      ignore_missing=['conv_seg.'])

    HTSAT has its own converter and loader
    (:meth:`HTSATAudioEncoder.init_weights`), which is also strict and
    drops only the documented AudioSet classifier keys.

    Args:
        checkpoint (str): the file (or any URI MMEngine reads).
        prefix (str, optional): load only the file keys under this prefix,
            stripped (``'backbone.'``). Defaults to None (all keys).
        map_location (str): as for :func:`torch.load`. Defaults to 'cpu'.
        strict (bool): raise on undeclared missing / unexpected /
            mis-shaped keys; False loads what fits and logs a table of the
            rest. Defaults to True.
        ignore_missing (sequence[str]): regexes (matched at the start) of
            module keys the file may lack.
        ignore_unexpected (sequence[str]): regexes of file keys the module
            may lack.
    """

    def __init__(self,
                 checkpoint: str,
                 prefix: Optional[str] = None,
                 map_location: str = 'cpu',
                 strict: bool = True,
                 ignore_missing: Sequence[str] = (),
                 ignore_unexpected: Sequence[str] = ()) -> None:
        super().__init__(checkpoint, prefix=prefix, map_location=map_location)
        self.strict = strict
        self.ignore_missing = tuple(ignore_missing)
        self.ignore_unexpected = tuple(ignore_unexpected)

    def __call__(self, module) -> None:
        checkpoint = read_checkpoint(self.checkpoint, self.map_location)
        load_state_dict_checked(
            module, checkpoint, self.checkpoint, strict=self.strict,
            prefix=self.prefix, ignore_missing=self.ignore_missing,
            ignore_unexpected=self.ignore_unexpected,
            hint=f'check the checkpoint and prefix of the init_cfg of '
            f'{type(module).__name__}; declare a documented partial load '
            f'with ignore_missing / ignore_unexpected, or set strict=False')
        if hasattr(module, '_params_init_info'):
            update_init_info(module, init_info=self._get_init_info())
