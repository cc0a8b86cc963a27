# Fig. 6: n = 1 audio queries (with n = 1 the per-sample InfoNCE over
# query slots has a single candidate and is identically 0).
_base_ = '../ddavs_mitb5_htsat_ms3.py'

model = dict(audio_query=dict(num_queries=1))
