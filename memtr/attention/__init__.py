"""Attention over memory of trained checkpoints: recording, per-layer numbers, tables, plots.

Modules (import the one you need; this package imports none of them):

* ``schema``: ``ModelInfo``, ``SampleAttention`` and the table's columns (torch-free);
* ``sentences``: which sample file, its lines as subwords (torch-free);
* ``loading``: checkpoint -> fairseq model, its kind, lines -> token ids (torch, fairseq);
* ``recording``: self- and cross-attention probabilities of a model (torch);
* ``measures``: memory mass and memory-row entropy per layer (torch-free, numpy/pandas);
* ``archive``: ``attention.npz`` written and read (torch-free);
* ``tables``: ``memory_mass.{csv,json,md}``, merging models' tables (torch-free);
* ``plots``: heatmaps and the summary figure (torch-free, matplotlib);
* ``stage``: the whole stage of one checkpoint and its terminal table (torch).
"""
