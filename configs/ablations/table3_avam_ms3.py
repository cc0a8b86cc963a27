# Table 3 "+AVAM": delayed alignment at stages 2, 3 fed with the raw HTSAT
# tokens as queries (no AQM, no COM).
_base_ = '../ddavs_mitb5_htsat_ms3.py'

model = dict(audio_query=None, contrastive_head=None)
