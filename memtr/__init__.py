"""memtr: the pipeline library of the Memory Transformer replication.

The stage scripts in ``workflow/scripts/`` are thin command lines over this package; the
model code is the fairseq plugin ``fairseq_plugins/``, which never imports ``memtr``. Imports
point one way, from the top of this list to the bottom (``tests/unit/test_architecture.py``):

- ``stage``: stage-script plumbing (options, one-line errors);
- ``reports/``: results tables, claims, REPLICATION.md, figures and the report page;
- ``campaigns``: campaign bookkeeping (a campaign's own DVC lock, the runs it still needs,
  the sittings that fit them);
- ``attention/``: attention over memory (recording, measures, tables, plots);
- ``analysis/``: what models do with their memory (interventions at inference, sinks);
- ``tasks/``: what each task does (fairseq-train options, how a model is scored);
- ``run/``: how fairseq's command-line tools are started, a training run, fairseq's checks;
- ``scoring/``: how each task's runs are compared (paired tests, floors, tables' notes);
- ``config/``: ``params.yaml`` parsed once and validated as :class:`~memtr.config.params.Params`;
- ``specs/``: what each task declares (sizes, layouts, keys, metric and its direction);
- ``settings``: the sections of ``params.yaml`` as frozen, typed models;
- ``data/``: the data stages (download, prepare, binarize, extra test sets);
- ``datasets/``: the dataset registry and the ``data:`` section of params.yaml;
- ``stats``: intervals over seeds, the paired bootstrap;
- ``common/``: errors, repository paths, line-oriented text files.
"""
