# Table 3 "+AQM+COM": AQM and the contrastive loss, no AVAM.
_base_ = '../ddavs_mitb5_htsat_ms3.py'

model = dict(alignment=dict(with_alignment=False))
