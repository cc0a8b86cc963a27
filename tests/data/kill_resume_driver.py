"""Fault injection for tests/test_atomic_checkpoints.py: SIGKILL
``tools/train.py --resume`` at random instants, resume, repeat.

Usage::

    python tests/data/kill_resume_driver.py CONFIG OUT_DIR --kills 16 \
        --seed 0 > report.json

Imports torch, DDAVS-MM and the tool once, then forks one child per
attempt (a fresh interpreter per attempt would spend seconds on imports).
Each child runs ``tools/train.py CONFIG --work-dir OUT_DIR/round_<k>
--resume`` and is killed with SIGKILL

* ``timed``: by this process, after a random delay, or
* ``in_save`` (every other attempt, each step in turn): by itself, just
  before or after its n-th (random, 1 or 2) call of one of the steps of a
  checkpoint save, in the work dir: ``torch.save`` (serialising
  the checkpoint), ``os.fsync``, ``os.replace`` (the rename into place, of
  a checkpoint or of ``last_checkpoint``) or ``os.remove`` (retiring an old
  checkpoint).

After every kill the work dir is checked: every ``*.pth`` file loads with
``weights_only=True``, ``last_checkpoint`` (once written) names an existing
loadable file. When a child trains to the end (its kill came too late), the
round's final checkpoint is compared with that of an uninterrupted run in
``OUT_DIR/straight`` and the next round starts from scratch in a new work
dir; the last round ends with an unhindered child. Prints one JSON report
on stdout (the children's own output goes to ``OUT_DIR/logs``).
"""
import argparse
import importlib.util
import json
import os
import os.path as osp
import random
import signal
import sys
import time
import traceback

ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
STEPS = ('torch.save', 'fsync', 'replace', 'remove')


def load_train_tool():
    spec = importlib.util.spec_from_file_location(
        'ddavs_train_tool', osp.join(ROOT, 'tools', 'train.py'))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def arm_in_save_kill(work_dir: str, step: str, nth: int, when: str) -> None:
    """Make this process SIGKILL itself around the nth call of ``step``."""
    import torch
    owner, name = (torch, 'save') if step == 'torch.save' else (os, step)
    original = getattr(owner, name)
    calls = [0]

    def in_work_dir(args) -> bool:
        if step in ('fsync', 'torch.save'):
            return True  # fd / in-memory buffer: only saves call them
        return str(args[0]).startswith(work_dir)

    def wrapper(*args, **kwargs):
        counted = in_work_dir(args)
        if counted:
            calls[0] += 1
        hit = counted and calls[0] == nth
        if hit and when == 'before':
            os.kill(os.getpid(), signal.SIGKILL)
        result = original(*args, **kwargs)
        if hit and when == 'after':
            os.kill(os.getpid(), signal.SIGKILL)
        return result

    setattr(owner, name, wrapper)


def run_child(tool, config: str, work_dir: str, log: str, plan: dict,
              kill_after: float = None) -> str:
    """Fork a training child; returns 'killed', 'done' or 'failed'."""
    pid = os.fork()
    if pid == 0:
        fd = os.open(log, os.O_WRONLY | os.O_CREAT | os.O_TRUNC)
        os.dup2(fd, 1)
        os.dup2(fd, 2)
        code = 0
        try:
            if plan.get('kind') == 'in_save':
                arm_in_save_kill(work_dir, plan['step'], plan['nth'],
                                 plan['when'])
            sys.argv = ['train.py', config, '--work-dir', work_dir,
                        '--resume']
            tool.main()
        except BaseException:  # noqa: BLE001 (reported through the status)
            traceback.print_exc()
            code = 1
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(code)
    start = time.monotonic()
    while kill_after is not None:
        done, status = os.waitpid(pid, os.WNOHANG)
        if done:
            break
        if time.monotonic() - start >= kill_after:
            os.kill(pid, signal.SIGKILL)
            kill_after = None
        time.sleep(0.005)
    else:
        _, status = os.waitpid(pid, 0)
    if os.WIFSIGNALED(status) and os.WTERMSIG(status) == signal.SIGKILL:
        return 'killed'
    return 'done' if os.WIFEXITED(status) and os.WEXITSTATUS(status) == 0 \
        else 'failed'


def check_work_dir(work_dir: str) -> dict:
    """Every checkpoint complete, last_checkpoint pointing at one."""
    import torch
    bad, names = [], sorted(os.listdir(work_dir)) \
        if osp.isdir(work_dir) else []
    checkpoints = [n for n in names if n.endswith('.pth')]
    for name in checkpoints:
        try:
            torch.load(osp.join(work_dir, name), map_location='cpu',
                       weights_only=True)
        except Exception as e:  # noqa: BLE001
            bad.append(f'{name}: {type(e).__name__}')
    pointer = osp.join(work_dir, 'last_checkpoint')
    target = None
    if osp.exists(pointer):
        with open(pointer) as f:
            target = f.read().strip()
        if not osp.isfile(target):
            bad.append(f'last_checkpoint names missing {target}')
    return dict(checkpoints=checkpoints, last_checkpoint=target, bad=bad,
                temporaries=[n for n in names if '.tmp-' in n])


