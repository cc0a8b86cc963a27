"""Convert the audio tower of a transformers CLAP save to HTSATAudioEncoder
keys.

Reads a ``ClapModel`` or ``ClapAudioModel`` directory (e.g. a download of
``laion/clap-htsat-unfused``) with ``ClapAudioModel.from_pretrained(path,
local_files_only=True)`` and writes the plain state dict that
``HTSATAudioEncoder`` loads; the text tower and the projections are left
out. CLAP's front end differs from HTSAT's (48 kHz, hop 480): the settings
of its ``preprocessor_config.json`` are printed for the config's
``model.audio_encoder.frontend`` (and the data pipeline's sample rate).

Example::

    python tools/model_converters/clap2ddavs.py pretrained/clap-htsat-unfused \
        pretrained/clap_htsat_unfused_audio.pth
"""
import argparse
import os
import os.path as osp

import torch

from ddavs_mm.models.audio_encoders import (clap_frontend_cfg,
                                            read_htsat_weights)


def parse_args(argv=None):
    p = argparse.ArgumentParser(
        description='Convert a transformers CLAP directory to '
        'HTSATAudioEncoder keys.')
    p.add_argument('src', help='ClapModel / ClapAudioModel directory')
    p.add_argument('dst', help='output .pth (a plain state dict)')
    return p.parse_args(argv)


def main(argv=None) -> None:
    args = parse_args(argv)
    if not osp.isdir(args.src):
        raise SystemExit(f'{args.src} is not a directory; convert an '
                         'original HTSAT checkpoint with '
                         'tools/model_converters/htsat2ddavs.py')
    state, _, dropped, config = read_htsat_weights(args.src)
    os.makedirs(osp.dirname(osp.abspath(args.dst)), exist_ok=True)
    torch.save(state, args.dst)
    print(f'{args.src}: {len(state)} tensors written to {args.dst}')
    print(f'  dropped {len(dropped)} key(s): '
          f'{", ".join(sorted(set(dropped.values()))) or "none"}')
    arch = {k: getattr(config, k) for k in (
        'spec_size', 'num_mel_bins', 'patch_embeds_hidden_size', 'depths',
        'num_attention_heads', 'window_size', 'hidden_size')}
    print(f'  encoder architecture (config.json): {arch}')
    if osp.isfile(osp.join(args.src, 'preprocessor_config.json')):
        print(f'  front end: frontend={clap_frontend_cfg(args.src)}')


if __name__ == '__main__':
    main()
