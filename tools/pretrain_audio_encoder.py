"""Pretrain a config's audio encoder as a classifier of single-source audio.

Used by the main job to give the tiny HTSAT of the synthetic configs the role
AudioSet pretraining plays for the real HTSAT (see
ddavs_mm/apis/audio_encoder_pretrain.py).
An MMEngine Runner trains it: logs, the Runner config and checkpoints go to
``--work-dir`` (default ``work_dirs/<name of --out>``); ``--resume``
continues an interrupted run, ``--cfg-options`` overrides the Runner config.
Example::

    python tools/pretrain_audio_encoder.py \
        configs/ddavs_tiny_synthetic_ms3.py --source synthetic \
        --data-root data/synthetic/ms3 \
        --out work_dirs/main_job/tiny_htsat_synthetic.pth
"""
import argparse
import json

from ddavs_mm.apis.audio_encoder_pretrain import pretrain_audio_encoder
from ddavs_mm.utils import register_all_modules
from ddavs_mm.utils.tool_args import add_pretraining_runner_args
from ddavs_mm.utils.tool_errors import add_debug_arg, run_tool


def main(argv=None) -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument('config')
    p.add_argument('--source', default='synthetic',
                   choices=('s4', 'avss', 'vpo', 'synthetic'))
    p.add_argument('--data-root', required=True)
    p.add_argument('--split', default='train')
    p.add_argument('--out', required=True)
    p.add_argument('--epochs', type=int, default=20)
    p.add_argument('--batch-size', type=int, default=64)
    p.add_argument('--lr', type=float, default=3e-3)
    p.add_argument('--seed', type=int, default=0)
    add_pretraining_runner_args(p)
    p.add_argument('--by-size-bin', action='store_true',
                   help='synthetic source only: one label per sound '
                   '(class, size bin) instead of per class')
    p.add_argument('--mixtures', action='store_true',
                   help='synthetic source only: tag the audible sources of '
                   'every second (multi-label) instead of classifying the '
                   'single-source seconds')
    add_debug_arg(p)
    a = p.parse_args(argv)
    if a.by_size_bin and a.source != 'synthetic':
        p.error('--by-size-bin needs --source synthetic')
    if a.mixtures and a.source != 'synthetic':
        p.error('--mixtures needs --source synthetic')
    register_all_modules()
    res = pretrain_audio_encoder(
        a.config, a.source, a.data_root, a.out, split=a.split,
        epochs=a.epochs, batch_size=a.batch_size, lr=a.lr, seed=a.seed,
        work_dir=a.work_dir, resume=a.resume, cfg_options=a.cfg_options,
        mixtures=a.mixtures,
        **(dict(by_size_bin=True) if a.by_size_bin else {}))
    res.pop('losses')
    print(json.dumps(res, indent=1))


if __name__ == '__main__':
    run_tool(main)
