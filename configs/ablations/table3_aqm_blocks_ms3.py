# Table 3 "+AQM" with the baseline's fusion by transformer blocks
# (baseline_fusion='blocks', see table3_baseline_blocks_ms3.py).
_base_ = './table3_aqm_ms3.py'

model = dict(alignment=dict(baseline_fusion='blocks'))
