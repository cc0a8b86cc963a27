# VPO-MS: multi-source. One sample per image: the CSV rows of an image merge,
# their VGGSound waveforms are summed and their masks combined; T = 1 frame,
# the centre 3 s of audio, 21 classes + background.
# data_root layout: VPO-MS/vpo_ms_data_stereo.csv, VPO-MS/data/, VPO-MS/mask/
# and the VGGSound wavs in {data_root}/{vpo_audio_dir}/{vgg_file}.wav.
# VPO has no separate validation set: the CSV's `val` rows serve as both
# our val and test split (as in CAVP).
# Everything else (pipelines, loaders, JFMetric 'vpo') as in vpo_ss.py.
_base_ = ['./vpo_ss.py']

vpo_subset = 'ms'
train_dataloader = dict(dataset=dict(subset=vpo_subset))
val_dataloader = dict(dataset=dict(subset=vpo_subset))
test_dataloader = dict(dataset=dict(subset=vpo_subset))
