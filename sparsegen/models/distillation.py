"""`FlowDistillation`: a few-step student of a trained flow-matching teacher (given by its checkpoint).

A trained flow maps each source draw x0 ~ N(0, I) to a jet x1 = Φ(x0) by integrating its ODE with many
network evaluations (the demo's teacher: 32 midpoint steps, 64 evaluations). The student learns that map
directly (knowledge distillation of the ODE, Luhman & Luhman 2021; with k > 1 steps, the straight paths of
rectified flow's reflow, Liu et al. 2023):

    a bank of pairs (x0, x1 = Φ_teacher(x0)) with the multiplicities and conditions of the training jets,
    t ~ U{0, 1/k, …, (k−1)/k},  x_t = (1 − t) x0 + t x1,
    L = Σ_{i: m_i} ‖v_θ(x_t, t | n, c)_i − (x1 − x0)_i‖² / (F Σ_i m_i),

so k Euler steps of the student follow the straight line from x0 to the teacher's jet (one step:
x1 ≈ x0 + v_θ(x0, 0)). Everything else is `FlowMatching`'s: the flow coordinates (taken from the teacher,
with its fitted standardization), EMA, the learning-rate schedule, sampling and `Jets` in GeV, so the
student is an ordinary checkpoint for ``sparsegen sample``, ``evaluate`` and conditioning. The teacher's
classifier-free guidance is part of the pairs; the student samples without guidance, at one evaluation per
step.

The regression alone cannot follow a teacher map that changes fast in x0 (which collinear splitting a draw
lands on) and averages it: the jets' two- and three-prong structure washes out (τ21, τ32 drift up). Two
optional terms act on the student's k-step samples x̂1 of bank draws, next to the regression that keeps it on
the teacher's map:

* ``substructure`` = μ > 0: μ·[W1(τ21) + W1(τ32)] between the student's batch and the data batch, on
  un-normalized particles, differentiable with the N-subjettiness axes held fixed
  (`sparsegen.nn.losses.nsubjettiness_ratio`) — matching a physics observable the network learns last, as
  the MMD on resonance masses of Butter, Plehn & Winterhalder (2019) does for event GANs;
* ``critic`` and ``adversarial`` = λ > 0: a GAN against the training jets (adversarial distillation): the
  critic, a point-set discriminator in the flow's coordinates, tells data from x̂1 (non-saturating logistic
  loss) and the student adds λ·softplus(−D(x̂1)). Manual optimization then (two optimizers; Lightning's
  ``global_step`` counts both).

What each does to which metric: docs/point_models.md, "Few-step generation".

The bank is made on first use in a fit (``pairs`` jets, seeded: a resumed run rebuilds the same bank) and
is not stored in checkpoints; a student network of the teacher's shape (or sharing some of its layers) starts
from the teacher's weights (``init_from_teacher``). Cost and quality per network evaluation:
docs/point_models.md ("Few-step generation").
"""

from __future__ import annotations

from typing import Literal

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from sparsegen.core.errors import SparsegenInputError
from sparsegen.models.base import LRSchedule, check_finite
from sparsegen.models.flow_matching import FlowMatching
from sparsegen.nn.losses import nsubjettiness_ratio, quantile_w1


