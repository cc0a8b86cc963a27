# Tiny DDAVS on the synthetic AVSS data set (CPU smoke training): tiny MiT,
# narrow 2-stage HTSAT at 16 kHz, 1-layer Q-Former (width 64), 64x64 frames.
# Generate the data first (ddavs_mm.datasets.synthetic) under data_root.
_base_ = [
    './_base_/models/ddavs_tiny.py', './_base_/datasets/avsbench_semantic.py',
    './_base_/schedules/schedule_ddavs.py', './_base_/default_runtime.py'
]

data_root = 'data/synthetic/avss'
crop_size = (64, 64)
audio_sample_rate = 16000  # must match model.audio_encoder.frontend
num_classes = 71

model = dict(
    mask_mode='semantic',
    num_classes=num_classes,
    decode_head=dict(mask_decoder=dict(num_classes=num_classes)))

train_pipeline = [
    dict(type='LoadClipFrames'),
    dict(type='LoadClipMasks', mask_mode='semantic'),
    dict(type='LoadAudio', sample_rate=audio_sample_rate),
    dict(type='ClipResize', scale=crop_size),
    dict(type='ClipRandomFlip', prob=0.5),
    dict(type='WaveformAugment'),
    dict(type='PackAVSInputs'),
]
test_pipeline = [
    dict(type='LoadClipFrames'),
    dict(type='LoadClipMasks', mask_mode='semantic'),
    dict(type='LoadAudio', sample_rate=audio_sample_rate),
    dict(type='ClipResize', scale=crop_size),
    dict(type='PackAVSInputs'),
]
train_dataloader = dict(
    batch_size=2,
    num_workers=0,
    persistent_workers=False,
    dataset=dict(
        type='AVSBenchSemanticDataset', data_root=data_root, mask_mode='semantic',
        pipeline=train_pipeline))
val_dataloader = dict(
    batch_size=1,
    num_workers=0,
    persistent_workers=False,
    dataset=dict(
        type='AVSBenchSemanticDataset', data_root=data_root, mask_mode='semantic',
        pipeline=test_pipeline))
test_dataloader = val_dataloader

max_epochs = 2
train_cfg = dict(type='EpochBasedTrainLoop', max_epochs=max_epochs,
                 val_interval=1)
param_scheduler = [
    dict(type='LinearLR', start_factor=0.1, by_epoch=True, begin=0, end=1,
         convert_to_iter_based=True),
    dict(type='CosineAnnealingLR', T_max=1, eta_min=1e-6, by_epoch=True,
         begin=1, end=max_epochs, convert_to_iter_based=True),
]
optim_wrapper = dict(optimizer=dict(lr=1e-3))
default_hooks = dict(logger=dict(interval=1),
                     checkpoint=dict(save_best=None, max_keep_ckpts=1))
env_cfg = dict(cudnn_benchmark=False, dist_cfg=dict(backend='gloo'))
