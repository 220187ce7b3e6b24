"""Named generation presets: a name → the GenerationConfig settings and Pythia card lines it stands for.

``jetnet`` (the default dataset, `sparsegen.core.defaults.PRESET`): jets equivalent to JetNet's (Kansal et
al. 2021) g, q and t classes, as scored by JetNet's own FPND against its stored real-jet statistics
(evidence and numbers: ``physics_data/README.md``). W and Z jets use the same settings (JetNet publishes no
FPND statistics for them). ``r08``: anti-kT R = 0.8 jets, `GenerationConfig`'s own field defaults.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from sparsegen.core.errors import SparsegenInputError
from sparsegen.data.generate import GenerationConfig


@dataclass(frozen=True)
class Preset:
    """GenerationConfig field overrides + Pythia card lines (all classes, and per class)."""

    description: str
    overrides: dict[str, Any]
    settings: tuple[str, ...] = ()
    class_settings: dict[str, tuple[str, ...]] = field(default_factory=dict)


PRESETS: dict[str, Preset] = {
    "r08": Preset(
        description="anti-kT R = 0.8 jets (the radius JetNet's paper states), hard process at 950-1150 GeV, "
                    "resonance decay quarks contained in the jet; "
                    "not JetNet-equivalent (physics_data/README.md)",
        overrides={},
    ),
    "jetnet": Preset(
        description="JetNet-equivalent jets: anti-kT R = 0.4, hard partons at pT = 1 TeV within 1 %, "
                    "t / W / Z jets matched to the resonance's direction (decay products need not be inside)",
        overrides={"jet_radius": 0.4, "match_dr": 0.4, "resonance_match": "axis"},
        settings=("PhaseSpace:pTHatMin = 990.", "PhaseSpace:pTHatMax = 1010."),
    ),
}


def preset_names() -> tuple[str, ...]:
    return tuple(PRESETS)


def preset_config(name: str, jet_type: str, **kwargs: Any) -> GenerationConfig:
    """The GenerationConfig of preset ``name`` for ``jet_type``; ``kwargs`` set the other fields
    (seed, ...)."""
    if name not in PRESETS:
        raise SparsegenInputError("--preset", f"unknown preset '{name}' (one of {', '.join(PRESETS)})")
    preset = PRESETS[name]
    clash = sorted(set(kwargs) & (set(preset.overrides) | {"preset", "preset_settings"}))
    if clash:
        raise SparsegenInputError("--preset",
                                  f"preset '{name}' fixes {', '.join(clash)}; do not set it as well")
    lines = preset.settings + preset.class_settings.get(jet_type, ())
    return GenerationConfig(jet_type=jet_type, preset=name, preset_settings=lines, **preset.overrides,
                            **kwargs)
