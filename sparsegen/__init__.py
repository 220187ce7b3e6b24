"""sparsegen: sparse deep generative modeling of physics data."""

import os as _os

# Same seed → the same numbers in every process: MKL (torch's CPU BLAS) may pick alignment-dependent code
# paths whose float rounding differs between runs unless conditional numerical reproducibility is on. It is
# read when MKL starts, so it only takes effect when sparsegen is imported before torch (the CLI, the demo);
# set MKL_CBWR yourself to override.
_os.environ.setdefault("MKL_CBWR", "AUTO,STRICT")

__version__ = "0.1.0"
