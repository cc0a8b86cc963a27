"""The main job: DDAVS end to end on the built-in synthetic data set, on CPU.

Steps (each a project tool, run as a user would run it):

1. generate the synthetic MS3 data set (AVSBench MS3 layout);
2. pretrain the tiny HTSAT to tag the sounds, (class, size bin), audible
   in every second of the training clips (the synthetic stand-in for
   AudioSet tagging) and freeze it;
3. pretrain the tiny MiT to segment the objects, (class, size bin), of the
   training frames (the synthetic stand-in for ImageNet weights);
4. build the prototype bank with the audio encoder (K-means++ per class);
5. train the tiny DDAVS config (``configs/ddavs_tiny_synthetic_ms3.py``);
6. evaluate it with JFMetric on the test split three times: clean audio,
   audio silenced, audio shuffled between clips (does the model listen?);
7. write ``results.md`` / ``results.json`` and overlay pictures.

Usage::

    python tools/main_job.py [--work-dir work_dirs/main_job] [--fresh]
"""
import argparse
import copy
import json
import os
import os.path as osp
import subprocess
import sys
import time

ROOT = osp.dirname(osp.dirname(osp.abspath(__file__)))
CONFIG = 'configs/ddavs_tiny_synthetic_ms3.py'
DATA_ROOT = 'data/synthetic/ms3'
ENCODER_CKPT = 'data/synthetic/pretrained/tiny_htsat_ms3.pth'
VISUAL_CKPT = 'data/synthetic/pretrained/tiny_mit_ms3.pth'
BANK = 'data/banks/synthetic_ms3_tiny_k5.pt'
DATA_ARGS = ['--preset', 'ms3', '--seed', '0', '--num-train', '400',
             '--num-val', '40', '--num-test', '100', '--size', '128',
             '--workers', '2']


def has_pretrained_head(path: str) -> bool:
    """Whether ``path`` is a visual pretraining file the config can load:
    it exists and holds the mask decoder's ``head.*`` keys (files written
    before the decoder was pretrained hold the backbone only)."""
    import torch
    if not osp.isfile(path):
        return False
    state = torch.load(path, map_location='cpu', weights_only=True)
    if any(k.startswith('head.') for k in state.get('state_dict', {})):
        return True
    print(f'{path} holds no mask decoder (head.*) weights: pretraining '
          'again', flush=True)
    return False


def run(cmd: list, log: dict, name: str) -> None:
    """Run one tool, echo its command, time it, fail loudly."""
    print(f'\n=== {name}: {" ".join(cmd)}', flush=True)
    start = time.time()
    subprocess.run([sys.executable] + cmd, cwd=ROOT, check=True)
    log[name] = round(time.time() - start, 1)


def evaluate(checkpoint: str, work_dir: str, show_dir: str) -> dict:
    """JFMetric on the test split: clean, silenced and shuffled audio."""
    from mmengine.config import Config

    from ddavs_mm.engine import StrictLoadRunner
    from ddavs_mm.utils import register_all_modules
    register_all_modules(init_default_scope=False)
    results = {}
    for mode in ('clean', 'silence', 'shuffle'):
        cfg = Config.fromfile(osp.join(ROOT, CONFIG))
        cfg.work_dir = osp.join(work_dir, f'test_{mode}')
        cfg.load_from = checkpoint
        if mode != 'clean':
            cfg.test_dataloader.dataset = dict(
                type='AudioInterventionDataset', mode=mode, seed=0,
                dataset=copy.deepcopy(cfg.test_dataloader.dataset))
        else:
            cfg.default_hooks.visualization.update(
                draw=True, interval=25, test_out_dir=show_dir)
        metrics = StrictLoadRunner.from_cfg(cfg).test()
        results[mode] = {k: float(v) for k, v in metrics.items()}
    return results


def write_report(results: dict, timings: dict, work_dir: str) -> str:
    rows = [('clean audio', 'clean'), ('audio silenced', 'silence'),
            ('audio shuffled between clips', 'shuffle')]
    lines = [
        '| evaluation (synthetic MS3 test, 100 clips) | J | F | J&F |',
        '|---|---|---|---|',
    ]
    for label, key in rows:
        m = results[key]
        lines.append(f'| {label} | {m["J"] / 100:.3f} | {m["F"] / 100:.3f} '
                     f'| {m["J&F"] / 100:.3f} |')
    lines += ['', '| step | seconds |', '|---|---|']
    lines += [f'| {k} | {v} |' for k, v in timings.items()]
    table = '\n'.join(lines)
    with open(osp.join(work_dir, 'results.md'), 'w') as f:
        f.write(table + '\n')
    with open(osp.join(work_dir, 'results.json'), 'w') as f:
        json.dump(dict(metrics=results, seconds=timings), f, indent=1)
    return table


def main(argv=None) -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument('--work-dir', default='work_dirs/main_job')
    p.add_argument('--fresh', action='store_true',
                   help='regenerate data, encoder and bank even if present')
    a = p.parse_args(argv)
    work_dir = osp.join(ROOT, a.work_dir)
    os.makedirs(work_dir, exist_ok=True)
    timings = {}
    total = time.time()
    info = osp.join(ROOT, DATA_ROOT, 'synthetic_info.json')
    if a.fresh or not osp.isfile(info):
        run(['tools/dataset_converters/make_synthetic_avs.py', '--out',
             DATA_ROOT, '--overwrite', '--oracle'] + DATA_ARGS, timings,
            'generate data')
    if a.fresh or not osp.isfile(osp.join(ROOT, ENCODER_CKPT)):
        run(['tools/pretrain_audio_encoder.py', CONFIG, '--source',
             'synthetic', '--data-root', DATA_ROOT, '--out', ENCODER_CKPT,
             '--epochs', '30', '--by-size-bin', '--mixtures'], timings,
            'pretrain audio encoder')
    if a.fresh or not has_pretrained_head(osp.join(ROOT, VISUAL_CKPT)):
        run(['tools/pretrain_visual_encoder.py', CONFIG, '--data-root',
             DATA_ROOT, '--out', VISUAL_CKPT, '--epochs', '6'],
            timings, 'pretrain visual encoder')
    if a.fresh or not osp.isfile(osp.join(ROOT, BANK)):
        run(['tools/build_prototype_bank.py', CONFIG, '--source', 'synthetic',
             '--data-root', DATA_ROOT, '--split', 'train', '--checkpoint',
             ENCODER_CKPT, '--out', BANK], timings, 'build bank')
    train_dir = osp.join(work_dir, 'train')
    run(['tools/train.py', CONFIG, '--work-dir', train_dir], timings, 'train')
    with open(osp.join(train_dir, 'last_checkpoint')) as f:
        checkpoint = f.read().strip()
    start = time.time()
    results = evaluate(checkpoint, work_dir, osp.join(work_dir, 'overlays'))
    timings['evaluate x3'] = round(time.time() - start, 1)
    timings['total'] = round(time.time() - total, 1)
    table = write_report(results, timings, work_dir)
    print('\n' + table)
    print(f'\nresults: {osp.join(work_dir, "results.md")}; overlays: '
          f'{osp.join(work_dir, "overlays")}')


if __name__ == '__main__':
    main()
