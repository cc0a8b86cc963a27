"""Convert an original HTSAT checkpoint to HTSATAudioEncoder keys.

Reads the Lightning checkpoint of RetroCirce/HTS-Audio-Transformer (e.g.
``HTSAT_AudioSet_Saved_1.ckpt``; ``sed_model.*`` keys, fused ``attn.qkv``)
or a bare state dict of the same Swin, and writes the plain state dict that
``HTSATAudioEncoder`` loads (``frontend.bn0.*``, ``audio_encoder.*``). The
mapping is :func:`ddavs_mm.models.audio_encoders.convert_htsat_state_dict`;
the encoder applies the same function when a config names the ``.ckpt``
directly, so this conversion is optional.

Example::

    python tools/model_converters/htsat2ddavs.py \
        pretrained/HTSAT_AudioSet_Saved_1.ckpt pretrained/htsat_audioset.pth
"""
import argparse
import os
import os.path as osp

import torch

from ddavs_mm.models.audio_encoders import read_htsat_weights


def parse_args(argv=None):
    p = argparse.ArgumentParser(
        description='Convert an original HTSAT checkpoint to '
        'HTSATAudioEncoder keys.')
    p.add_argument('src', help='HTSAT Lightning .ckpt or state dict file')
    p.add_argument('dst', help='output .pth (a plain state dict)')
    return p.parse_args(argv)


def main(argv=None) -> None:
    args = parse_args(argv)
    if osp.isdir(args.src):
        raise SystemExit(f'{args.src} is a directory; convert a CLAP '
                         'directory with tools/model_converters/clap2ddavs.py')
    state, layout, dropped, _ = read_htsat_weights(args.src)
    if layout != 'htsat':
        raise SystemExit(f'{args.src} is in the {layout} layout, not the '
                         'original HTSAT one (fused attn.qkv)')
    os.makedirs(osp.dirname(osp.abspath(args.dst)), exist_ok=True)
    torch.save(state, args.dst)
    print(f'{args.src}: {len(state)} tensors written to {args.dst}')
    for key, why in dropped.items():
        print(f'  dropped {key} ({why})')


if __name__ == '__main__':
    main()
