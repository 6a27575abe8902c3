"""``params.yaml``, the one source of truth of the pipeline, validated in one place."""
