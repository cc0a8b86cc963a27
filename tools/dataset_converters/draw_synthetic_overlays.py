"""Draw overlays of a generated synthetic AVS data set.

Sounding objects: green fill + outline; silent objects: red dashed outline.

Example::

    python tools/dataset_converters/draw_synthetic_overlays.py \
        data/synthetic_ms3 docs/images --split test --indices 0 1 2
"""
import argparse

from ddavs_mm.datasets.synthetic import write_overlays


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument('root', help='generated data root')
    p.add_argument('out_dir')
    p.add_argument('--split', default='test')
    p.add_argument('--indices', type=int, nargs='*', default=None)
    p.add_argument('--num', type=int, default=3)
    p.add_argument('--prefix', default='synthetic')
    p.add_argument('--scale', type=int, default=2)
    a = p.parse_args(argv)
    for path in write_overlays(a.root, a.out_dir, a.split, a.indices, a.num,
                               a.prefix, a.scale):
        print(path)


if __name__ == '__main__':
    main()
