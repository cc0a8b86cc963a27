# Tiny DDAVS on the synthetic MS3 data set (CPU smoke training): tiny MiT,
# narrow 2-stage HTSAT at 16 kHz, 1-layer Q-Former (width 64), 64x64 frames.
# Generate the data first (ddavs_mm.datasets.synthetic) under data_root.
_base_ = [
    './_base_/models/ddavs_tiny.py', './_base_/datasets/avsbench_ms3.py',
    './_base_/schedules/schedule_ddavs.py', './_base_/default_runtime.py'
]

data_root = 'data/synthetic/ms3'
crop_size = (64, 64)
audio_sample_rate = 16000  # must match model.audio_encoder.frontend
num_classes = 1

# Made by the main job before training (tools/run_main_job.sh): the tiny
# HTSAT pretrained on the synthetic single-source seconds
# (tools/pretrain_audio_encoder.py) and the prototype bank built with it
# (tools/build_prototype_bank.py). A missing file is an error; set
# model.audio_query.bank=None / model.audio_encoder.pretrained=None to run
# without them.
audio_encoder_checkpoint = 'data/synthetic/pretrained/tiny_htsat_ms3.pth'
bank_file = 'data/banks/synthetic_ms3_tiny_k5.pt'

model = dict(
    mask_mode='binary',
    num_classes=num_classes,
    audio_encoder=dict(pretrained=audio_encoder_checkpoint),
    audio_query=dict(
        bank=dict(_delete_=True, type='PrototypeBank', bank_path=bank_file)),
    decode_head=dict(mask_decoder=dict(num_classes=num_classes)))

train_pipeline = [
    dict(type='LoadClipFrames'),
    dict(type='LoadClipMasks', mask_mode='binary'),
    dict(type='LoadAudio', sample_rate=audio_sample_rate),
    dict(type='ClipResize', scale=crop_size),
    dict(type='ClipRandomFlip', prob=0.5),
    dict(type='WaveformAugment'),
    dict(type='PackAVSInputs'),
]
test_pipeline = [
    dict(type='LoadClipFrames'),
    dict(type='LoadClipMasks', mask_mode='binary'),
    dict(type='LoadAudio', sample_rate=audio_sample_rate),
    dict(type='ClipResize', scale=crop_size),
    dict(type='PackAVSInputs'),
]
train_dataloader = dict(
    batch_size=4,
    num_workers=0,
    persistent_workers=False,
    dataset=dict(
        type='AVSBenchMS3Dataset', data_root=data_root, mask_mode='binary',
        pipeline=train_pipeline))
val_dataloader = dict(
    batch_size=1,
    num_workers=0,
    persistent_workers=False,
    dataset=dict(
        type='AVSBenchMS3Dataset', data_root=data_root, mask_mode='binary',
        pipeline=test_pipeline))
test_dataloader = val_dataloader

# The schedule is derived from max_epochs here; change it in a config that
# inherits this one (not with --cfg-options train_cfg.max_epochs=..., which
# would leave the cosine length behind).
max_epochs = 12
train_cfg = dict(type='EpochBasedTrainLoop', max_epochs=max_epochs,
                 val_interval=max_epochs)
param_scheduler = [
    dict(type='LinearLR', start_factor=0.1, by_epoch=True, begin=0, end=1,
         convert_to_iter_based=True),
    dict(type='CosineAnnealingLR', T_max=max_epochs - 1, eta_min=1e-5,
         by_epoch=True, begin=1, end=max_epochs, convert_to_iter_based=True),
]
optim_wrapper = dict(optimizer=dict(lr=2e-3))
default_hooks = dict(logger=dict(interval=20),
                     checkpoint=dict(save_best=None, max_keep_ckpts=1))
env_cfg = dict(cudnn_benchmark=False, dist_cfg=dict(backend='gloo'))
