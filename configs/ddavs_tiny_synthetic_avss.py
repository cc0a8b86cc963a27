# Tiny DDAVS on the synthetic AVSS data set (CPU smoke training): tiny MiT,
# narrow 2-stage HTSAT at 16 kHz, 1-layer Q-Former (width 64), 64x64 frames,
# 11 classes incl. background (the synthetic set's 10 sound classes).
# Generate the data first:
#   python tools/dataset_converters/make_synthetic_avs.py --preset avss \
#       --out data/synthetic/avss --size 64
# Loader settings, audio rate (wav_sample_rate), 2-epoch schedule and runtime
# come from ./_base_/synthetic_tiny.py; the data set, semantic masks and the
# 'avss' metric are set here.
_base_ = ['./_base_/models/ddavs_tiny.py', './_base_/synthetic_tiny.py']

dataset_type = 'AVSBenchSemanticDataset'
data_root = 'data/synthetic/avss'
avss_labels = ('v1s', 'v1m', 'v2')  # subsets used
# the synthetic set's label2idx.json: background + its 10 sound classes
# (the real AVSBench-semantic has 71: configs/ddavs_mitb5_htsat_avss.py)
num_classes = 11

model = dict(
    mask_mode='semantic',
    num_classes=num_classes,
    decode_head=dict(mask_decoder=dict(num_classes=num_classes)))

train_pipeline = [
    dict(type='LoadClipFrames'),
    dict(type='LoadClipMasks', mask_mode='semantic'),
    dict(type='LoadAudio', sample_rate=_base_.wav_sample_rate),
    dict(type='ClipResize', scale=_base_.crop_size),
    dict(type='ClipRandomFlip', prob=0.5),
    dict(type='WaveformAugment'),
    dict(type='PackAVSInputs'),
]
test_pipeline = [
    dict(type='LoadClipFrames'),
    dict(type='LoadAudio', sample_rate=_base_.wav_sample_rate),
    dict(type='ClipResize', scale=_base_.crop_size),
    dict(type='LoadClipMasks', mask_mode='semantic'),
    dict(type='PackAVSInputs'),
]
# flip test-time augmentation (tools/test.py --tta, with tta_model)
tta_pipeline = [
    dict(type='LoadClipFrames'),
    dict(type='LoadAudio', sample_rate=_base_.wav_sample_rate),
    dict(
        type='TestTimeAug',
        transforms=[
            [dict(type='ClipResize', scale=_base_.crop_size)],
            [dict(type='ClipRandomFlip', prob=0.),
             dict(type='ClipRandomFlip', prob=1.)],
            [dict(type='LoadClipMasks', mask_mode='semantic')],
            [dict(type='PackAVSInputs')],
        ])
]
train_dataloader = dict(
    dataset=dict(
        type=dataset_type, data_root=data_root, mask_mode='semantic',
        labels=avss_labels, pipeline=train_pipeline))
val_dataloader = dict(
    dataset=dict(
        type=dataset_type, data_root=data_root, mask_mode='semantic',
        labels=avss_labels, pipeline=test_pipeline))
test_dataloader = val_dataloader
val_evaluator = dict(type='JFMetric', mode='avss')
test_evaluator = val_evaluator
