"""Train a DDAVS-MM model with an MMEngine runner (MMSegmentation style).

Examples:
    python tools/train.py configs/ddavs_tiny_synthetic_ms3.py
    python tools/train.py CONFIG --work-dir work_dirs/x --resume
    python tools/train.py CONFIG --preflight 8   # checks, then exits
    bash tools/dist_train.sh configs/ddavs_mitb5_htsat_ms3.py 8
"""
import argparse
import logging
import os.path as osp

import torch
from mmengine.config import Config
from mmengine.logging import print_log

from ddavs_mm.engine import StrictLoadRunner, init_cpu_distributed
from ddavs_mm.utils import register_all_modules
from ddavs_mm.utils.tool_args import (add_common_args, add_work_dir_arg,
                                      load_tool_cfg, parse_tool_args)
from ddavs_mm.utils.tool_errors import InputError, add_debug_arg, run_tool


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description='Train a DDAVS-MM segmentor')
    parser.add_argument('config', help='train config file path')
    add_work_dir_arg(parser, 'logs and models')
    parser.add_argument(
        '--resume',
        nargs='?',
        const='auto',
        default=None,
        metavar='CHECKPOINT',
        help='resume training: without a value, from the latest checkpoint '
        'in the work dir; with a value, from that checkpoint file')
    parser.add_argument(
        '--amp',
        action='store_true',
        default=False,
        help='enable automatic mixed precision training')
    parser.add_argument(
        '--no-strict', action='store_true',
        help='load a --resume / load_from checkpoint that does not fit the '
        'model: the keys that fit, with a table of the rest (default: '
        'an error naming the file and keys)')
    add_debug_arg(parser)
    parser.add_argument(
        '--preflight',
        nargs='?',
        const=1,
        type=int,
        metavar='PROCESSES',
        help='check the config on its data before a long run and exit: '
        'build everything, run 2 training and 2 validation steps, save, '
        'load and resume a checkpoint, report the checks and the time of an '
        'epoch for PROCESSES processes (default 1); exit status 0 on success')
    add_common_args(parser, 'train_dataloader.batch_size=2')
    return parse_tool_args(parser)


def build_cfg(args: argparse.Namespace) -> Config:
    """Merge the command line into the config."""
    cfg = load_tool_cfg(args)
    if args.amp:
        optim_wrapper = cfg.optim_wrapper.type
        if optim_wrapper in ('AmpOptimWrapper', 'AutocastOptimWrapper'):
            print_log('AMP training is already enabled in your config.',
                      logger='current', level=logging.WARNING)
        elif optim_wrapper != 'OptimWrapper':
            raise ValueError(
                '--amp is only supported when the optimizer wrapper type is '
                f'OptimWrapper, but the config has {optim_wrapper}')
        elif torch.cuda.is_available():
            cfg.optim_wrapper.type = 'AmpOptimWrapper'
            cfg.optim_wrapper.loss_scale = 'dynamic'
        else:
            # mmengine's AmpOptimWrapper needs a GPU; bf16 needs no scaler
            print_log('--amp without a GPU: bfloat16 autocast on the CPU '
                      '(AutocastOptimWrapper)', logger='current')
            cfg.optim_wrapper.type = 'AutocastOptimWrapper'
            cfg.optim_wrapper.dtype = 'bfloat16'
    if args.resume == 'auto':
        cfg.resume = True
        cfg.load_from = None
    elif args.resume is not None:
        if not osp.isfile(args.resume):
            raise InputError(
                args.resume, '--resume: checkpoint file not found',
                'check the path; --resume without a value resumes from '
                'the latest checkpoint of the work dir')
        cfg.resume = True
        cfg.load_from = args.resume
    if args.no_strict:
        cfg.strict_load = False
    return cfg


def main() -> None:
    args = parse_args()
    register_all_modules(init_default_scope=False)
    cfg = build_cfg(args)
    if args.preflight is not None:  # one process; estimate for N
        if args.launcher != 'none':
            raise SystemExit('--preflight runs without a launcher; give the '
                             'processes of the real run as --preflight N')
        from ddavs_mm.engine.preflight import preflight_main
        raise SystemExit(preflight_main(cfg, world_size=args.preflight))
    # MMEngine's own init needs CUDA; on CPU start a gloo group first.
    init_cpu_distributed(args.launcher)
    runner = StrictLoadRunner.from_cfg(cfg)
    runner.train()


if __name__ == '__main__':
    run_tool(main)
