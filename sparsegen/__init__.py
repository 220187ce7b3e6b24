"""sparsegen: sparse deep generative modeling of physics data."""
__version__ = "0.1.0"
