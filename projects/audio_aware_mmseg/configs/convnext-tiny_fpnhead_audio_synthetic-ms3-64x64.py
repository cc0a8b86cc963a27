# Another library: mmpretrain's ConvNeXt (addressed across scopes as
# 'mmpretrain.ConvNeXt') + mmseg's FPNHead (Semantic FPN decoder), made
# audio-aware by config only with DDAVS parts:
#   HTSATAudioEncoder -> AudioQueryModule (no prototype bank here)
#   -> CrossAlignmentBlocks on stages 2 and 3 at the decoder input
#      (StageAlignment, fusion_position='head')
#   -> mmseg FPNHead.
_base_ = [
    '../../../configs/_base_/models/ddavs_tiny.py',
    './_base_/synthetic_ms3_tiny.py'
]
custom_imports = dict(imports=['mmpretrain.models'],
                      allow_failed_imports=False)

model = dict(
    backbone=dict(
        _delete_=True,
        type='mmpretrain.ConvNeXt',
        arch=dict(depths=[1, 1, 1, 1], channels=[16, 32, 64, 128]),
        in_channels=3,
        out_indices=(0, 1, 2, 3),
        gap_before_final_norm=False,  # keep the [N, C, H, W] maps
        drop_path_rate=0.0),
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
        in_channels=[16, 32, 64, 128],
        # mmseg's FPNHead, unchanged.
        mask_decoder=dict(
            type='FPNHead',
            in_index=[0, 1, 2, 3],
            feature_strides=[4, 8, 16, 32],
            channels=32,
            num_classes=1,
            out_channels=1,
            threshold=0.5,
            dropout_ratio=0.1,
            norm_cfg=dict(type='BN', requires_grad=True),
            align_corners=False)))
