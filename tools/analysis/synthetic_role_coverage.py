"""Error analysis on the synthetic data set: which objects does a model mark?

Runs a trained checkpoint on a split of a synthetic data set and prints, per
object role (sounding now / source silent this second / look-alike /
distractor / background), the mean fraction of the objects' pixels predicted
as sounding (see ddavs_mm/datasets/synthetic/role_coverage.py). Example::

    python tools/analysis/synthetic_role_coverage.py \
        configs/ddavs_tiny_synthetic_ms3.py \
        work_dirs/main_job/train/epoch_30.pth --split test
"""
import argparse
import copy
import json

import cv2
import torch
from mmengine.config import DictAction
from mmengine.runner import Runner

from ddavs_mm.apis import init_model
from ddavs_mm.datasets.synthetic import load_info, role_coverage


def collect_predictions(model: torch.nn.Module, dataloader_cfg: dict,
                        size: int) -> dict:
    """clip id → list of bool ``[size, size]`` masks, one per frame.

    Predictions come at the frames' stored size (the segmentor restores
    them); they are brought to the data set's ``size`` (nearest neighbour)
    when that differs.
    """
    preds = {}
    for data in Runner.build_dataloader(dataloader_cfg):
        with torch.no_grad():
            samples = model.test_step(data)
        for ds in samples:
            masks = ds.pred_masks.cpu().numpy().astype('uint8')
            preds[ds.metainfo['clip_id']] = [
                cv2.resize(m, (size, size), interpolation=cv2.INTER_NEAREST)
                > 0 if m.shape != (size, size) else m > 0 for m in masks]
    return preds


def main(argv=None) -> dict:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument('config')
    p.add_argument('checkpoint')
    p.add_argument('--split', default='test',
                   choices=('train', 'val', 'test'))
    p.add_argument('--cfg-options', nargs='+', action=DictAction)
    a = p.parse_args(argv)
    model = init_model(a.config, a.checkpoint, cfg_options=a.cfg_options)
    loader_cfg = copy.deepcopy(model.cfg.test_dataloader)
    loader_cfg.dataset.split = a.split
    root = loader_cfg.dataset.data_root
    size = int(load_info(root)['size'])
    res = role_coverage(root, a.split,
                        collect_predictions(model, loader_cfg, size))
    print(f'| object role ({a.split}) | objects x frames | predicted '
          'fraction |\n|---|---|---|')
    for role, r in res.items():
        print(f'| {role} | {r["count"]} | {r["mean"]:.3f} |')
    print(json.dumps(res))
    return res


if __name__ == '__main__':
    main()
