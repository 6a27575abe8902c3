"""The datasets: the registry of known corpora, the ``data:`` section of params.yaml,
synthetic corpora, and which extra test sets an experiment can read. Light to import."""
