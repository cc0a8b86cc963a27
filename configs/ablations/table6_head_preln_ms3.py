# Table 6 "Head (pre-LN)": encoder untouched, Cross Alignment Blocks on the
# pyramid levels at the decoder input, pre-LN blocks.
_base_ = '../ddavs_mitb5_htsat_ms3.py'

model = dict(alignment=dict(fusion_position='head', norm_position='pre'))
