"""Which visible objects does a model mark as sounding? Error analysis by role.

On the synthetic data set every visible object has a known role per frame,
so a prediction can be split into what the audio had to decide:

* ``sounding``: its source sounds in this second (should be marked);
* ``silent_source``: its source is in the clip but silent this second;
* ``lookalike``: silent, same class as a source but another size bin (told
  apart only by pitch);
* ``distractor``: silent, a class no source of the clip has;
* ``background``: pixels of no object.

:func:`role_coverage` gives, per role, the mean over objects of the fraction
of the object's pixels that the model predicts (background: the mean
fraction of background pixels predicted). A model that listens perfectly
scores 1 for ``sounding`` and 0 elsewhere; one that only looks scores about
the same for every object role.
"""
from collections import defaultdict
from typing import Dict, Mapping, Sequence

import numpy as np

from .generator import iter_rendered_clips, load_info

ROLES = ('sounding', 'silent_source', 'lookalike', 'distractor',
         'background')


def object_role(scene, uid: int, k: int) -> str:
    """Role of visible instance ``uid`` in second ``k`` (see module doc)."""
    inst = scene.instances[uid]
    if uid in scene.sounding_instances(k):
        return 'sounding'
    if inst.role == 'sounding':
        return 'silent_source'
    return inst.role  # 'lookalike' or 'distractor'


def role_coverage(root: str, split: str,
                  predictions: Mapping[str, Sequence[np.ndarray]]
                  ) -> Dict[str, Dict[str, float]]:
    """Mean predicted fraction of each role's objects.

    Args:
        root (str): a generated synthetic data set.
        split (str): its split the predictions are for.
        predictions (Mapping[str, Sequence[np.ndarray]]): clip id → one
            bool ``[H, W]`` mask per frame, at the data set's frame size.

    Returns:
        dict: role → ``{'mean': float, 'count': int}`` for the roles that
        occur (``count`` = objects x frames, or frames for background).

    Raises:
        KeyError: a clip of the split has no prediction.
        ValueError: a prediction has the wrong number of frames or size.
    """
    fractions = defaultdict(list)
    for rec, scene, maps in iter_rendered_clips(load_info(root), split):
        cid = rec['clip_id']
        if cid not in predictions:
            raise KeyError(f'no prediction for clip {cid} of split {split} '
                           f'({root})')
        preds = predictions[cid]
        if len(preds) != len(maps):
            raise ValueError(f'clip {cid}: {len(preds)} predicted frames, '
                             f'the clip has {len(maps)}')
        for k, (imap, pred) in enumerate(zip(maps, preds)):
            pred = np.asarray(pred, bool)
            if pred.shape != imap.shape:
                raise ValueError(f'clip {cid} frame {k}: prediction '
                                 f'{pred.shape}, frames are {imap.shape}')
            for inst in scene.instances:
                pix = imap == inst.uid
                if pix.any():
                    fractions[object_role(scene, inst.uid, k)].append(
                        float(pred[pix].mean()))
            bg = imap < 0
            if bg.any():
                fractions['background'].append(float(pred[bg].mean()))
    if not fractions:
        raise ValueError(f'no clips in split {split!r} of {root}')
    return {role: dict(mean=float(np.mean(fractions[role])),
                       count=len(fractions[role]))
            for role in ROLES if fractions[role]}
