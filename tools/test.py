"""Evaluate a trained DDAVS-MM checkpoint with the config's JFMetric.

Examples:
    python tools/test.py configs/ddavs_tiny_synthetic_ms3.py \
        work_dirs/tiny/epoch_30.pth
    python tools/test.py CONFIG CHECKPOINT --tta  # flip test-time augmentation
    python tools/test.py CONFIG CHECKPOINT --fast  # fast inference path
    bash tools/dist_test.sh CONFIG CHECKPOINT 8 --out results.pkl
"""
import argparse
import os.path as osp

from mmengine.config import Config

from ddavs_mm.engine import StrictLoadRunner, init_cpu_distributed
from ddavs_mm.utils import register_all_modules
from ddavs_mm.utils.tool_args import (add_common_args, add_work_dir_arg,
                                      load_tool_cfg, parse_tool_args)
from ddavs_mm.utils.tool_errors import InputError, add_debug_arg, run_tool


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description='Test a DDAVS-MM segmentor')
    parser.add_argument('config', help='test config file path')
    parser.add_argument('checkpoint', help='checkpoint file')
    add_work_dir_arg(parser, 'logs and results')
    parser.add_argument(
        '--out',
        help='dump the predictions (mmengine DumpResults) to this .pkl file')
    parser.add_argument(
        '--show', action='store_true', help='show prediction results')
    parser.add_argument(
        '--show-dir',
        help='directory where overlay images of the predictions are saved')
    parser.add_argument(
        '--wait-time', type=float, default=2, help='the interval of show (s)')
    parser.add_argument(
        '--tta', action='store_true',
        help='test-time augmentation: the config\'s tta_pipeline and '
        'tta_model')
    parser.add_argument(
        '--no-strict', action='store_true',
        help='test a checkpoint that does not fit the model: load the keys '
        'that fit, with a table of the rest (default: an error naming the '
        'file and keys)')
    add_debug_arg(parser)
    parser.add_argument(
        '--fast',
        action='store_true',
        help='run the fast inference path (ddavs_mm.apis.'
        'optimize_for_inference: bf16 weights and torch.compile on a GPU, '
        'same values to rounding)')
    add_common_args(parser, 'test_dataloader.batch_size=1')
    return parse_tool_args(parser)


def build_cfg(args: argparse.Namespace) -> Config:
    """Merge the command line into the config."""
    if not osp.isfile(args.checkpoint):
        raise InputError(args.checkpoint, 'checkpoint file not found',
                         'check the path')
    cfg = load_tool_cfg(args)
    cfg.load_from = args.checkpoint
    if args.no_strict:
        cfg.strict_load = False
    if args.show or args.show_dir is not None:
        hooks = cfg.default_hooks
        if 'visualization' not in hooks:
            raise InputError(args.config, '--show / --show-dir need a '
                             '`visualization` entry in default_hooks',
                             'see configs/_base_/default_runtime.py')
        hooks.visualization.draw = True
        if args.show:
            hooks.visualization.show = True
            hooks.visualization.wait_time = args.wait_time
        if args.show_dir is not None:
            hooks.visualization.test_out_dir = osp.abspath(args.show_dir)
    if args.tta:
        missing = [k for k in ('tta_model', 'tta_pipeline') if k not in cfg]
        if missing:
            raise InputError(args.config,
                             f'--tta needs {" and ".join(missing)} in the '
                             'config',
                             'see configs/_base_/datasets/avsbench_s4.py')
        cfg.test_dataloader.dataset.pipeline = cfg.tta_pipeline
        cfg.tta_model.module = cfg.model
        cfg.model = cfg.tta_model
    if args.fast:  # after the checkpoint and EMA weights are in place
        cfg.custom_hooks = list(cfg.get('custom_hooks', [])) + [
            dict(type='FastInferenceHook')
        ]
    if args.out is not None:
        cfg.test_evaluator = [cfg.test_evaluator] if isinstance(
            cfg.test_evaluator, dict) else list(cfg.test_evaluator)
        cfg.test_evaluator.append(
            dict(type='DumpResults', out_file_path=args.out))
    return cfg


def main() -> None:
    args = parse_args()
    register_all_modules(init_default_scope=False)
    cfg = build_cfg(args)
    # MMEngine's own init needs CUDA; on CPU start a gloo group first.
    init_cpu_distributed(args.launcher)
    runner = StrictLoadRunner.from_cfg(cfg)
    runner.test()


if __name__ == '__main__':
    run_tool(main)
