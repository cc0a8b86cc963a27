"""Generate the built-in synthetic AVS data set in an AVSBench layout.

Example::

    python tools/dataset_converters/make_synthetic_avs.py --preset ms3 \
        --out data/synthetic_ms3 --seed 0 --workers 2

See docs/synthetic_data.md.
"""
import argparse
import json

from ddavs_mm.datasets.synthetic import generate_synthetic_avs, oracle_scores
from ddavs_mm.utils.tool_errors import add_debug_arg, run_tool


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument('--preset', choices=('s4', 'ms3', 'avss'), required=True)
    p.add_argument('--out', required=True, help='output data root')
    p.add_argument('--seed', type=int, default=0)
    p.add_argument('--num-train', type=int, default=400)
    p.add_argument('--num-val', type=int, default=50)
    p.add_argument('--num-test', type=int, default=100)
    p.add_argument('--size', type=int, default=224, help='frame side (px)')
    p.add_argument('--frames', type=int, default=5,
                   help='frames (seconds) per clip; AVSS v2 clips get twice')
    p.add_argument('--sample-rate', type=int, default=16000)
    p.add_argument('--workers', type=int, default=1)
    p.add_argument('--overwrite', action='store_true',
                   help='replace an earlier synthetic data set in --out')
    p.add_argument('--oracle', action='store_true',
                   help='print the visual-only oracle J of the test split')
    add_debug_arg(p)
    return p.parse_args(argv)


def main(argv=None):
    a = parse_args(argv)
    res = generate_synthetic_avs(
        a.out, a.preset, seed=a.seed, num_train=a.num_train,
        num_val=a.num_val, num_test=a.num_test, size=a.size, frames=a.frames,
        sample_rate=a.sample_rate, workers=a.workers, overwrite=a.overwrite)
    if a.oracle and a.num_test:
        res['oracle_test'] = oracle_scores(a.out, 'test')
    print(json.dumps(res, indent=1))


if __name__ == '__main__':
    run_tool(main)
