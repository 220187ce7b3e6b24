#!/usr/bin/env bash
# Make the JetNet reference venv for bench/fpnd_vs_jetnet.py (never a dependency of sparsegen itself).
# Usage: bash bench/jetnet_env.sh [VENV]   (default: .venv-jetnet in the repository root, git-ignored)
# It holds the JetNet library (FPND reference implementation and its published resources), a CPU torch
# pinned like the main venv, torch_geometric, and our kNN stand-in for torch_cluster (bench/jetnet_shim),
# which has no PyPI wheels. pyarrow<17 and numpy<2 keep JetNet 0.2.5's coffea/awkward imports working.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
venv="${1:-$root/.venv-jetnet}"
python="${PYTHON:-python3}"
test -x "$venv/bin/python" || "$python" -m venv "$venv"
"$venv/bin/python" -m pip install -q --upgrade pip
"$venv/bin/python" -m pip install -q "torch==2.13.0"
"$venv/bin/python" -m pip install -q "jetnet==0.2.5" "pyarrow<17" "numpy<2" torch_geometric
"$venv/bin/python" -m pip install -q --no-deps "$root/bench/jetnet_shim"
"$venv/bin/python" -c "import jetnet.evaluation, torch_cluster, torch_geometric; print('JetNet venv ready:', '$venv')"
