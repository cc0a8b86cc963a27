"""Run the paper's ablations on a smaller base config, several seeds each.

Each ablation config under ``configs/ablations/`` changes a few ``model``
values of the paper config it inherits (``--reference``). This tool reads
that change, applies the same change to ``BASE`` (e.g. the tiny synthetic
config), shortens the schedule to ``--epochs`` when asked (the same for every
row), and trains, tests and, on the synthetic set, measures role coverage
for every (ablation, seed). Finished runs are kept and skipped when the
sweep is started again. The table of test J / F (mean, sample standard
deviation and the values of each seed) is printed and written to
``WORK_DIR/results.md`` and ``results.json``.

Example (the reduced CPU protocol of docs/ablations.md)::

    python tools/analysis/ablation_sweep.py \\
        configs/ddavs_tiny_synthetic_ms3.py configs/ablations/table3_*.py \\
        --seeds 0 1 2 --epochs 6 --roles --work-dir work_dirs/sweeps/table3 \\
        --cfg-options model.contrastive_head.negatives=slots
"""
import argparse
import copy
import json
import os
import os.path as osp
import statistics
import subprocess
import sys
from typing import Dict, List, Optional

from mmengine.config import Config, ConfigDict, DictAction

ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
DEFAULT_REFERENCE = osp.join(ROOT, 'configs', 'ddavs_mitb5_htsat_ms3.py')
_MISSING = object()


def model_delta(changed: dict, reference: dict) -> dict:
    """The part of ``changed`` that differs from ``reference``.

    Args:
        changed (dict): a config dict (e.g. an ablation's ``model``).
        reference (dict): the dict it was derived from.

    Returns:
        dict: nested overrides that turn ``reference`` into ``changed``
        with mmengine's merge rules. A sub-dict that lost keys is given
        whole with ``_delete_=True``.

    Examples:
        >>> model_delta(dict(a=1, b=dict(c=2, d=3)),
        ...             dict(a=1, b=dict(c=0, d=3)))
        {'b': {'c': 2}}
        >>> model_delta(dict(q=None), dict(q=dict(n=5)))
        {'q': None}
    """
    delta = {}
    for key, value in changed.items():
        ref = reference.get(key, _MISSING)
        if isinstance(value, dict) and isinstance(ref, dict):
            if set(ref) - set(value):
                delta[key] = dict(_delete_=True, **_plain(value))
            else:
                sub = model_delta(value, ref)
                if sub:
                    delta[key] = sub
        elif ref is _MISSING or _plain(value) != _plain(ref):
            delta[key] = _plain(value)
    return delta


def _plain(value):
    """ConfigDicts and tuples/lists of them as plain Python values."""
    if isinstance(value, (dict, ConfigDict)):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return type(value)(_plain(v) for v in value)
    return value


def ablation_overrides(ablation: str, reference: str) -> dict:
    """``model`` overrides of ``ablation`` relative to ``reference``.

    Raises:
        ValueError: the ablation changes more than ``model`` (its pipeline,
            schedule or data), which a smaller base config cannot take over.
    """
    abl, ref = Config.fromfile(ablation), Config.fromfile(reference)
    others = sorted(k for k in set(abl) | set(ref)
                    if k != 'model' and _plain(abl.get(k, _MISSING))
                    != _plain(ref.get(k, _MISSING)))
    if others:
        raise ValueError(f'{ablation}: changes {others} besides `model` '
                         f'relative to {reference}; only model changes can '
                         'be carried over to another base config')
    return model_delta(_plain(abl.model), _plain(ref.model))


def shorten_schedule(cfg: Config, epochs: int) -> None:
    """Train for ``epochs`` epochs with the same schedule shape.

    Every parameter scheduler that ended at the old ``max_epochs`` ends at
    ``epochs``; cosine ``T_max`` becomes ``end - begin``; warm-ups keep
    their length. Validation and the checkpoint happen at the end.

    Raises:
        ValueError: a scheduler without ``end`` or one that would end
            before it begins.
    """
    old = cfg.train_cfg.max_epochs
    for sched in cfg.param_scheduler:
        if 'end' not in sched:
            raise ValueError(f'cannot shorten scheduler {sched}: no `end`')
        if sched['end'] == old:
            sched['end'] = epochs
        if sched.get('begin', 0) >= sched['end']:
            raise ValueError(f'--epochs {epochs} is shorter than the '
                             f'warm-up of {sched}')
        if 'T_max' in sched:
            sched['T_max'] = sched['end'] - sched.get('begin', 0)
    cfg.train_cfg.max_epochs = epochs
    cfg.train_cfg.val_interval = epochs
    cfg.default_hooks.checkpoint.interval = epochs


def build_run_config(base: str, ablation: Optional[str], reference: str,
                     seed: int, epochs: Optional[int],
                     base_options: Optional[dict] = None) -> Config:
    """``base`` (with ``base_options`` merged, e.g. from ``--cfg-options``)
    with the ablation's model change, seed and schedule."""
    cfg = Config.fromfile(base)
    if base_options:
        cfg.merge_from_dict(base_options)
    if ablation is not None:
        cfg.merge_from_dict(
            dict(model=ablation_overrides(ablation, reference)))
    if epochs is not None:
        shorten_schedule(cfg, epochs)
    cfg.randomness = dict(seed=seed, deterministic=False)
    return cfg


