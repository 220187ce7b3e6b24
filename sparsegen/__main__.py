"""``python -m sparsegen ...`` = ``sparsegen ...``."""

from sparsegen.cli.main import console

console()
