"""The comparison studies behind ``docs/results.md`` (``sparsegen study NAME``).

- :mod:`~sparsegen.studies.generative`: every image and point config, same data, seed and budget.
- :mod:`~sparsegen.studies.resolution`: the image models (the generative study's runs at each ``--npix``) and
  the point flow, pixelized, side by side by image grid.
- :mod:`~sparsegen.studies.sparse_input`: does a CNN on sparse jet images converge? losses, imputation,
  skips, optimizers, a sparse-conv encoder.
- :mod:`~sparsegen.studies.sparse_coding`: jet taggers built from layered thresholding / layered ISTA
  encoders, with and without the l1 feature penalty.
- :mod:`~sparsegen.studies.conditional`: one conditional model vs one model per class.
- :mod:`~sparsegen.studies.convergence`: quality per CPU-minute of one config.

What they share: :mod:`~sparsegen.studies.settings` (every study's options and defaults),
:mod:`~sparsegen.studies.harness` (resume, runs in worker processes, data preparation, the reproducing
command, the budget sentence, the section order), :mod:`~sparsegen.studies.report` (tables, results-file
sections) and :mod:`~sparsegen.studies.probes` (labelled images, a small training loop, probe networks).
Training for a budget is `sparsegen.models.training.fit`. ``--quick`` runs every study at test scale.
"""
