# Tiny DDAVS on the synthetic MS3 data set at 128x128: the main job's config
# (tools/main_job.py, CPU). The paper's structure at CPU size: MiT (embed 32,
# one block per stage) with alignment blocks after stages 3 and 4, a 2-stage
# HTSAT at 16 kHz with 32 mel bins (frozen), a 1-layer Q-Former of width 64
# with the prototype bank, the contrastive head and a 128-channel SegFormer
# mask decoder with the query readout (decode_head.query_readout, not in the
# paper). Training: 2 frames of 10 clips per step, AdamW lr 3e-3, 30 epochs
# of 40 steps, EMA of the weights. The recipe and the evidence for each
# setting: docs/main_job.md. Data and runtime from ./_base_/synthetic_tiny.py.
_base_ = ['./_base_/models/ddavs_tiny.py', './_base_/synthetic_tiny.py']

# Files the main job writes before training (docs/get_started.md shows the
# commands): the pretrained tiny HTSAT (tools/pretrain_audio_encoder.py), the
# pretrained tiny MiT and mask decoder (tools/pretrain_visual_encoder.py;
# keys backbone.* and head.*) and the prototype bank
# (tools/build_prototype_bank.py). A missing file is an error; set
# model.audio_query.bank=None / model.audio_encoder.pretrained=None /
# model.backbone.init_cfg=None / model.decode_head.mask_decoder.init_cfg=None
# to run without them.
audio_encoder_checkpoint = 'data/synthetic/pretrained/tiny_htsat_ms3.pth'
visual_encoder_checkpoint = 'data/synthetic/pretrained/tiny_mit_ms3.pth'
bank_file = 'data/banks/synthetic_ms3_tiny_k5.pt'
frame_size = (128, 128)  # (w, h); generate the data at this size

model = dict(
    # 32 mel bins, folded to the same 64x64 input image (freq_ratio 2)
    audio_encoder=dict(
        pretrained=audio_encoder_checkpoint, num_mel_bins=32, freq_ratio=2,
        frontend=dict(n_mels=32)),
    audio_query=dict(
        bank=dict(_delete_=True, type='PrototypeBank', bank_path=bank_file)),
    backbone=dict(
        embed_dims=32,
        init_cfg=dict(type='Pretrained', checkpoint=visual_encoder_checkpoint,
                      prefix='backbone.')),
    decode_head=dict(
        in_channels=[32, 64, 160, 256],
        # the level projections and fusion come from the same pretraining
        # (only the classifier, conv_seg, starts from scratch: the file has
        # none, a partial load declared to the strict loader)
        mask_decoder=dict(
            channels=128,
            init_cfg=dict(_delete_=True, type='Pretrained',
                          checkpoint=visual_encoder_checkpoint,
                          prefix='head.', ignore_missing=['conv_seg.'])),
        query_readout=True))

# Training samples hold 2 random frames of a clip, each with its second of
# audio (10 clips x 2 frames per step). Sampled first, so only the kept
# frames, masks and seconds are read and augmented.
train_pipeline = [
    dict(type='ClipSampleFrames', num_frames=2),
    dict(type='LoadClipFrames'),
    dict(type='LoadClipMasks', mask_mode='binary'),
    dict(type='LoadAudio', sample_rate=16000),
    dict(type='ClipResize', scale=frame_size),
    dict(type='ClipRandomFlip', prob=0.5),
    dict(type='WaveformAugment'),
    dict(type='PackAVSInputs'),
]
test_pipeline = [
    dict(type='LoadClipFrames'),
    dict(type='LoadAudio', sample_rate=16000),
    dict(type='ClipResize', scale=frame_size),
    dict(type='LoadClipMasks', mask_mode='binary'),
    dict(type='PackAVSInputs'),
]
# flip test-time augmentation (tools/test.py --tta, with tta_model)
tta_pipeline = [
    dict(type='LoadClipFrames'),
    dict(type='LoadAudio', sample_rate=16000),
    dict(
        type='TestTimeAug',
        transforms=[
            [dict(type='ClipResize', scale=frame_size)],
            [dict(type='ClipRandomFlip', prob=0.),
             dict(type='ClipRandomFlip', prob=1.)],
            [dict(type='LoadClipMasks', mask_mode='binary')],
            [dict(type='PackAVSInputs')],
        ])
]
# one loader worker, re-created each epoch and seeded from the main
# generator (--resume continues exactly)
train_dataloader = dict(
    batch_size=10, num_workers=1, persistent_workers=False,
    worker_init_fn=dict(type='epoch_varying_worker_init_fn'),
    dataset=dict(pipeline=train_pipeline))
val_dataloader = dict(dataset=dict(pipeline=test_pipeline))
test_dataloader = val_dataloader

# 30 epochs of 40 steps: 2 linear warm-up epochs, then cosine decay. The
# schedulers are derived from max_epochs: change the length by setting
# max_epochs in a config that inherits this one.
max_epochs = 30
warmup_epochs = 2
train_cfg = dict(type='EpochBasedTrainLoop', max_epochs=max_epochs,
                 val_interval=max_epochs)
param_scheduler = [
    dict(type='LinearLR', start_factor=0.1, by_epoch=True, begin=0,
         end=warmup_epochs, convert_to_iter_based=True),
    dict(type='CosineAnnealingLR', T_max=max_epochs - warmup_epochs,
         eta_min=1e-5, by_epoch=True, begin=warmup_epochs, end=max_epochs,
         convert_to_iter_based=True),
]
optim_wrapper = dict(optimizer=dict(lr=3e-3))
# An exponential moving average of the weights (mmengine's EMAHook) is what
# validation, test and the saved checkpoints use.
custom_hooks = [
    dict(type='RNGStateHook'),
    dict(type='EMAHook', ema_type='ExponentialMovingAverage', momentum=0.01,
         update_buffers=True, priority=49),
]
default_hooks = dict(logger=dict(interval=20),
                     checkpoint=dict(interval=10))
