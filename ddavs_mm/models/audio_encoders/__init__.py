"""Audio encoders of DDAVS (HTSAT on the raw waveform)."""
from .htsat import HTSATAudioEncoder
from .htsat_checkpoint import (clap_frontend_cfg, convert_clap_state_dict,
                               convert_htsat_state_dict, detect_htsat_layout,
                               read_htsat_weights)
from .log_mel_frontend import LogMelFrontend

__all__ = [
    'HTSATAudioEncoder', 'LogMelFrontend', 'read_htsat_weights',
    'detect_htsat_layout', 'convert_htsat_state_dict',
    'convert_clap_state_dict', 'clap_frontend_cfg'
]
