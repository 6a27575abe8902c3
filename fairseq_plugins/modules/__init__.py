"""Layers of the memtr plugin, registered nowhere (the models in ``fairseq_plugins.models``
register them with fairseq).

* ``memory``: the memory tokens and the attention helpers every variant shares.
* ``mem_encoder``: ``MemTransformerEncoder``, the four encoder layouts.
* ``intervention``: interventions on the memory at inference (zero, swap, mean, hide, ...).
* ``mem_lm_decoder``: ``MemLMDecoder``, the decoder-only LM with (recurrent) memory.
* ``options``: argparse types of the memory options.
"""
