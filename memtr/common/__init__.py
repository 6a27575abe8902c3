"""What every layer of memtr uses: its errors, the repository's paths, text-file helpers."""
