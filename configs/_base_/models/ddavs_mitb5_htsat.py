# DDAVS full model: MiT-B5 + HTSAT (AudioSet) + AQM (Q-Former, bank) + COM +
# delayed AVAM at stages 2, 3 (paper blocks "3,4") + SegFormer all-MLP head.
#
# Pretrained files and the bank are config values. The model builds without
# them; training (init_weights) fails with a clear error naming a missing
# weight file, and a missing bank file is an error when the model is built.
# Put the files at the paths below or override them, e.g.
#   --cfg-options model.backbone.init_cfg=None \
#       model.audio_encoder.pretrained=None
# for a random-init run, or model.audio_query.bank=None for the no-bank
# ablation.
#   pretrained/mit_b5.pth : MiT-B5 ImageNet weights: NVIDIA's original
#       SegFormer file, or an mmseg-keyed file; a transformers directory of
#       nvidia/mit-b5 may be named instead (the backbone reads all three;
#       tools/model_converters/mit2ddavs.py converts them offline)
#   pretrained/HTSAT_AudioSet_Saved_1.ckpt : the original HTSAT Lightning
#       checkpoint, converted on load; or the plain state dict written from it
#       by tools/model_converters/htsat2ddavs.py
#   data/banks/avsbench_s4_htsat_k5.npy : prototype bank [C, K, 768]
#       (DDESeg layout) or a .pt/.npz written by tools/build_prototype_bank.py;
#       the public configs name their data set's bank (docs/get_started.md
#       gives the command that builds each)
mit_b5_checkpoint = 'pretrained/mit_b5.pth'
htsat_checkpoint = 'pretrained/HTSAT_AudioSet_Saved_1.ckpt'
bank_file = 'data/banks/avsbench_s4_htsat_k5.npy'

# HTSAT's front end runs at 32 kHz (its pretraining rate): the dataset
# pipeline must load/resample audio to this rate.
audio_sample_rate = 32000
num_queries = 5
query_dims = 768  # Q-Former width = HTSAT width
num_classes = 1   # binary (S4/MS3); semantic configs override

norm_cfg = dict(type='SyncBN', requires_grad=True)

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
        spec_size=256,
        num_mel_bins=64,
        patch_embeds_hidden_size=96,
        depths=(2, 2, 6, 2),
        num_attention_heads=(4, 8, 16, 32),
        window_size=8,
        hidden_size=768,
        frontend=dict(
            sample_rate=audio_sample_rate, n_fft=1024, hop_length=320,
            n_mels=64, f_min=50.0, f_max=14000.0),
        frozen=True,
        pretrained=htsat_checkpoint),
    audio_query=dict(
        type='AudioQueryModule',
        in_channels=768,
        embed_dims=query_dims,
        num_queries=num_queries,
        # 2 layers at width 768 with cross-attention in every layer: AQM
        # ~20.7 M params (paper Table 8 implies ~23 M; 3 layers would be 30 M)
        qformer_cfg=dict(
            num_hidden_layers=2,
            num_attention_heads=12,
            intermediate_size=3072,
            cross_attention_frequency=1,
            hidden_dropout_prob=0.1,
            attention_probs_dropout_prob=0.1),
        bank=dict(type='PrototypeBank', bank_path=bank_file),
        gamma=1.0),
    contrastive_head=dict(
        type='ContrastiveHead',
        in_channels=query_dims,
        hidden_channels=query_dims,
        out_channels=256,
        num_layers=2,
        temperature=0.07,
        loss_weight=0.1),
    backbone=dict(
        # mmseg's MiT (frozen_stages=0, any of the three weight layouts) with
        # its attention through SDPA (same weights and values)
        type='SDPAMixVisionTransformer',
        in_channels=3,
        embed_dims=64,
        num_stages=4,
        num_layers=[3, 6, 40, 3],
        num_heads=[1, 2, 5, 8],
        patch_sizes=[7, 3, 3, 3],
        sr_ratios=[8, 4, 2, 1],
        out_indices=(0, 1, 2, 3),
        mlp_ratio=4,
        qkv_bias=True,
        drop_rate=0.0,
        attn_drop_rate=0.0,
        drop_path_rate=0.1,
        # activation checkpointing of every MiT block (less memory, more
        # compute); off until measured on a GPU (tools/analysis/
        # benchmark_train.py --with-cp)
        with_cp=False,
        init_cfg=dict(type='Pretrained', checkpoint=mit_b5_checkpoint)),
    alignment=dict(
        type='StageAlignment',  # in_channels: decode_head's
        query_channels=query_dims,
        inject_stages=(2, 3),
        fusion_position='encoder',
        norm_position='pre',
        with_alignment=True,
        block_cfg=dict(num_heads=None, ffn_ratio=4.0, dropout=0.0,
                       zero_init=True)),
    decode_head=dict(
        type='DelayedAVAMDecoder',
        in_channels=[64, 128, 320, 512],
        mask_decoder=dict(
            type='SegformerMaskDecoder',
            channels=768,
            num_classes=num_classes,
            dropout_ratio=0.1,
            norm_cfg=norm_cfg)),
    losses=[
        dict(type='AVSCrossEntropyLoss', loss_weight=5.0),
        dict(type='AVSDiceLoss', loss_weight=5.0),
        dict(type='AVSIoULoss', loss_weight=2.0),
    ],
    train_cfg=dict(),
    test_cfg=dict())
