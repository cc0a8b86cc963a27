# A CNN family: mmseg's ResNetV1c encoder + mmseg's UPerHead (the UPerNet
# decoder) made audio-aware by config only, with the full DDAVS audio path:
#   HTSATAudioEncoder -> AudioQueryModule *with a PrototypeBank*
#   -> CrossAlignmentBlocks on ResNet stages 3 and 4 at the decoder input
#      (StageAlignment, fusion_position='head': a ResNet cannot be run
#      stage by stage by DDAVS, so the blocks go on its outputs)
#   -> mmseg UPerHead.
# The bank must exist before training; build it from the single-source
# segments of the synthetic data with the config's own audio encoder:
#   python tools/build_prototype_bank.py \
#       projects/audio_aware_mmseg/configs/\
# resnet18v1c-tiny_uperhead_audio-bank_synthetic-ms3-64x64.py \
#       --source synthetic --data-root data/synthetic/ms3 \
#       --out data/banks/synthetic_ms3_tiny_k5.pt
_base_ = [
    '../../../configs/_base_/models/ddavs_tiny.py',
    './_base_/synthetic_ms3_tiny.py'
]

bank_path = 'data/banks/synthetic_ms3_tiny_k5.pt'

model = dict(
    audio_query=dict(
        bank=dict(_delete_=True, type='PrototypeBank', bank_path=bank_path)),
    # mmseg's ResNetV1c (deep stem), ResNet-18 layout, 8-16-32-64 channels.
    backbone=dict(
        _delete_=True,
        type='ResNetV1c',
        depth=18,
        in_channels=3,
        stem_channels=8,
        base_channels=8,
        num_stages=4,
        out_indices=(0, 1, 2, 3),
        dilations=(1, 1, 1, 1),
        strides=(1, 2, 2, 2),
        norm_cfg=dict(type='BN', requires_grad=True),
        norm_eval=False,
        style='pytorch',
        contract_dilation=True),
    # Cross Alignment Blocks on the levels 2, 3 at the decode head's input:
    # the backbone runs untouched.
    alignment=dict(
        _delete_=True,
        type='StageAlignment',  # in_channels: decode_head's
        query_channels=64,  # = model.audio_query.embed_dims
        inject_stages=(2, 3),
        fusion_position='head',
        norm_position='pre',
        with_alignment=True,
        block_cfg=dict(num_heads=None, ffn_ratio=2.0)),
    decode_head=dict(
        _delete_=True,
        type='DelayedAVAMDecoder',
        in_channels=[8, 16, 32, 64],  # ResNet-18 stages x base_channels
        # mmseg's UPerHead (PPM on the last level + FPN), unchanged.
        mask_decoder=dict(
            type='UPerHead',
            in_index=[0, 1, 2, 3],
            pool_scales=(1, 2, 3, 6),
            channels=32,
            num_classes=1,
            out_channels=1,
            threshold=0.5,
            dropout_ratio=0.1,
            norm_cfg=dict(type='BN', requires_grad=True),
            align_corners=False)))
