"""What trained models do with their memory: interventions at inference and attention sinks.

Modules (import the one you need; this package imports none of them):

* ``models``: a checkpoint as a fairseq model (model options overridden), a split in batches
  (torch, fairseq);
* ``interventions``: each memory intervention decoded and scored as the evaluate stage does,
  hypotheses written for the paired bootstrap over sentences (torch, fairseq, sacrebleu);
* ``sinks``: per layer and head, the attention mass on memory keys and on the sink candidates
  (first token, ``</s>``) over a whole split, beside what uniform attention gives (torch).

Translation models for now (the four layouts of ``mem_transformer`` and fairseq's
``transformer`` baseline); the interventions themselves are the plugin's
(``fairseq_plugins/modules/intervention.py``), which never imports ``memtr``.
"""
