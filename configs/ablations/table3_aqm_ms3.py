# Table 3 "+AQM": bank-grounded queries, no COM, no AVAM (baseline fusion).
_base_ = '../ddavs_mitb5_htsat_ms3.py'

model = dict(contrastive_head=None, alignment=dict(with_alignment=False))
