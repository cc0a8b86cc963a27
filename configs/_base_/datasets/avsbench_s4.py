# AVSBench-object S4 (single source): 5 frames per clip, binary masks.
# Train clips are annotated on frame 1 only (mask_flags [T, F, F, F, F]).
# data_root holds s4_meta_data.csv and s4_data/{visual_frames,gt_masks,
# audio_wav}/ as in the AVSBench release ("Single-source" folder).
dataset_type = 'AVSBenchS4Dataset'
data_root = 'data/AVSBench/Single-source'
crop_size = (224, 224)  # (w, h)
wav_sample_rate = 32000  # HTSAT's native rate
audio_segment_seconds = 1.0  # one 1-s segment per frame

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
        pipeline=train_pipeline))
# 4 clips per batch = the official TPAVI test grouping (20 frames).
val_dataloader = dict(
    batch_size=4,
    num_workers=4,
    persistent_workers=True,
    sampler=dict(type='DefaultSampler', shuffle=False),
    dataset=dict(
        type=dataset_type,
        data_root=data_root,
        split='val',
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
        test_mode=True,
        pipeline=test_pipeline))
val_evaluator = dict(type='JFMetric', mode='avsbench')
test_evaluator = val_evaluator
