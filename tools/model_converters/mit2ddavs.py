"""Convert MiT (SegFormer encoder) weights to mmseg keys.

Reads NVIDIA's original SegFormer ImageNet file (``mit_b5.pth``), a
transformers directory of ``nvidia/mit-b5`` (``config.json`` +
``model.safetensors`` or ``pytorch_model.bin``) or an mmseg-keyed file, and
writes the state dict that mmseg's ``MixVisionTransformer`` loads. The key
mapping is :mod:`ddavs_mm.models.backbones.mit_checkpoint`; the config's
backbone (``FreezableMixVisionTransformer``) also reads the three layouts
directly, so this conversion is optional.

Example::

    python tools/model_converters/mit2ddavs.py pretrained/mit-b5 \
        pretrained/mit_b5.pth
"""
import argparse
import os
import os.path as osp

import torch

from ddavs_mm.models.backbones.mit_checkpoint import (convert_mit_state_dict,
                                                      read_mit_checkpoint)


def parse_args(argv=None):
    p = argparse.ArgumentParser(
        description='Convert MiT weights (NVIDIA, transformers or mmseg '
        'layout) to mmseg MixVisionTransformer keys.')
    p.add_argument('src', help='NVIDIA .pth, transformers directory, or '
                   'mmseg-keyed file')
    p.add_argument('dst', help='output .pth (a plain state dict)')
    return p.parse_args(argv)


def main(argv=None) -> None:
    args = parse_args(argv)
    state, _ = read_mit_checkpoint(args.src)
    converted, layout, dropped = convert_mit_state_dict(state)
    os.makedirs(osp.dirname(osp.abspath(args.dst)), exist_ok=True)
    torch.save(converted, args.dst)
    print(f'{args.src}: {layout} layout, {len(converted)} tensors written '
          f'to {args.dst}')
    for key, why in dropped.items():
        print(f'  dropped {key} ({why})')


if __name__ == '__main__':
    main()
