"""Pretrain a config's visual encoder to segment the objects of synthetic
frames.

Used by the main job to give the tiny MiT of the synthetic configs the role
ImageNet pretraining plays for MiT-B5 (see
ddavs_mm/apis/visual_encoder_pretrain.py). The file it writes holds the
backbone (keys ``backbone.*``) and the segmentation head without its
classifier (``head.*``); a config loads them with ``init_cfg=dict(
type='Pretrained', checkpoint=..., prefix='backbone.')`` on the backbone and
``prefix='head.', ignore_missing=['conv_seg.']`` on
``decode_head.mask_decoder``.
An MMEngine Runner trains it: logs, the Runner config and checkpoints go to
``--work-dir`` (default ``work_dirs/<name of --out>``); ``--resume``
continues an interrupted run, ``--cfg-options`` overrides the Runner config.
Example::

    python tools/pretrain_visual_encoder.py \
        configs/ddavs_tiny_synthetic_ms3.py --data-root data/synthetic/ms3 \
        --out data/synthetic/pretrained/tiny_mit_ms3.pth
"""
import argparse
import json

from ddavs_mm.apis.visual_encoder_pretrain import pretrain_visual_encoder
from ddavs_mm.utils import register_all_modules
from ddavs_mm.utils.tool_args import add_pretraining_runner_args
from ddavs_mm.utils.tool_errors import add_debug_arg, run_tool


def main(argv=None) -> dict:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument('config')
    p.add_argument('--data-root', required=True,
                   help='a synthetic data set (tools/dataset_converters/'
                   'make_synthetic_avs.py)')
    p.add_argument('--split', default='train')
    p.add_argument('--out', required=True)
    p.add_argument('--epochs', type=int, default=6)
    p.add_argument('--batch-size', type=int, default=32)
    p.add_argument('--lr', type=float, default=2e-3)
    p.add_argument('--channels', type=int, default=None,
                   help='width of the segmentation head (default: the '
                   'config\'s decode_head.mask_decoder.channels)')
    p.add_argument('--by-class', action='store_true',
                   help='label objects by class instead of (class, size bin)')
    p.add_argument('--seed', type=int, default=0)
    add_pretraining_runner_args(p)
    add_debug_arg(p)
    a = p.parse_args(argv)
    register_all_modules()
    res = pretrain_visual_encoder(
        a.config, a.data_root, a.out, split=a.split, epochs=a.epochs,
        batch_size=a.batch_size, lr=a.lr, channels=a.channels,
        by_size_bin=not a.by_class, seed=a.seed, work_dir=a.work_dir,
        resume=a.resume, cfg_options=a.cfg_options)
    res.pop('losses')
    print(json.dumps(res, indent=1))
    return res


if __name__ == '__main__':
    run_tool(main)
