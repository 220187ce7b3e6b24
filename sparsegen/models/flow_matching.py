"""`FlowMatching`: conditional flow matching on particle sets (Lipman et al. 2023; EPiC-FM, PC-JeDi).

Training, per jet with real-particle mask m and multiplicity n:

    x1 = data (B, P, F), x0 ~ N(0, I) on the real slots, t ~ U(0, 1) per jet,
    x_t = (1 - t) x0 + t x1                    (straight-line interpolant, target velocity u = x1 - x0),
    L = Σ_{i: m_i} ‖v_θ(x_t, t | n, c)_i - u_i‖² / (F Σ_i m_i),

c the jet's normalized condition vector for a conditional model (the data's ``conditions``: class, pT, …,
embedded by the velocity network), absent otherwise.

Everything particle-specific — the coordinates the flow models, the masks, the source on the real slots,
the coupling of source and data particles (``coupling="ot"``: equivariant OT within each jet) — is the flow
space's (`sparsegen.models.flow_space.ParticleSpace`, built from ``ptrel_space``, ``angle_space``,
``angle_width`` and ``coupling``); this module is the representation-agnostic part (`FlowSpace`).

Sampling: n = the jet's multiplicity (given as a condition, or drawn from the training multiplicity of its
class by `GenerativeModel.sample`), x0 ~ N(0, I) on the first n slots, then dx/dt = v_θ(x, t) integrated
from t = 0 to 1 with a fixed-step solver (``solver="midpoint"``, second order, 2 evaluations per step; or
``"euler"``, 1) over ``num_steps`` steps, using the EMA weights. The network (``velocity``) is injected
(``sparsegen.models.components.EPiCVelocity`` / ``TransformerVelocity``). The flow runs in its space's
coordinates: ``ptrel_space="log"`` models log ptrel (every sample 0 < ptrel ≤ 1), ``angle_space="asinh"``
models asinh(Δη / s), asinh(Δφ / s). With linear ptrel, `to_jets` clips un-normalized ptrel at 0 (how many
particles land below: docs/point_models.md, "Results").

Classifier-free guidance (Ho & Salimans 2022) for a conditional model: trained with ``cond_dropout`` p (each
jet's condition replaced by "no condition" with probability p, `drop_condition`), the one network learns
both v(x, t | c) and v(x, t | ∅); sampling with ``guidance`` w follows

    v = v(x, t | c) + w [v(x, t | c) − v(x, t | ∅)]

(w = 0: the plain conditional field; w > 0 sharpens what distinguishes the condition, such as a top jet's
mass peak, at twice the cost per step).

``conserve_pt``: a jet's pT is a condition of the generated jet, and with every constituent kept it is by
definition the vector sum of the constituents' pT (|Σ ptrel p̂| = 1); a generated jet is rescaled to it,
ptrel ← ptrel / |Σ_i ptrel_i (cos φ_i, sin φ_i)|, because a flow leaves the sum spread and smears every mass
peak by as much (measured: docs/point_models.md, "Conditional flow matching"). Needs data that keep every
particle: fitting on jets cut at num_particles is a config error.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Literal

import torch
from torch import Tensor, nn

from sparsegen.core.errors import SparsegenInputError
from sparsegen.models.base import GenerativeModel, LRSchedule, check_finite, check_schedule
from sparsegen.models.components.conditioning import drop_condition
from sparsegen.models.flow_space import AngleSpace, FlowSpace, ParticleSpace, PtrelSpace

Velocity = Callable[[Tensor, Tensor], Tensor]  # (x, t (B,)) -> dx/dt
TimeSampling = Literal["uniform", "logit_normal", "late"]


def sample_time(n: int, kind: TimeSampling, generator: torch.Generator | None = None,
                device: torch.device | str = "cpu", dtype: torch.dtype = torch.float32) -> Tensor:
    """(n,) training times: U(0, 1); logit-normal t = σ(N(0, 1)) (more weight mid-path, none at the
    ends); or ``"late"``, t = 1 − (1 − u)², density 1 / (2√(1 − t)): more weight near the data end, where
    the fine structure (tight collinear clusters) is decided."""
    if kind == "uniform":
        return torch.rand(n, generator=generator, device=device, dtype=dtype)
    if kind == "logit_normal":
        return torch.sigmoid(torch.randn(n, generator=generator, device=device, dtype=dtype))
    if kind == "late":
        return 1.0 - (1.0 - torch.rand(n, generator=generator, device=device, dtype=dtype)) ** 2
    raise ValueError(f"time_sampling must be 'uniform', 'logit_normal' or 'late', got {kind!r}")


def check_guidance(guidance: float, cond_dropout: float) -> None:
    """Guidance needs a model that learned the unconditional field (trained with condition dropout)."""
    if guidance < 0:
        raise SparsegenInputError("guidance", f"must be >= 0, got {guidance}")
    if guidance > 0 and cond_dropout <= 0:
        raise SparsegenInputError("guidance", "needs a model trained with cond_dropout > 0 (it never learned "
                                              "the unconditional field)")


def guided_field(net: nn.Module, mask: Tensor, cond: Tensor | None, guidance: float) -> Velocity:
    """(x, t) ↦ v(x, t | c) + w [v(x, t | c) − v(x, t | ∅)] (the plain field for w = 0 or no condition);
    both fields in one batched call."""
    if cond is None or guidance == 0:
        return lambda x, t: net(x, mask, t, cond)
    everyone = torch.ones(len(cond), dtype=torch.bool, device=cond.device)
    cond2 = torch.cat([cond, drop_condition(cond, everyone)])
    mask2 = torch.cat([mask, mask])

    def field(x: Tensor, t: Tensor) -> Tensor:
        v_c, v_u = net(torch.cat([x, x]), mask2, torch.cat([t, t]), cond2).chunk(2)
        return v_c + guidance * (v_c - v_u)

    return field


def odeint_fixed(f: Velocity, x0: Tensor, num_steps: int, method: Literal["midpoint", "euler"] = "midpoint",
                 t0: float = 0.0, t1: float = 1.0) -> Tensor:
    """Integrate dx/dt = f(x, t) from t0 to t1 with ``num_steps`` equal steps (h = (t1 - t0) / num_steps).

    euler:    x ← x + h f(x, t)
    midpoint: x ← x + h f(x + h/2 f(x, t), t + h/2)      (local error O(h³), global O(h²))
    """
    if num_steps < 1:
        raise ValueError(f"num_steps must be >= 1, got {num_steps}")
    if method not in ("midpoint", "euler"):
        raise ValueError(f"method must be 'midpoint' or 'euler', got {method!r}")
    h = (t1 - t0) / num_steps
    x = x0
    b = x0.shape[0]
    for k in range(num_steps):
        t = torch.full((b,), t0 + k * h, dtype=x0.dtype, device=x0.device)
        if method == "euler":
            x = x + h * f(x, t)
        else:
            x_mid = x + (0.5 * h) * f(x, t)
            x = x + h * f(x_mid, t + 0.5 * h)
    return x


class FlowMatching(GenerativeModel):
    """Conditional flow matching LightningModule (see the module docstring for the math)."""

    family = "flow"  # what the studies group models by
    networks = ("velocity",)  # the injected network (init arg), whose `sparsity` the studies read

    def __init__(
        self,
        velocity: nn.Module,
        num_steps: int = 8,
        solver: Literal["midpoint", "euler"] = "midpoint",
        lr: float = 1e-3,
        weight_decay: float = 0.0,
        warmup_steps: int = 100,
        ema_decay: float | None = 0.999,
        coupling: Literal["independent", "ot"] = "independent",
        chunk_size: int = 1024,
        time_sampling: TimeSampling = "uniform",
        ptrel_space: PtrelSpace = "linear",
        angle_space: AngleSpace = "linear",
        angle_width: float = 0.02,
        lr_schedule: LRSchedule = "constant",
        lr_min_factor: float = 0.05,
        cond_dropout: float = 0.0,
        guidance: float = 0.0,
        conserve_pt: bool = False,
    ) -> None:
        super().__init__()
        if num_steps < 1:
            raise ValueError(f"num_steps must be >= 1, got {num_steps}")
        if solver not in ("midpoint", "euler"):
            raise ValueError(f"solver must be 'midpoint' or 'euler', got {solver!r}")
        if chunk_size < 1:
            raise ValueError(f"chunk_size must be >= 1, got {chunk_size}")
        sample_time(1, time_sampling)  # validates the name
        check_schedule(lr_schedule, lr_min_factor)
        if not 0.0 <= cond_dropout < 1.0:
            raise ValueError(f"cond_dropout must be in [0, 1), got {cond_dropout}")
        check_guidance(guidance, cond_dropout)
        self.save_hyperparameters(ignore=list(self.networks))  # networks are weights, not hparams
        self.conserve_pt = conserve_pt
        self.velocity = velocity
        self.velocity_ema = self.ema_copy(velocity, ema_decay)
        self.space = self.build_space(ptrel_space, angle_space, angle_width, coupling)

    def build_space(self, ptrel_space: PtrelSpace, angle_space: AngleSpace, angle_width: float,
                    coupling: str) -> FlowSpace:
        """The flow's space from the model's settings (a flow on another representation returns its own;
        a subclass's hparams need not hold these settings yet, so they come as arguments)."""
        return ParticleSpace(ptrel_space, angle_space, angle_width, coupling)  # type: ignore[arg-type]

    def conditional_networks(self) -> dict[str, nn.Module]:
        return {"velocity": self.velocity}

    # ----------------------------------------------------------------------------- training
    def flow_matching_loss(self, x1: Tensor, mask: Tensor, cond: Tensor | None = None,
                           generator: torch.Generator | None = None, net: nn.Module | None = None) -> Tensor:
        """Masked CFM loss of one batch (normalized features x1 (B, P, F), mask (B, P))."""
        net = net or self.velocity
        b = x1.shape[0]
        x1 = self.to_flow(x1, mask)
        x0 = self.space.source(mask, x1.shape[-1], generator, x1.dtype)
        x0 = self.space.couple(x0, x1, mask)
        t = sample_time(b, self.hparams.time_sampling, generator, x1.device, x1.dtype)
        p_drop = float(self.hparams.cond_dropout)
        if cond is not None and p_drop > 0:
            rows = torch.rand(b, generator=generator, device=x1.device) < p_drop
            cond = drop_condition(cond, rows)
        tt = t[:, None, None]
        xt = (1 - tt) * x0 + tt * x1
        v = net(xt, mask, t, cond)
        return self.space.masked_mean((v - (x1 - x0)) ** 2, mask)

    # ----------------------------------------------------------------------------- flow space
    def to_flow(self, x: Tensor, mask: Tensor) -> Tensor:
        """Normalized data → the space the flow models (`FlowSpace.to_flow`)."""
        return self.space.to_flow(x, mask, self.data_info)

    def from_flow(self, z: Tensor, mask: Tensor) -> Tensor:
        """The inverse of `to_flow`: flow space → normalized data."""
        return self.space.from_flow(z, mask, self.data_info)

    def on_train_batch_start(self, batch: dict[str, Tensor], batch_idx: int) -> None:
        """Fit the flow space on the first batch of a fresh fit (rank 0's, broadcast; `FlowSpace.fit`)."""
        x, mask = self.real_from_batch(batch)
        broadcast = None
        if self._trainer is not None and self.trainer.world_size > 1:
            broadcast = lambda buf: self.trainer.strategy.broadcast(buf, src=0)  # noqa: E731
        self.space.fit(x, mask, self.data_info, broadcast)

    # ----------------------------------------------------------------------------- steps
    def training_step(self, batch: dict[str, Tensor], batch_idx: int) -> Tensor:
        x1, mask = self.real_from_batch(batch)
        loss = self.flow_matching_loss(x1, mask, batch.get("cond"))
        check_finite(loss, "flow-matching loss", self.global_step)
        self.log("train/loss", loss.detach(), prog_bar=True, batch_size=x1.shape[0])
        return loss

    def on_train_batch_end(self, outputs: object, batch: object, batch_idx: int) -> None:
        self.update_ema(self.velocity_ema, self.velocity, self.hparams.ema_decay)

    def validation_step(self, batch: dict[str, Tensor], batch_idx: int) -> None:
        x1, mask = self.real_from_batch(batch)
        gen = torch.Generator(device=x1.device).manual_seed(batch_idx)  # same noise every epoch
        net = self.velocity_ema if self.velocity_ema is not None else self.velocity
        loss = self.flow_matching_loss(x1, mask, batch.get("cond"), generator=gen, net=net)
        self.log("val/loss", loss, prog_bar=True, batch_size=x1.shape[0])

    def configure_optimizers(self) -> dict:
        hp = self.hparams
        opt = torch.optim.AdamW(self.velocity.parameters(), lr=hp.lr, weight_decay=hp.weight_decay)
        sched = torch.optim.lr_scheduler.LambdaLR(opt, self.lr_factor)
        return {"optimizer": opt, "lr_scheduler": {"scheduler": sched, "interval": "step"}}

    def lr_factor(self, step: int) -> float:
        """Linear warm-up over ``warmup_steps``, then the run's schedule
        (`GenerativeModel.schedule_factor`)."""
        warm = min(1.0, (step + 1) / max(1, int(self.hparams.warmup_steps)))
        return warm * self.schedule_factor(step)

    # ----------------------------------------------------------------------------- sampling
    def generate(self, num: int, generator: torch.Generator | None = None, cond: Tensor | None = None,
                 counts: Tensor | None = None, num_steps: int | None = None,
                 solver: Literal["midpoint", "euler"] | None = None,
                 guidance: float | None = None) -> tuple[Tensor, Tensor]:
        """``num`` jets in normalized space: (x (num, P, F), mask (num, P)) by integrating the learned flow.

        ``cond`` (num, C): normalized conditions of a conditional model; ``counts`` (num,): multiplicities
        (default: drawn from the training histogram); ``guidance``: w of classifier-free guidance (default:
        the model's).

        The ODE runs on ``chunk_size`` jets at a time: every step sweeps the whole state several times, and
        ~1000 jets (a few MB) stay in CPU cache where 10k do not (the gain: docs/point_models.md, "Sampling
        speed of every point config"; raise it on GPUs).
        """
        mask = self.space.support(num, counts, self.data_info, self.device, generator)
        x0 = self.source(mask, generator)
        x1 = self.integrate(x0, mask, cond, num_steps, solver, guidance)
        return self.from_flow(x1, mask), mask

    def source(self, mask: Tensor, generator: torch.Generator | None = None) -> Tensor:
        """The source draw x0 on ``mask`` (`FlowSpace.source`), as many features as the network takes."""
        return self.space.source(mask, getattr(self.velocity, "features", 3), generator)

    def integrate(self, x0: Tensor, mask: Tensor, cond: Tensor | None = None, num_steps: int | None = None,
                  solver: Literal["midpoint", "euler"] | None = None,
                  guidance: float | None = None) -> Tensor:
        """The flow's image of x0 (flow space, (B, P, F)): the ODE from t = 0 to 1 with the sampling network
        (EMA weights), the model's solver and steps unless given, in chunks of ``chunk_size`` jets."""
        net = self.velocity_ema if self.velocity_ema is not None else self.velocity
        was_training = net.training
        net.eval()
        steps, method = num_steps or self.hparams.num_steps, solver or self.hparams.solver
        w = float(self.hparams.guidance if guidance is None else guidance)
        check_guidance(w, float(self.hparams.cond_dropout))
        out = []
        with torch.inference_mode():
            for i in range(0, len(x0), self.hparams.chunk_size):
                sl = slice(i, i + self.hparams.chunk_size)
                m, c = mask[sl], None if cond is None else cond[sl].to(x0.device)
                out.append(odeint_fixed(guided_field(net, m, c, w), x0[sl], steps, method))
        net.train(was_training)
        return torch.cat(out).clone()
