# VPO-MSMI: multi-source, multi-instance. One sample per image (rows merge,
# waveforms summed); rows with multi_instance == 0 belong to VPO-MS and are
# read from the VPO-MS folder; T = 1, centre 3 s of audio, 21 classes + bg.
# data_root layout: VPO-MSMI/vpo_msmi_data_stereo.csv, VPO-MSMI/data/,
# VPO-MSMI/mask/ (and VPO-MS/ for the multi_instance == 0 rows)
# and the VGGSound wavs in {data_root}/{vpo_audio_dir}/{vgg_file}.wav.
# VPO has no separate validation set: the CSV's `val` rows serve as both
# our val and test split (as in CAVP).
# Everything else (pipelines, loaders, JFMetric 'vpo') as in vpo_ss.py.
_base_ = ['./vpo_ss.py']

vpo_subset = 'msmi'
train_dataloader = dict(dataset=dict(subset=vpo_subset))
val_dataloader = dict(dataset=dict(subset=vpo_subset))
test_dataloader = dict(dataset=dict(subset=vpo_subset))
