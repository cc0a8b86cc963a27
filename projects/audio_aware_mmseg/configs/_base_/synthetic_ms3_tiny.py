# Data, schedule and runtime shared by the audio-aware mmseg examples: the
# synthetic MS3 data set (64x64 frames, 16 kHz audio, 5 frames per clip) and a
# short AdamW schedule -- the repository's tiny smoke base, unchanged (see
# configs/_base_/synthetic_tiny.py). Generate the data first, e.g.
#   python tools/dataset_converters/make_synthetic_avs.py --preset ms3 \
#       --out data/synthetic/ms3 --size 64
_base_ = ['../../../../configs/_base_/synthetic_tiny.py']
