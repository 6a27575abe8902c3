"""memtr: the pipeline library of the Memory Transformer replication.

The stage scripts in ``workflow/scripts/`` are thin command lines over this package; the
model code is the fairseq plugin ``fairseq_plugins/``, which never imports ``memtr``. Imports
point one way, from the top of this list to the bottom (``tests/unit/test_architecture.py``):

- ``stage``: stage-script plumbing (options, one-line errors);
- ``reports/``: results tables, claims, REPLICATION.md, the campaign lock;
- ``attention/``: attention over memory (recording, measures, tables, plots);
- ``config/``: ``params.yaml`` loaded and validated as :class:`~memtr.config.params.Params`;
- ``tasks/``: one module per task (translation, language modelling, classification);
- ``run/``: how fairseq's command-line tools are started, and a training run;
- ``data/``: the data stages (download, prepare, binarize, extra test sets);
- ``datasets/``: the dataset registry and the ``data:`` section of params.yaml;
- ``stats``: intervals over seeds, the paired bootstrap;
- ``common/``: errors, repository paths, line-oriented text files.
"""
