"""Models of the memtr plugin, imported for their registrations with fairseq.

``mem_transformer`` (translation, four encoder layouts), ``mem_lm`` (``mem_transformer_lm``,
decoder-only LM) and ``mem_roberta`` (masked LM and classification); each registers its model
and architectures (``architectures.register_architectures``). Their layers are in
``fairseq_plugins.modules``.
"""

from . import mem_lm, mem_roberta, mem_transformer  # noqa: F401
