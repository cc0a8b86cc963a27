# AVSBench-semantic (AVSS): 10-frame clips (v1s / v1m clips are 5 frames
# padded to 10: black frames, all-background labels, frame_flags False),
# 71 classes incl. background read from data_root/label2idx.json.
# Train: short side to 224 + centre crop; test: frames resized to 224 x 224,
# and JFMetric('avss') scores at 224 x 224 (labels resized nearest), as in
# the AVSBench reference loader.
dataset_type = 'AVSBenchSemanticDataset'
data_root = 'data/AVSBench/AVSBench-semantic'
crop_size = (224, 224)  # (w, h)
wav_sample_rate = 32000  # HTSAT's native rate
audio_segment_seconds = 1.0  # one 1-s segment per frame
avss_labels = ('v1s', 'v1m', 'v2')  # subsets used

train_pipeline = [
    dict(type='LoadClipFrames'),
    dict(type='LoadClipMasks'),
    dict(type='LoadAudio', sample_rate=wav_sample_rate,
         segment_seconds=audio_segment_seconds),
    dict(type='ClipShortSideResize', short_side=min(crop_size)),
    dict(type='ClipCenterCrop', crop_size=(crop_size[1], crop_size[0])),
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
    batch_size=8,
    num_workers=4,
    persistent_workers=False,
    # new augmentation draws every epoch, identical after --resume
    worker_init_fn=dict(type='epoch_varying_worker_init_fn'),
    sampler=dict(type='DefaultSampler', shuffle=True),
    dataset=dict(
        type=dataset_type,
        data_root=data_root,
        split='train',
        labels=avss_labels,
        pipeline=train_pipeline))
val_dataloader = dict(
    batch_size=4,
    num_workers=4,
    persistent_workers=True,
    sampler=dict(type='DefaultSampler', shuffle=False),
    dataset=dict(
        type=dataset_type,
        data_root=data_root,
        split='val',
        labels=avss_labels,
        test_mode=True,
        pipeline=test_pipeline))
test_dataloader = dict(
    batch_size=4,
    num_workers=4,
    persistent_workers=True,
    sampler=dict(type='DefaultSampler', shuffle=False),
    dataset=dict(
        type=dataset_type,
        data_root=data_root,
        split='test',
        labels=avss_labels,
        test_mode=True,
        pipeline=test_pipeline))
val_evaluator = dict(type='JFMetric', mode='avss')
test_evaluator = val_evaluator
