"""The by-class summary of the image recipes: ratios read from run records, findings computed from them."""

from __future__ import annotations

import json
from pathlib import Path

from sparsegen.studies.by_class import summary


def record(root: Path, jet_type: str, config: str, kind: str, occupancy: float, w1m: float) -> None:
    folder = root / jet_type / config
    folder.mkdir(parents=True)
    metrics = {"w1m": {"value": w1m, "error": 0.0}, "occupancy_ratio": {"value": occupancy, "error": 0.0},
               "truth_floor": {"w1m": {"value": 1.0, "error": 0.0}}}
    (folder / "result.json").write_text(json.dumps({"config": config, "parts": {"kind": kind},
                                                    "metrics": metrics}))


def test_by_class_compares_each_family_with_its_gluon_value_and_flags_the_occupancy(tmp_path: Path):
    for t, gan_occ, gan, vae in (("g", 1.1, 3.0, 2.5), ("w", 0.14, 30.0, 8.0), ("z", 1.2, 4.0, 6.0)):
        record(tmp_path, t, "gan_a", "gan", gan_occ, gan)
        record(tmp_path, t, "vae_a", "vae", 1.0, vae)
    record(tmp_path, "w", "gan_b", "gan", 1.0, 9.0)  # the better GAN on W
    text = summary(tmp_path, ["w", "z"], ["gan_a", "gan_b", "vae_a"])
    header = text.splitlines()[0]
    assert header.index("gluon: occupancy") < header.index("W: occupancy") < header.index("Z: occupancy")
    assert "| `gan_b` | — | 1.00 | — |" in text  # no gluon or Z run of gan_b
    assert "occupancy outside 0.5–2× the real one: `gan_a` on W (0.14)" in text
    assert "best GAN W1M on W: `gan_b` 9.0× the floor, 3.0× its gluon value (3.0×, `gan_a`)" in text
    assert "best VAE W1M on Z: `vae_a` 6.0× the floor, 2.4× its gluon value (2.5×, `vae_a`)" in text
    assert summary(tmp_path, ["q"], ["gan_a"]) == ""  # only the gluon runs: nothing to compare
