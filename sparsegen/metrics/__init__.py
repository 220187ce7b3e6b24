"""Distribution metrics for generated jets (JetNet definitions plus sparsity-aware ones)."""
