"""The comparison studies behind ``docs/results.md`` (``sparsegen study NAME``).

- :mod:`~sparsegen.studies.generative`: every image and point config, same data, seed and wall-clock budget.
- :mod:`~sparsegen.studies.sparse_input`: does a CNN on sparse jet images converge? losses, imputation,
  skips, optimizers, a sparse-conv encoder.
- :mod:`~sparsegen.studies.sparse_coding`: jet taggers built from layered thresholding / layered ISTA
  encoders, with and without the l1 feature penalty.

Training for a wall-clock budget is `sparsegen.models.training.fit`; :mod:`~sparsegen.studies.report` writes
the tables and the results-file sections. ``--quick`` runs every study at test scale (seconds).
"""