def compare(a_path: str, b_path: str) -> list:
    """Names of the parts of two checkpoints that differ."""
    import torch

    def flat(obj, prefix=''):
        if isinstance(obj, dict):
            for k, v in obj.items():
                yield from flat(v, f'{prefix}{k}.')
        elif isinstance(obj, (list, tuple)):
            for i, v in enumerate(obj):
                yield from flat(v, f'{prefix}{i}.')
        else:
            yield prefix[:-1], obj

    a = torch.load(a_path, map_location='cpu', weights_only=True)
    b = torch.load(b_path, map_location='cpu', weights_only=True)
    diffs = []
    for part in ('state_dict', 'ema_state_dict', 'optimizer',
                 'param_schedulers'):
        fa, fb = dict(flat(a[part])), dict(flat(b[part]))
        if fa.keys() != fb.keys():
            diffs.append(f'{part}: keys differ')
            continue
        for key, va in fa.items():
            vb = fb[key]
            same = torch.equal(va, vb) if isinstance(va, torch.Tensor) \
                else va == vb
            if not same:
                diffs.append(f'{part}.{key}')
    for key in ('epoch', 'iter'):
        if a['meta'][key] != b['meta'][key]:
            diffs.append(f'meta.{key}')
    loss_a = a['message_hub']['log_scalars']['train/loss']
    loss_b = b['message_hub']['log_scalars']['train/loss']
    if loss_a.current() != loss_b.current():
        diffs.append('last logged train/loss')
    return diffs


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('config')
    parser.add_argument('out_dir')
    parser.add_argument('--kills', type=int, default=16)
    parser.add_argument('--seed', type=int, default=0)
    args = parser.parse_args()

    import matplotlib.pyplot  # noqa: F401  (imported once, not per child)
    import torch
    torch.set_num_threads(1)  # no thread pool before fork()
    sys.path.insert(0, osp.dirname(osp.abspath(args.config)))
    sys.path.insert(0, osp.dirname(osp.abspath(__file__)))
    from ddavs_mm.utils import register_all_modules
    register_all_modules(init_default_scope=False)
    tool = load_train_tool()
    rng = random.Random(args.seed)
    logs = osp.join(args.out_dir, 'logs')
    os.makedirs(logs, exist_ok=True)

    straight = osp.join(args.out_dir, 'straight')
    start = time.monotonic()
    status = run_child(tool, args.config, straight,
                       osp.join(logs, 'straight.log'), {})
    duration = time.monotonic() - start
    report = dict(straight=status, straight_seconds=round(duration, 2),
                  attempts=[])

    reference = check_work_dir(straight)['last_checkpoint']
    rounds, killed = [], None
    in_save = [(step, when) for step in STEPS
               for when in ('before', 'after')]
    rng.shuffle(in_save)

    def finish_round():
        last = check_work_dir(killed)['last_checkpoint']
        rounds[-1]['differences'] = compare(reference, last) \
            if last and reference else ['no final checkpoint']

    for attempt in range(args.kills):
        if killed is None:  # a new round: train from scratch with kills
            killed = osp.join(args.out_dir, f'round_{len(rounds)}')
            rounds.append(dict(work_dir=killed, attempts=[]))
        if attempt % 2 == 0:  # every step of a save, before and after
            step, when = in_save[(attempt // 2) % len(in_save)]
            plan = dict(kind='in_save', step=step, when=when,
                        nth=rng.randint(1, 2))
            delay = None
        else:
            plan = dict(kind='timed')
            delay = round(rng.uniform(0.05, 0.9) * duration, 3)
            plan['delay'] = delay
        plan['status'] = run_child(
            tool, args.config, killed,
            osp.join(logs, f'attempt_{attempt}.log'), plan, delay)
        plan.update(check_work_dir(killed))
        rounds[-1]['attempts'].append(plan)
        if plan['status'] != 'killed':  # trained to the end: compare
            finish_round()
            killed = None
    if killed is not None:  # the last round: run to the end unhindered
        status = run_child(tool, args.config, killed,
                           osp.join(logs, 'final.log'), {})
        rounds[-1]['attempts'].append(dict(kind='none', status=status,
                                           **check_work_dir(killed)))
        finish_round()
    report['rounds'] = rounds
    report['seconds'] = round(time.monotonic() - start, 2)
    print(json.dumps(report, indent=1))


if __name__ == '__main__':
    main()
