"""Data: Pythia8+FastJet generation, the JetNet HDF5 layout, jet images and the Lightning data module."""
