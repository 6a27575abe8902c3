"""The data stages: download (checksummed, resumable), prepare (clean, sentencepiece),
binarize (fairseq-preprocess) and the extra test sets, each byte-deterministic."""
