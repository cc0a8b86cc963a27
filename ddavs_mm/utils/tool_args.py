"""Command-line pieces shared by the tools.

``tools/train.py`` and ``tools/test.py`` take ``--work-dir``,
``--cfg-options``, ``--launcher`` and ``--local_rank``/``--local-rank`` and
resolve the config and its work dir the same way (MMSegmentation style): the
command line wins, then the config's own ``work_dir``, then
``./work_dirs/<config name>``. The encoder pretraining tools share the
arguments of the Runner they build (:func:`add_pretraining_runner_args`).
"""
import argparse
import os
import os.path as osp

from mmengine.config import Config, DictAction


def add_work_dir_arg(parser: argparse.ArgumentParser,
                     saves: str = 'logs and models') -> None:
    """Add ``--work-dir`` ("the dir to save ``saves``")."""
    parser.add_argument('--work-dir', help=f'the dir to save {saves}')


def add_common_args(parser: argparse.ArgumentParser,
                    cfg_options_example: str) -> None:
    """Add ``--cfg-options``, ``--launcher`` and ``--local_rank``.

    Args:
        parser (ArgumentParser): the tool's parser.
        cfg_options_example (str): the ``key=value`` shown in the help of
            ``--cfg-options``, e.g. ``'train_dataloader.batch_size=2'``.
    """
    parser.add_argument(
        '--cfg-options',
        nargs='+',
        action=DictAction,
        help=f'override config settings, e.g. {cfg_options_example}')
    parser.add_argument(
        '--launcher',
        choices=['none', 'pytorch', 'slurm', 'mpi'],
        default='none',
        help='job launcher')
    # torchrun sets LOCAL_RANK; older launchers pass --local-rank
    parser.add_argument('--local_rank', '--local-rank', type=int, default=0)


def add_pretraining_runner_args(parser: argparse.ArgumentParser) -> None:
    """Add ``--work-dir``, ``--resume`` and ``--cfg-options`` of the Runner
    that an encoder pretraining tool builds (``tools/pretrain_*.py``)."""
    parser.add_argument('--work-dir', default=None,
                        help='the Runner\'s logs, config and checkpoints '
                        '(default: work_dirs/<name of --out>)')
    parser.add_argument('--resume', action='store_true',
                        help='continue from the latest checkpoint in '
                        '--work-dir')
    parser.add_argument('--cfg-options', nargs='+', action=DictAction,
                        help='override settings of the Runner config, '
                        'key=value')


def parse_tool_args(parser: argparse.ArgumentParser) -> argparse.Namespace:
    """Parse the command line; export ``LOCAL_RANK`` if the launcher did
    not."""
    args = parser.parse_args()
    if 'LOCAL_RANK' not in os.environ:
        os.environ['LOCAL_RANK'] = str(args.local_rank)
    return args


def resolve_work_dir(cfg: Config, args: argparse.Namespace) -> None:
    """Set ``cfg.work_dir``: ``--work-dir``, else the config's own
    ``work_dir``, else ``./work_dirs/<config file name without .py>``."""
    if args.work_dir is not None:
        cfg.work_dir = args.work_dir
    elif cfg.get('work_dir', None) is None:
        cfg.work_dir = osp.join('./work_dirs',
                                osp.splitext(osp.basename(args.config))[0])


def load_tool_cfg(args: argparse.Namespace) -> Config:
    """Read ``args.config`` and apply ``--launcher``, ``--cfg-options`` and
    the work dir (:func:`resolve_work_dir`), in that order."""
    cfg = Config.fromfile(args.config)
    cfg.launcher = args.launcher
    if args.cfg_options is not None:
        cfg.merge_from_dict(args.cfg_options)
    resolve_work_dir(cfg, args)
    return cfg
