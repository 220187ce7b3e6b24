"""Generative LightningModules (thin; networks are injected from configs) and their components."""

from sparsegen.models.base import GenerativeModel
from sparsegen.models.distillation import FlowDistillation
from sparsegen.models.flow_matching import FlowMatching
from sparsegen.models.vae import VAE
from sparsegen.models.wgan_gp import WGANGP

__all__ = ["GenerativeModel", "WGANGP", "VAE", "FlowMatching", "FlowDistillation"]
