# VPO-SS: single-source still 512 x 512 COCO images with VGGSound audio,
# T = 1 frame, the centre 3 s of audio, 21 classes + background.
# data_root layout: VPO-SS/vpo_ss_data_stereo.csv, VPO-SS/data/, VPO-SS/mask/
# and the VGGSound wavs in {data_root}/{vpo_audio_dir}/{vgg_file}.wav.
# VPO has no separate validation set: the CSV's `val` rows serve as both
# our val and test split (as in CAVP).
dataset_type = 'VPODataset'
vpo_subset = 'ss'
data_root = 'data/VPO'
vpo_audio_dir = 'audios'
crop_size = (224, 224)  # (w, h)
wav_sample_rate = 32000  # HTSAT's native rate
audio_segment_seconds = 3.0  # one frame, 3 s of audio

train_pipeline = [
    dict(type='LoadClipFrames'),
    dict(type='LoadClipMasks'),
    dict(type='LoadAudio', sample_rate=wav_sample_rate,
         segment_seconds=audio_segment_seconds),
    dict(type='ClipResize', scale=crop_size),
    dict(type='ClipRandomFlip', prob=0.5),
    dict(type='WaveformAugment'),
    dict(type='PackAVSInputs'),
]
# Masks are loaded after the resize, at the frames' original size: the
# segmentor restores its predictions to that size and JFMetric scores
# them at the resolution of the official protocol.
test_pipeline = [
    dict(type='LoadClipFrames'),
    dict(type='LoadAudio', sample_rate=wav_sample_rate,
         segment_seconds=audio_segment_seconds),
    dict(type='ClipResize', scale=crop_size),
    dict(type='LoadClipMasks'),
    dict(type='PackAVSInputs'),
]
# flip test-time augmentation (tools/test.py --tta, with tta_model)
tta_pipeline = [
    dict(type='LoadClipFrames'),
    dict(type='LoadAudio', sample_rate=wav_sample_rate,
         segment_seconds=audio_segment_seconds),
    dict(
        type='TestTimeAug',
        transforms=[
            [dict(type='ClipResize', scale=crop_size)],
            [dict(type='ClipRandomFlip', prob=0.),
             dict(type='ClipRandomFlip', prob=1.)],
            [dict(type='LoadClipMasks')],
            [dict(type='PackAVSInputs')],
        ])
]
train_dataloader = dict(
    batch_size=16,
    num_workers=4,
    persistent_workers=False,
    # new augmentation draws every epoch, identical after --resume
    worker_init_fn=dict(type='epoch_varying_worker_init_fn'),
    sampler=dict(type='DefaultSampler', shuffle=True),
    dataset=dict(
        type=dataset_type,
        subset=vpo_subset,
        data_root=data_root,
        audio_dir=vpo_audio_dir,
        audio_seconds=audio_segment_seconds,
        split='train',
        pipeline=train_pipeline))
val_dataloader = dict(
    batch_size=8,
    num_workers=4,
    persistent_workers=True,
    sampler=dict(type='DefaultSampler', shuffle=False),
    dataset=dict(
        type=dataset_type,
        subset=vpo_subset,
        data_root=data_root,
        audio_dir=vpo_audio_dir,
        audio_seconds=audio_segment_seconds,
        split='val',
        test_mode=True,
        pipeline=test_pipeline))
test_dataloader = dict(
    batch_size=8,
    num_workers=4,
    persistent_workers=True,
    sampler=dict(type='DefaultSampler', shuffle=False),
    dataset=dict(
        type=dataset_type,
        subset=vpo_subset,
        data_root=data_root,
        audio_dir=vpo_audio_dir,
        audio_seconds=audio_segment_seconds,
        split='test',
        test_mode=True,
        pipeline=test_pipeline))
val_evaluator = dict(type='JFMetric', mode='vpo')
test_evaluator = val_evaluator
