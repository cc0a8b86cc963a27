# Table 6 "Head (post-LN)": as Head (pre-LN) with post-LN blocks.
_base_ = '../ddavs_mitb5_htsat_ms3.py'

model = dict(alignment=dict(fusion_position='head', norm_position='post'))