def run_one(config_file: str, work_dir: str, roles: bool) -> dict:
    """Train (a subprocess), test, and optionally measure role coverage."""
    subprocess.run([sys.executable, osp.join(ROOT, 'tools', 'train.py'),
                    config_file, '--work-dir', work_dir], check=True,
                   cwd=ROOT)
    with open(osp.join(work_dir, 'last_checkpoint')) as f:
        ckpt = f.read().strip()
    from ddavs_mm.engine import StrictLoadRunner
    cfg = Config.fromfile(config_file)
    cfg.work_dir = osp.join(work_dir, 'test')
    cfg.load_from = ckpt
    metrics = StrictLoadRunner.from_cfg(cfg).test()
    result = dict(checkpoint=ckpt,
                  metrics={k: float(v) for k, v in metrics.items()})
    if roles:
        proc = subprocess.run(
            [sys.executable, osp.join(ROOT, 'tools', 'analysis',
                                      'synthetic_role_coverage.py'),
             config_file, ckpt],
            check=True, cwd=ROOT, capture_output=True, text=True)
        result['roles'] = {k: v['mean'] for k, v in json.loads(
            proc.stdout.strip().splitlines()[-1]).items()}
    return result


def summarize(results: Dict[str, Dict[int, dict]]) -> str:
    """Markdown table: per row, J and F mean ± sd over seeds, per-seed J and
    the mean role coverage where it was measured."""
    roles = ('sounding', 'silent_source', 'lookalike', 'distractor')
    with_roles = all('roles' in r for by_seed in results.values()
                     for r in by_seed.values())
    head = '| row | seeds | test J | test F | J per seed |'
    if with_roles:
        head += ' roles: ' + ' / '.join(roles) + ' |'
    lines = [head, '|' + '---|' * (head.count('|') - 1)]

    def fmt(v: List[float]) -> str:
        sd = statistics.stdev(v) if len(v) > 1 else 0.0
        return f'{statistics.mean(v):.3f} ± {sd:.3f}'

    for row, by_seed in results.items():
        runs = list(by_seed.values())
        js = [r['metrics']['J'] / 100 for r in runs]
        fs = [r['metrics']['F'] / 100 for r in runs]
        line = (f'| {row} | {len(js)} | {fmt(js)} | {fmt(fs)} | '
                + ' / '.join(f'{j:.3f}' for j in js) + ' |')
        if with_roles:
            line += ' ' + ' / '.join(
                f'{statistics.mean(r["roles"][k] for r in runs):.3f}'
                for k in roles) + ' |'
        lines.append(line)
    return '\n'.join(lines)


def main(argv=None) -> dict:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument('base', help='config the ablations are applied to')
    p.add_argument('ablations', nargs='+',
                   help='ablation configs; "base" = BASE unchanged')
    p.add_argument('--reference', default=DEFAULT_REFERENCE,
                   help='config the ablations inherit from')
    p.add_argument('--seeds', type=int, nargs='+', default=[0, 1, 2])
    p.add_argument('--epochs', type=int,
                   help='shorten the schedule to this many epochs')
    p.add_argument('--work-dir', required=True)
    p.add_argument('--cfg-options', nargs='+', action=DictAction,
                   help='changes to BASE before any ablation is applied')
    p.add_argument('--roles', action='store_true',
                   help='also measure role coverage (synthetic data only)')
    a = p.parse_args(argv)
    from ddavs_mm.utils import register_all_modules
    register_all_modules(init_default_scope=False)
    results: Dict[str, Dict[int, dict]] = {}
    for ablation in a.ablations:
        row = 'base' if ablation == 'base' else \
            osp.splitext(osp.basename(ablation))[0]
        results[row] = {}
        for seed in a.seeds:
            run_dir = osp.abspath(osp.join(a.work_dir, row, f'seed{seed}'))
            done = osp.join(run_dir, 'result.json')
            if not osp.isfile(done):
                os.makedirs(run_dir, exist_ok=True)
                cfg = build_run_config(
                    a.base, None if ablation == 'base' else ablation,
                    a.reference, seed, a.epochs, a.cfg_options)
                cfg_file = osp.join(run_dir, 'config.py')
                cfg.dump(cfg_file)
                print(f'=== {row} seed {seed}: {cfg_file}', flush=True)
                result = run_one(cfg_file, run_dir, a.roles)
                with open(done, 'w') as f:
                    json.dump(result, f, indent=1)
            with open(done) as f:
                results[row][seed] = json.load(f)
    table = summarize(results)
    print(table)
    with open(osp.join(a.work_dir, 'results.md'), 'w') as f:
        f.write(table + '\n')
    with open(osp.join(a.work_dir, 'results.json'), 'w') as f:
        json.dump(copy.deepcopy(results), f, indent=1)
    return results


if __name__ == '__main__':
    main()