class FlowDistillation(FlowMatching):
    """Few-step student of a `FlowMatching` teacher checkpoint (see the module docstring for the math)."""

    networks = ("velocity", "critic")  # injected; the critic only with the adversarial term

    def __init__(
        self,
        velocity: nn.Module,
        teacher: str = "",
        pairs: int = 20_000,
        teacher_steps: int | None = None,
        init_from_teacher: bool = True,
        val_pairs: int = 1_000,
        pair_seed: int = 0,
        num_steps: int = 1,
        lr: float = 3e-4,
        weight_decay: float = 0.0,
        warmup_steps: int = 50,
        ema_decay: float | None = 0.999,
        chunk_size: int = 1024,
        lr_schedule: LRSchedule = "cosine",
        lr_min_factor: float = 0.05,
        ptrel_space: Literal["linear", "log"] = "linear",
        angle_space: Literal["linear", "asinh"] = "linear",
        angle_width: float = 0.02,
        conserve_pt: bool = False,
        critic: nn.Module | None = None,
        adversarial: float = 0.0,
        critic_lr: float = 1e-4,
        substructure: float = 0.0,
        betas: tuple[float, float] = (0.5, 0.9),
    ) -> None:
        if not adversarial >= 0:
            raise SparsegenInputError("config", f"adversarial must be >= 0, got {adversarial}")
        if not substructure >= 0:
            raise SparsegenInputError("config", f"substructure must be >= 0, got {substructure}")
        if adversarial > 0 and critic is None:
            raise SparsegenInputError("config", "adversarial > 0 needs model.init_args.critic (a point "
                                                "critic, e.g. sparsegen.models.components.EPiCCritic)")
        if pairs < 1 or val_pairs < 1:
            raise SparsegenInputError("config", f"pairs and val_pairs must be >= 1, got {pairs}, {val_pairs}")
        if teacher_steps is not None and teacher_steps < 1:
            raise SparsegenInputError("config", f"teacher_steps must be >= 1, got {teacher_steps}")
        super().__init__(velocity, num_steps=num_steps, solver="euler", lr=lr, weight_decay=weight_decay,
                         warmup_steps=warmup_steps, ema_decay=ema_decay, chunk_size=chunk_size,
                         ptrel_space=ptrel_space, angle_space=angle_space, angle_width=angle_width,
                         lr_schedule=lr_schedule, lr_min_factor=lr_min_factor, conserve_pt=conserve_pt)
        # the FlowMatching settings a student does not take (hparams hold only this class's arguments)
        self.hparams.update(solver="euler", coupling="independent", time_sampling="uniform", guidance=0.0,
                            cond_dropout=0.0)
        self.critic = critic if adversarial > 0 else None
        self.automatic_optimization = self.critic is None  # a GAN step is two optimizers: manual
        self._bank: dict[str, dict[str, Tensor | None]] = {}
        object.__setattr__(self, "_teacher", None)  # not a submodule: the teacher stays out of checkpoints

    # ----------------------------------------------------------------------------- the teacher
    def load_teacher(self) -> FlowMatching:
        """The teacher model, checked against this student's data and flow coordinates."""
        from sparsegen.models.spec import load_model

        path = self.hparams.teacher
        if not path:
            raise SparsegenInputError("config", "FlowDistillation needs model.init_args.teacher: the path "
                                                "of a trained flow-matching checkpoint")
        teacher = load_model(path, device=self.device)
        if not isinstance(teacher, FlowMatching):
            raise SparsegenInputError(path, f"the teacher must be a flow-matching checkpoint, this one is a "
                                            f"{type(teacher).__name__}")
        mine, theirs = self.data_info, teacher.data_info
        for what in ("representation", "num_particles"):
            if getattr(mine, what) != getattr(theirs, what):
                raise SparsegenInputError(path, f"the teacher was trained on data with {what} "
                                                f"{getattr(theirs, what)}, this run's data has "
                                                f"{getattr(mine, what)}")
        if (mine.spec.names, mine.spec.classes) != (theirs.spec.names, theirs.spec.classes):
            raise SparsegenInputError(path, f"the teacher's conditions {theirs.spec.names} and classes "
                                            f"{theirs.spec.classes} differ from this run's data "
                                            f"({mine.spec.names}, {mine.spec.classes})")
        for key in ("ptrel_space", "angle_space", "angle_width"):
            if self.hparams[key] != teacher.hparams[key]:
                raise SparsegenInputError("config", f"model.init_args.{key} is {self.hparams[key]!r} but "
                                                    f"the teacher's is {teacher.hparams[key]!r}: the student "
                                                    "flows in the teacher's coordinates")
        return teacher.eval()

    def setup(self, stage: str) -> None:
        """Fresh fits start in the teacher's coordinates (its fitted standardization) and, with
        ``init_from_teacher``, from its weights; a resumed run's own weights are restored after this."""
        super().setup(stage)
        if stage != "fit" or self._trainer is None or getattr(self.trainer, "datamodule", None) is None:
            return
        teacher = self.teacher_model()
        self.space.load_state_dict(teacher.space.state_dict())
        if self.hparams.init_from_teacher:
            self._init_from(teacher.velocity_ema or teacher.velocity)

    def teacher_model(self) -> FlowMatching:
        if self._teacher is None:
            object.__setattr__(self, "_teacher", self.load_teacher())
        return self._teacher

    def _init_from(self, net: nn.Module) -> None:
        """Copy every teacher weight whose name and shape the student shares (all of them for a student of
        the teacher's shape; the shared layers of a smaller one)."""
        mine = self.velocity.state_dict()
        shared = {k: v for k, v in net.state_dict().items() if k in mine and mine[k].shape == v.shape}
        for target in (self.velocity, self.velocity_ema):
            if target is not None:
                target.load_state_dict(shared, strict=False)

    def pairs(self, split: str) -> dict[str, Tensor | None]:
        """The bank of ``split`` ("train": ``pairs`` jets, "val": ``val_pairs``), made on first use."""
        if split not in self._bank:
            num = self.hparams.pairs if split == "train" else self.hparams.val_pairs
            self._bank[split] = self._make_pairs(self.teacher_model(), num, split,
                                                 self.hparams.pair_seed + (split == "val"))
            if len(self._bank) == 2:
                object.__setattr__(self, "_teacher", None)  # both banks made: the teacher is done
        return self._bank[split]

    @torch.no_grad()
    def _make_pairs(self, teacher: FlowMatching, num: int, split: str, seed: int) -> dict[str, Tensor | None]:
        """``num`` (x0, x1) pairs of the teacher, each with the mask and condition of a real jet of ``split``
        (the data module's loader, cycled), integrated ``chunk_size`` jets at a time."""
        from tqdm.auto import tqdm

        dm = self.trainer.datamodule
        loader = dm.train_dataloader() if split == "train" else dm.val_dataloader()
        masks: list[Tensor] = []
        conds: list[Tensor] = []
        while sum(len(m) for m in masks) < num:
            for batch in loader:
                masks.append(batch["mask"])
                if batch.get("cond") is not None:
                    conds.append(batch["cond"])
        mask = torch.cat(masks)[:num].to(self.device)
        cond = torch.cat(conds)[:num].to(self.device) if conds else None
        x0 = self.source(mask, torch.Generator(device=self.device).manual_seed(seed))
        chunk = int(self.hparams.chunk_size)
        x1 = []
        for i in tqdm(range(0, num, chunk), desc=f"teacher pairs ({split}, {num} jets)", unit="chunk",
                      disable=not self.trainer.progress_bar_callback):
            sl = slice(i, i + chunk)
            x1.append(teacher.integrate(x0[sl], mask[sl], None if cond is None else cond[sl],
                                        num_steps=self.hparams.teacher_steps))
        return {"x0": x0, "x1": torch.cat(x1), "mask": mask, "cond": cond}

    # ----------------------------------------------------------------------------- training
    def distillation_loss(self, pairs: dict[str, Tensor | None], index: Tensor, generator: torch.Generator,
                          net: nn.Module, with_sample: bool = False) -> Tensor | tuple[Tensor, Tensor]:
        """Masked MSE between the student's velocity on the straight path and x1 − x0 (module docstring);
        ``with_sample``: also the student's sample of the pairs' x0 (`student_sample`; for one step the
        regression's own evaluation)."""
        x0, x1, mask = pairs["x0"][index], pairs["x1"][index], pairs["mask"][index]
        cond = None if pairs["cond"] is None else pairs["cond"][index]
        k = int(self.hparams.num_steps)
        t = torch.randint(0, k, (len(index),), generator=generator, device=x0.device).to(x0.dtype) / k
        tt = t[:, None, None]
        v = net((1 - tt) * x0 + tt * x1, mask, t, cond)
        loss = self.space.masked_mean((v - (x1 - x0)) ** 2, mask)
        if not with_sample:
            return loss
        return loss, (x0 + v if k == 1 else self.student_sample(x0, mask, cond, net))

    def _batch_generator(self, step: int, salt: int) -> torch.Generator:
        seed = self.hparams.pair_seed * 1_000_003 + salt * 7919 + step
        return torch.Generator(device=self.device).manual_seed(seed)

    def training_step(self, batch: dict[str, Tensor], batch_idx: int) -> Tensor | None:
        """A minibatch of pairs the size of the data batch, drawn from the bank (seeded by the step): the
        regression, plus the substructure and adversarial terms when they are on (the latter after one
        critic step on this data batch and the bank's student samples)."""
        pairs = self.pairs("train")
        gen = self._batch_generator(int(self.global_step), 1 + self.global_rank)
        index = torch.randint(0, len(pairs["x0"]), (len(batch["mask"]),), generator=gen, device=self.device)
        x0, mask = pairs["x0"][index], pairs["mask"][index]
        cond = None if pairs["cond"] is None else pairs["cond"][index]
        n, logs = len(index), {}
        if self.critic is not None:
            logs["critic_loss"] = self._critic_step(batch, x0, mask, cond)
        lam, mu = float(self.hparams.adversarial), float(self.hparams.substructure)
        if lam > 0 or mu > 0:
            regression, fake = self.distillation_loss(pairs, index, gen, self.velocity, with_sample=True)
            loss = regression
            if lam > 0:
                self.critic.requires_grad_(False)  # the student's step moves the student only
                logs["adversarial"] = F.softplus(-self._critic(fake, mask, cond)).mean()
                self.critic.requires_grad_(True)
                loss = loss + lam * logs["adversarial"]
            if mu > 0:
                logs["substructure"] = self.substructure_distance(batch, fake, mask)
                loss = loss + mu * logs["substructure"]
        else:
            regression = loss = self.distillation_loss(pairs, index, gen, self.velocity)
        check_finite(loss, "distillation loss", self.global_step)
        self.log("train/loss", regression.detach(), prog_bar=True, batch_size=n)
        if logs:
            self.log_dict({f"train/{k}": v.detach() for k, v in logs.items()}, batch_size=n)
        if self.automatic_optimization:
            return loss
        opt_v = self.optimizers()[0]
        opt_v.zero_grad(set_to_none=True)
        self.manual_backward(loss)
        opt_v.step()
        self.lr_schedulers().step()
        return None

    def student_sample(self, x0: Tensor, mask: Tensor, cond: Tensor | None, net: nn.Module) -> Tensor:
        """The student's k Euler steps from x0 (flow space), differentiable (the sampler is `integrate`)."""
        k = int(self.hparams.num_steps)
        x = x0
        for i in range(k):
            t = torch.full((len(x0),), i / k, device=x0.device, dtype=x0.dtype)
            x = x + net(x, mask, t, cond) / k
        return x

    def substructure_distance(self, batch: dict[str, Tensor], fake: Tensor, mask: Tensor) -> Tensor:
        """W1(τ21) + W1(τ32) between the student's jets (flow space ``fake`` on ``mask``) and the data batch,
        on un-normalized particles (`nsubjettiness_ratio`, differentiable with fixed axes)."""
        norm = self.normalizer
        x_real, m_real = self.real_from_batch(batch)
        with torch.no_grad():
            real = norm.points_inverse(x_real, m_real)
        ours = norm.points_inverse(self.from_flow(fake, mask), mask)
        return sum(quantile_w1(nsubjettiness_ratio(real, m_real, k), nsubjettiness_ratio(ours, mask, k))
                   for k in (2, 3))

    def _critic(self, x: Tensor, mask: Tensor, cond: Tensor | None) -> Tensor:
        return self.critic((x, mask)) if cond is None else self.critic((x, mask), cond)

    def _critic_step(self, batch: dict[str, Tensor], x0: Tensor, mask: Tensor, cond: Tensor | None) -> Tensor:
        """One step of the critic: this data batch (flow space) against the student's samples of x0."""
        opt_c = self.optimizers()[1]
        x_real, m_real = self.real_from_batch(batch)
        with torch.no_grad():
            fake = self.student_sample(x0, mask, cond, self.velocity)
        loss_c = (F.softplus(-self._critic(self.to_flow(x_real, m_real), m_real, batch.get("cond"))).mean()
                  + F.softplus(self._critic(fake, mask, cond)).mean())
        check_finite(loss_c, "critic loss", self.global_step)
        opt_c.zero_grad(set_to_none=True)
        self.manual_backward(loss_c)
        opt_c.step()
        return loss_c

    def configure_optimizers(self) -> dict | tuple[list, list]:
        """The student's optimizer and schedule (`FlowMatching`'s); with the adversarial term also the
        critic's Adam at a constant ``critic_lr``."""
        student = super().configure_optimizers()
        if self.critic is None:
            return student
        hp = self.hparams
        opt_c = torch.optim.Adam(self.critic.parameters(), lr=hp.critic_lr, betas=tuple(hp.betas))
        return [student["optimizer"], opt_c], [student["lr_scheduler"]]

    def validation_step(self, batch: dict[str, Tensor], batch_idx: int) -> None:
        if batch_idx:
            return
        pairs = self.pairs("val")
        net = self.velocity_ema if self.velocity_ema is not None else self.velocity
        gen = self._batch_generator(0, 1)
        index = torch.arange(len(pairs["x0"]), device=self.device)
        self.log("val/loss", self.distillation_loss(pairs, index, gen, net), prog_bar=True,
                 batch_size=len(index))

    def on_train_batch_start(self, batch: dict[str, Tensor], batch_idx: int) -> None:
        """The flow coordinates are the teacher's (`on_fit_start`): nothing to fit."""
