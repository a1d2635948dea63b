"""coexplore.quant: zero-shot quantization core (torch). Built by the quantization issue."""

from coexplore._bare import refuse_bare_import

refuse_bare_import(__name__, "quant")
