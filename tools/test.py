"""Evaluate a trained DDAVS-MM checkpoint with the config's JFMetric.

Examples:
    python tools/test.py configs/ddavs_tiny_synthetic_ms3.py work_dirs/x/epoch_8.pth
    python tools/test.py CONFIG CHECKPOINT --fast  # fast inference path
    bash tools/dist_test.sh CONFIG CHECKPOINT 8 --out results.pkl
"""
import argparse
import os.path as osp

from mmengine.config import Config
from mmengine.runner import Runner

from ddavs_mm.engine import init_cpu_distributed
from ddavs_mm.utils import register_all_modules
from ddavs_mm.utils.tool_args import (add_common_args, add_work_dir_arg,
                                      load_tool_cfg, parse_tool_args)


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description='Test a DDAVS-MM segmentor')
    parser.add_argument('config', help='test config file path')
    parser.add_argument('checkpoint', help='checkpoint file')
    add_work_dir_arg(parser, 'logs and results')
    parser.add_argument(
        '--out', help='dump the evaluation results (metrics) to this file')
    parser.add_argument(
        '--show-dir',
        help='directory where overlay images of the predictions are saved')
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
        raise FileNotFoundError(f'checkpoint file not found: {args.checkpoint}')
    cfg = load_tool_cfg(args)
    cfg.load_from = args.checkpoint
    if args.show_dir is not None:
        hooks = cfg.default_hooks
        if 'visualization' not in hooks:
            raise KeyError('--show-dir needs a `visualization` entry in '
                           'default_hooks (see configs/_base_/default_runtime.py)')
        hooks.visualization.draw = True
        hooks.visualization.test_out_dir = osp.abspath(args.show_dir)
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
    runner = Runner.from_cfg(cfg)
    runner.test()


if __name__ == '__main__':
    main()
