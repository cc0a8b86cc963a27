# Tiny DDAVS for CPU tests and the synthetic data set: MiT (embed 16, one
# block per stage), a narrow 2-stage HTSAT at 16 kHz, a 1-layer Q-Former of
# width 64, 64-channel SegFormer head. Same structure as the full model.
audio_sample_rate = 16000
num_queries = 5
query_dims = 64
num_classes = 1

model = dict(
    type='DDAVS',
    data_preprocessor=dict(
        type='AVSDataPreprocessor',
        mean=[123.675, 116.28, 103.53],
        std=[58.395, 57.12, 57.375]),
    mask_mode='binary',
    num_classes=num_classes,
    ignore_index=255,
    audio_encoder=dict(
        type='HTSATAudioEncoder',
        spec_size=64,
        num_mel_bins=16,
        patch_embeds_hidden_size=32,
        depths=(1, 1),
        num_attention_heads=(2, 4),
        window_size=4,
        hidden_size=64,
        drop_path_rate=0.0,
        frontend=dict(
            sample_rate=audio_sample_rate, n_fft=512, hop_length=160,
            n_mels=16, f_min=50.0, f_max=8000.0),
        frozen=True),
    audio_query=dict(
        type='AudioQueryModule',
        in_channels=64,
        embed_dims=query_dims,
        num_queries=num_queries,
        qformer_cfg=dict(
            num_hidden_layers=1,
            num_attention_heads=4,
            intermediate_size=128,
            cross_attention_frequency=1,
            hidden_dropout_prob=0.0,
            attention_probs_dropout_prob=0.0),
        bank=None,  # set dict(type='PrototypeBank', bank_path=...) if built
        gamma=1.0),
    contrastive_head=dict(
        type='ContrastiveHead',
        in_channels=query_dims,
        out_channels=32,
        num_layers=2,
        temperature=0.07,
        loss_weight=0.1,
        # beyond the paper (docs/design.md): every query of the batch is a
        # negative; Eq. 6 (the default) uses the other slots of the sample
        negatives='batch'),
    backbone=dict(
        # mmseg's MiT, stage-wise, with its attention through SDPA (same
        # weights and values as mmseg's MixVisionTransformer)
        type='SDPAMixVisionTransformer',
        in_channels=3,
        embed_dims=16,
        num_stages=4,
        num_layers=[1, 1, 1, 1],
        num_heads=[1, 2, 5, 8],
        patch_sizes=[7, 3, 3, 3],
        sr_ratios=[8, 4, 2, 1],
        out_indices=(0, 1, 2, 3),
        mlp_ratio=4,
        drop_path_rate=0.0),
    alignment=dict(
        type='StageAlignment',  # in_channels: decode_head's
        query_channels=query_dims,
        inject_stages=(2, 3),
        fusion_position='encoder',
        norm_position='pre',
        with_alignment=True,
        block_cfg=dict(num_heads=None, ffn_ratio=2.0)),
    decode_head=dict(
        type='DelayedAVAMDecoder',
        in_channels=[16, 32, 80, 128],
        query_channels=query_dims,
        mask_decoder=dict(
            type='SegformerMaskDecoder',
            channels=64,
            num_classes=num_classes,
            dropout_ratio=0.0,
            norm_cfg=dict(type='BN', requires_grad=True),
            # the classifier keeps PyTorch's default init instead of mmseg's
            # N(0, 0.01) (docs/main_job.md)
            init_cfg=None)),
    losses=[
        dict(type='AVSCrossEntropyLoss', loss_weight=5.0),
        dict(type='AVSDiceLoss', loss_weight=5.0),
        dict(type='AVSIoULoss', loss_weight=2.0),
    ],
    train_cfg=dict(),
    test_cfg=dict())
