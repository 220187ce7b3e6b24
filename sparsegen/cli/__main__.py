"""``python -m sparsegen.cli ...`` = ``sparsegen ...``."""

from sparsegen.cli.main import console

console()
