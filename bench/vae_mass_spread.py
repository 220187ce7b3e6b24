"""Where an image VAE's jet-mass distribution broadens: the reconstruction, the prior, or the sampling.

A hurdle decoder gives every pixel an occupancy probability and an intensity; a sample lights each pixel
independently. For a run or checkpoint with a hurdle decoder (``vae_hurdle``, ``vae_sparse``, ``vae_ista``)
this bench decodes ``--num-jets`` real jets' posterior means and prior draws and reports, in GeV (jets at the
preset's pT), the W1 of the mass distributions to the real one next to the real-vs-real floor at the same
size, the per-jet mass spread over ``--draws`` occupancy draws of the same latent, and the masses when only
the pixels with probability > ½ are lit (where the decoder is sure). Last line: JSON.

    .venv/bin/python bench/vae_mass_spread.py --run runs/study_generative/w/vae_hurdle --jet-type w
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np
import torch
from scipy.stats import wasserstein_distance

from sparsegen.core.defaults import PRESET
from sparsegen.core.jets import Jets
from sparsegen.data.cache import load_or_generate
from sparsegen.models.spec import load_model

QUANTILES = (0.1, 0.25, 0.5, 0.75, 0.9)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--run", default="runs/study_generative/w/vae_hurdle",
                   help="a generative-study run folder (its best checkpoint) or a checkpoint file")
    p.add_argument("--jet-type", default="w")
    p.add_argument("--num-jets", type=int, default=4000, help="jets per sample (the floor: two such samples)")
    p.add_argument("--draws", type=int, default=20, help="occupancy draws per latent for the spread")
    p.add_argument("--data-jets", type=int, default=35_000,
                   help="size of the generated file the jets come from (the generative study's: cached); its "
                        "last 2 × --num-jets jets are used")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--preset", default=PRESET)
    args = p.parse_args()
    torch.manual_seed(args.seed)
    run = Path(args.run)
    ckpt = run / "checkpoints" / json.loads((run / "result.json").read_text())["best_checkpoint"] \
        if (run / "result.json").exists() else run
    if not ckpt.is_file():
        raise SystemExit(f"error: {args.run}: no generative-study run or checkpoint there")
    model = load_model(ckpt).eval()
    dec, info, norm = model.decoder, model.data_info, model.normalizer
    if getattr(dec, "output", None) != "hurdle" or getattr(dec, "refiner", None) is not None:
        raise SystemExit(f"error: {ckpt}: needs a VAE whose decoder has the hurdle output on the data "
                         "grid")
    n = args.num_jets
    jets = load_or_generate(args.jet_type, max(args.data_jets, 2 * n), info.num_particles, args.seed,
                            workers=1, preset=args.preset)[-2 * n:]
    pt = float(np.median(jets.pt))  # GeV per unit of relative mass

    def masses(images_v: torch.Tensor) -> np.ndarray:
        x = norm.images_inverse(images_v)[:, 0].numpy()
        return Jets.from_images(x, pt=np.full(len(x), pt), extent=info.extent).mass

    with torch.no_grad():
        x = norm.images(torch.as_tensor(jets.to_images(info.npix, info.extent, True)[:, None]))
        real, other = masses(x[:n]), masses(x[n:])
        mu, _ = model.encode(x[:n])
        raw = dec(mu)
        gen = torch.Generator().manual_seed(args.seed)
        recon = masses(dec.to_sample(raw, gen))
        prior = masses(model.generate(n, gen))
        sure = masses(dec.conserve((torch.sigmoid(raw[:, :1]) > 0.5) * raw[:, 1:2], gen))
        k = min(n, 500)
        draws = np.stack([masses(dec.to_sample(raw[:k], gen)) for _ in range(args.draws)])
    rows = {"real": real, "reconstruction": recon, "prior": prior, "only p > 1/2 lit": sure}
    out = {"floor_w1m_gev": wasserstein_distance(real, other),
           "per_latent_mass_std_gev": float(np.median(draws.std(0))),
           "recon_mean_abs_error_gev": float(np.median(np.abs(draws.mean(0) - real[:k])))}
    print(f"{args.jet_type} jets, {n} vs {n}; W1 of the mass [GeV] to the real jets (floor "
          f"{out['floor_w1m_gev']:.2f}) and quantiles {QUANTILES}:")
    for name, m in rows.items():
        w1 = wasserstein_distance(m, other if name == "real" else real)
        out[f"w1m_gev {name}"] = w1
        print(f"  {name:18s} W1M {w1:6.2f}  " + " ".join(f"{q:6.1f}" for q in np.quantile(m, QUANTILES)))
    print(f"  mass spread over {args.draws} occupancy draws of one latent (median over {k} jets): "
          f"{out['per_latent_mass_std_gev']:.1f} GeV; |mean over draws - the jet's mass|: "
          f"{out['recon_mean_abs_error_gev']:.1f} GeV")
    print(json.dumps(out))


if __name__ == "__main__":
    main()
