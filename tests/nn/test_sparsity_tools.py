"""L1FeaturePenalty and ActivationSparsityMonitor: values, hook lifecycle, effect on training, Lightning."""

from __future__ import annotations

import pytest
import pytorch_lightning as pl
import torch
from torch import nn

from sparsegen.models.callbacks import ActivationSparsityMonitor
from sparsegen.nn.losses import L1FeaturePenalty
from sparsegen.nn.sparse import SparseImage, SubmanifoldConv2d
from sparsegen.nn.sparse_ops import SparseReLU


def _autoencoder() -> nn.Sequential:
    return nn.Sequential(nn.Linear(16, 64), nn.ReLU(), nn.Linear(64, 16))


def test_penalty_value_weights_and_removal() -> None:
    torch.manual_seed(0)
    net = _autoencoder()
    x = torch.randn(8, 16)
    pen = L1FeaturePenalty(
        {"hidden": net[1], "out": net[2]}, weights={"hidden": 2.0, "out": 0.5}, reduction="sum"
    )
    h = net[1](net[0](x))
    out = net(x)
    # net(x) recorded both modules once; the manual call above recorded "hidden" once more
    expected = 2.0 * h.abs().sum() * 2 + 0.5 * out.abs().sum()
    torch.testing.assert_close(pen.loss(), expected)
    assert pen.loss().item() == 0.0  # cleared
    pen.remove()
    mean = L1FeaturePenalty([net[1]], weights=[3.0])
    net(x)
    torch.testing.assert_close(mean.loss(), 3.0 * h.abs().mean())
    mean.remove()
    net(x)
    assert mean.loss().item() == 0.0
    with L1FeaturePenalty([net[1]], reduction="batchmean") as ctx:
        with torch.no_grad():
            net(x)  # recorded without a graph: reports the value, nothing to backpropagate
        no_grad_value = ctx.loss()
        assert not no_grad_value.requires_grad
        torch.testing.assert_close(no_grad_value, h.detach().abs().sum() / 8)
        net(x)
        torch.testing.assert_close(ctx.loss(), h.abs().sum() / 8)
    assert not net[1]._forward_hooks
    with pytest.raises(ValueError):
        L1FeaturePenalty([net[1]], weights=[1.0, 2.0])


def test_penalty_and_monitor_read_sparse_images() -> None:
    torch.manual_seed(1)
    conv, relu = SubmanifoldConv2d(1, 4), SparseReLU()
    x = torch.zeros(2, 1, 8, 8)
    x[0, 0, 2, 3], x[1, 0, 5, 5] = 1.0, -2.0
    with L1FeaturePenalty({"relu": relu}) as pen, ActivationSparsityMonitor({"relu": relu}) as mon:
        y = relu(conv(SparseImage.from_dense(x)))
        torch.testing.assert_close(pen.loss(), y.features.abs().mean())
        stats = mon.compute()["relu"]
    assert stats["zero_fraction"] == pytest.approx(float((y.features == 0).float().mean()))
    assert stats["mean_l1"] == pytest.approx(float(y.features.abs().sum() / 2))


def _train(l1_weight: float, steps: int = 150) -> float:
    torch.manual_seed(2)
    g = torch.Generator().manual_seed(3)
    data = torch.randn(256, 4, generator=g) @ torch.randn(4, 16, generator=g)  # rank-4 data
    net = _autoencoder()
    opt = torch.optim.Adam(net.parameters(), lr=1e-2)
    pen = L1FeaturePenalty({"hidden": net[1]}, weights=l1_weight)
    for _ in range(steps):
        recon = (net(data) - data).pow(2).mean()
        loss = recon + pen.loss()
        opt.zero_grad()
        loss.backward()
        opt.step()
    pen.remove()
    mon = ActivationSparsityMonitor({"hidden": net[1]}).attach()
    with torch.no_grad():
        net(data)
    mon.detach()
    return mon.compute()["hidden"]["zero_fraction"]


def test_l1_penalty_raises_zero_fraction() -> None:
    base = _train(0.0)
    sparse = _train(1.0)
    assert sparse > base + 0.15, (base, sparse)


class _TinyModule(pl.LightningModule):
    def __init__(self) -> None:
        super().__init__()
        self.net = _autoencoder()

    def training_step(self, batch: tuple[torch.Tensor], batch_idx: int) -> torch.Tensor:
        (x,) = batch
        return (self.net(x) - x).pow(2).mean()

    def configure_optimizers(self) -> torch.optim.Optimizer:
        return torch.optim.SGD(self.parameters(), lr=0.01)


@pytest.mark.slow
def test_monitor_logs_as_lightning_callback(tmp_path) -> None:
    torch.manual_seed(4)
    data = torch.utils.data.TensorDataset(torch.randn(32, 16, generator=torch.Generator().manual_seed(5)))
    loader = torch.utils.data.DataLoader(data, batch_size=8)
    monitor = ActivationSparsityMonitor()  # default: every nn.ReLU of the module
    trainer = pl.Trainer(max_steps=2, logger=False, enable_checkpointing=False, enable_progress_bar=False,
                         enable_model_summary=False, accelerator="cpu", default_root_dir=tmp_path,
                         callbacks=[monitor])
    module = _TinyModule()
    trainer.fit(module, loader)
    zf = trainer.callback_metrics["sparsity/net.1/zero_fraction"]
    l1 = trainer.callback_metrics["sparsity/net.1/mean_l1"]
    assert 0.0 <= float(zf) <= 1.0 and float(l1) > 0.0
    assert not module.net[1]._forward_hooks  # detached at teardown
