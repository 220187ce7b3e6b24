"""Few-step students (`FlowDistillation`): a fit from a teacher checkpoint starts in the teacher's
coordinates and weights, learns the teacher's ODE map, samples as an ordinary checkpoint without the
teacher, and refuses teachers it cannot learn from with one line."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
import torch

from sparsegen.cli import main
from sparsegen.core.errors import SparsegenInputError
from sparsegen.models import FlowDistillation, FlowMatching
from sparsegen.models.spec import load_model
from tests.models.test_configs import SMALL, check_gev

pytestmark = pytest.mark.slow
NET = "--model.init_args.velocity.init_args."
SMALL_NET = [f"{NET}hidden", "32", f"{NET}attention", "1", f"{NET}num_layers", "2"]


@pytest.fixture(scope="module")
def teacher_ckpt(model_data_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A briefly trained flow of the demo's recipe (log ptrel, FiLM, attention), smaller; one per module."""
    run = tmp_path_factory.mktemp("teacher")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("SPARSEGEN_DATA", str(model_data_dir))
        assert main(["fit", "--config", "quickstart", *SMALL, *SMALL_NET, "--model.init_args.num_steps", "4",
                     "--trainer.default_root_dir", str(run)]) == 0
    return run / "checkpoints" / "last.ckpt"


@pytest.fixture
def teacher(teacher_ckpt: Path, use_model_data: Path) -> Path:
    """A copy of the module's teacher for one test (a test may move it)."""
    copy = use_model_data / "teacher.ckpt"
    shutil.copy(teacher_ckpt, copy)
    return copy


def distil(teacher: Path, root: Path, *extra: str) -> int:
    return main(["fit", "--config", "distill/quickstart", *SMALL, *SMALL_NET, "--model.init_args.teacher",
                 str(teacher), "--model.init_args.pairs", "64", "--model.init_args.val_pairs", "16",
                 "--trainer.default_root_dir", str(root / "student"), *extra])


def test_a_student_starts_as_its_teacher_and_samples_without_it(teacher: Path, use_model_data: Path):
    assert distil(teacher, use_model_data, "--model.init_args.lr", "0") == 0  # lr 0: the start is kept
    ckpt = use_model_data / "student" / "checkpoints" / "last.ckpt"
    moved = teacher.with_name("elsewhere.ckpt")
    shutil.move(teacher, moved)  # the student checkpoint needs no teacher to sample
    student, parent = load_model(ckpt), load_model(moved)
    assert isinstance(student, FlowDistillation) and student.hparams.num_steps == 1
    assert torch.equal(student.space.ptrel_log.loc, parent.space.ptrel_log.loc)
    for name, value in parent.velocity_ema.state_dict().items():
        assert torch.equal(student.velocity_ema.state_dict()[name], value), name
    # one student step from x0 is the teacher's one Euler step from the same x0
    mask = torch.arange(30)[None] < torch.tensor([[30], [12], [5]])
    x0 = student.source(mask, torch.Generator().manual_seed(0))
    torch.testing.assert_close(student.integrate(x0, mask), parent.integrate(x0, mask, num_steps=1,
                                                                              solver="euler"))
    jets = student.sample(50, seed=0)
    check_gev(jets, {"conditions": student.data_info.conditions})
    assert len(jets) == 50 and (jets.num_particles >= 1).all()


def test_distillation_learns_the_teachers_map(teacher: Path):
    """On a fixed bank, the student's one-step output moves far closer to the teacher's ODE endpoints
    (8 midpoint steps of a curved field) than the teacher's own one-step Euler start."""
    parent = load_model(teacher)
    torch.manual_seed(0)
    with torch.no_grad():  # a curved field: a short fit leaves the output layer near its zero start
        torch.nn.init.normal_(parent.velocity_ema.out.weight, std=0.5)
    net = type(parent.velocity)(**parent.velocity.spec["init_args"])
    student = FlowDistillation(net, teacher=str(teacher), ptrel_space="log", lr=3e-3, warmup_steps=1,
                               ema_decay=None)
    student.data_info = parent.data_info
    student._init_from(parent.velocity_ema)
    mask = torch.arange(30)[None] < torch.randint(5, 31, (64, 1), generator=torch.Generator().manual_seed(1))
    x0 = student.source(mask, torch.Generator().manual_seed(2))
    bank = {"x0": x0, "x1": parent.integrate(x0, mask, num_steps=8), "mask": mask, "cond": None}

    def error() -> float:
        return float(((student.integrate(x0, mask) - bank["x1"]) ** 2)[mask].mean())

    before = error()
    opt = torch.optim.Adam(student.velocity.parameters(), lr=3e-3)
    gen = torch.Generator().manual_seed(3)
    for _ in range(150):
        index = torch.randint(0, 64, (32,), generator=gen)
        loss = student.distillation_loss(bank, index, gen, student.velocity)
        opt.zero_grad()
        loss.backward()
        opt.step()
    assert error() < 0.3 * before, (before, error())


def test_a_teacher_it_cannot_learn_from_is_one_config_error(teacher: Path, use_model_data: Path, capsys,
                                                             tiny_checkpoint: Path):
    cases = [
        (["--model.init_args.teacher", ""], "needs model.init_args.teacher"),
        (["--model.init_args.teacher", str(tiny_checkpoint)], "must be a flow-matching checkpoint"),
        (["--model.init_args.ptrel_space", "linear"], "the student flows in the teacher's coordinates"),
        (["--data.init_args.num_particles", "20"], "num_particles"),
    ]
    for extra, message in cases:
        assert distil(teacher, use_model_data, *extra) == 2, extra
        err = capsys.readouterr().err.strip().splitlines()
        assert len(err) == 1 and message in err[0] and "Traceback" not in err[0], err


def test_student_settings_are_checked_up_front():
    net = torch.nn.Linear(1, 1)
    for kwargs in ({"pairs": 0}, {"val_pairs": 0}, {"teacher_steps": 0}):
        with pytest.raises(SparsegenInputError):
            FlowDistillation(net, **kwargs)
    assert issubclass(FlowDistillation, FlowMatching)
