"""memtr pipeline helpers: datasets, preprocessing, evaluation (the stage scripts in
``workflow/scripts/`` are thin command-line wrappers around this package)."""
