"""How the pipeline runs fairseq: the plugin, device and threads of its command-line tools
(``fairseq``), and one resumable training run (``training``)."""
