"""Audio encoders of DDAVS (HTSAT on the raw waveform)."""
from .htsat import HTSATAudioEncoder
from .htsat_checkpoint import (CheckpointLoadReport, clap_frontend_cfg,
                               convert_clap_state_dict,
                               convert_htsat_state_dict, load_htsat_checkpoint,
                               read_checkpoint)
from .log_mel_frontend import LogMelFrontend

__all__ = [
    'HTSATAudioEncoder', 'LogMelFrontend', 'CheckpointLoadReport',
    'load_htsat_checkpoint', 'read_checkpoint', 'convert_htsat_state_dict',
    'convert_clap_state_dict', 'clap_frontend_cfg'
]
