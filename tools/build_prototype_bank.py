"""Build the DDAVS prototype memory bank from single-source clips.

Embeds every 1-second single-source segment with the config's frozen audio
encoder, runs K-means (k-means++, seeded) per class and keeps the features
nearest each centre (see ``ddavs_mm/apis/prototype_bank_builder.py``; which
seconds are single source: ``ddavs_mm/datasets/single_source_segments.py``).
Prints the seconds and prototypes of every class; the bank file holds them
in its ``build_info``.

Examples::

    python tools/build_prototype_bank.py configs/ddavs_tiny_synthetic_ms3.py \
        --source synthetic --data-root data/synthetic_s4 \
        --out data/banks/synthetic_tiny_k5.pt

    python tools/build_prototype_bank.py CONFIG --source s4 \
        --data-root data/AVSBench/Single-source --split train \
        --checkpoint checkpoints/HTSAT_AudioSet_Saved_1.ckpt \
        --out data/banks/s4_htsat_k5.pt --device cuda

    python tools/build_prototype_bank.py configs/ddavs_mitb5_htsat_avss.py \
        --source avss --data-root data/AVSBench/AVSBench-semantic \
        --checkpoint checkpoints/HTSAT_AudioSet_Saved_1.ckpt \
        --out data/banks/avss_htsat_k5.pt --device cuda
"""
import argparse
import json
import os.path as osp

from mmengine.config import Config, DictAction

import ddavs_mm  # noqa: F401  (registers every module)
from ddavs_mm.apis.prototype_bank_builder import (SMALL_CLASS_RULES,
                                                  build_prototype_bank)
from ddavs_mm.datasets.single_source_segments import SOURCES
from ddavs_mm.utils.tool_errors import InputError, add_debug_arg, run_tool


def parse_args(argv=None):
    p = argparse.ArgumentParser(
        description='Build a prototype memory bank (DDAVS appendix B.1).')
    p.add_argument('config', help='model config (its model.audio_encoder is '
                   'the encoder used)')
    p.add_argument('--source', choices=SOURCES, required=True,
                   help='single-source data: s4 (category), avss (v1s '
                   'clips and the v1m/v2 seconds whose label map holds one '
                   'class), vpo (VPO-SS cateName), synthetic '
                   '(single_source_index of synthetic_info.json)')
    p.add_argument('--data-root', required=True, help='data set root')
    p.add_argument('--split', default='train',
                   choices=('train', 'val', 'test'))
    p.add_argument('--out', required=True,
                   help='bank file: .pt (default format), .npz, or .npy '
                   '(DDESeg [C, K, D]; needs class ids 0..C-1 with equal K)')
    p.add_argument('--checkpoint', default=None,
                   help='encoder weights: HTSAT .ckpt, CLAP dir/file, or a '
                   'DDAVS-MM model checkpoint; default: what the config '
                   'names (random init with a warning if nothing)')
    p.add_argument('--num-clusters', type=int, default=5,
                   help='K-means centres per class (K). Default 5')
    p.add_argument('--per-cluster', type=int, default=1,
                   help='features kept nearest each centre. Default 1')
    p.add_argument('--seed', type=int, default=0)
    p.add_argument('--n-init', type=int, default=10,
                   help='K-means restarts. Default 10')
    p.add_argument('--segment-seconds', type=float, default=1.0)
    p.add_argument('--batch-size', type=int, default=32)
    p.add_argument('--device', default='cpu')
    p.add_argument('--small-class', choices=SMALL_CLASS_RULES,
                   default='fewer',
                   help='a class with fewer seconds than K * per-cluster: '
                   'fewer prototypes (default), the same duplicated up to '
                   'K * per-cluster rows (marked not real in the file), or '
                   'an error')
    p.add_argument('--no-mixed-fallback', action='store_true',
                   help='AVSS: no prototype for a class without a '
                   'single-source second (default: its least-mixed seconds)')
    p.add_argument('--avss-labels', nargs='+', default=['v1s', 'v1m', 'v2'],
                   choices=('v1s', 'v1m', 'v2'),
                   help='AVSS subsets to read (default all three)')
    p.add_argument('--dataset-options', nargs='+', action=DictAction,
                   default=None, help='extra dataset arguments, key=value '
                   '(e.g. ann_file=..., audio_dir=...)')
    p.add_argument('--cfg-options', nargs='+', action=DictAction,
                   help='override config settings, key=value')
    p.add_argument('--no-progress', action='store_true')
    add_debug_arg(p)
    return p.parse_args(argv)


def main(argv=None):
    args = parse_args(argv)
    if not osp.isfile(args.config):
        raise InputError(args.config, 'config file not found',
                         'check the path')
    cfg = Config.fromfile(args.config)
    if args.cfg_options:
        cfg.merge_from_dict(args.cfg_options)
    ds_kwargs = dict(args.dataset_options or {})
    if args.source == 'avss':
        ds_kwargs.setdefault('labels', tuple(args.avss_labels))
    res = build_prototype_bank(
        cfg,
        args.source,
        args.data_root,
        split=args.split,
        out=args.out,
        checkpoint=args.checkpoint,
        num_clusters=args.num_clusters,
        per_cluster=args.per_cluster,
        seed=args.seed,
        batch_size=args.batch_size,
        device=args.device,
        segment_seconds=args.segment_seconds,
        n_init=args.n_init,
        small_class=args.small_class,
        mixed_fallback=not args.no_mixed_fallback,
        progress=not args.no_progress,
        dataset_kwargs=ds_kwargs)
    info = res['build_info']
    summary = dict(
        out=res['path'], shape=list(res['prototypes'].shape),
        classes=len(info['counts_per_class']),
        features=info['num_features'],
        small_classes=info['small_classes'],
        fallback_classes=info['fallback_classes'],
        missing_classes=info['missing_classes'])
    print(json.dumps(summary, indent=1))


if __name__ == '__main__':
    run_tool(main)
