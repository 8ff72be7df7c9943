"""The models of the whole-model CPU benchmark, shared by peers.py (PyTorch's own runtimes) and,
through the TorchScript files export_torchscript writes, by build/fx_models_bench (fx).

Each builder seeds torch with 0, builds the model in eval mode with random weights (no
pretrained checkpoints are downloaded; the CNNs' BatchNorm statistics are set from one random
batch, see _calibrate_batchnorm) and returns (module, example_input) for a batch size:

  resnet18, mobilenet_v2, efficientnet_b0   torchvision, input (B, 3, 224, 224)
  bert_layer   one BERT-base encoder layer (768 wide, 12 heads, FFN 3072, GELU, post-norm),
               input (B, 128, 768)
  mlp          LayerNorm(x + Linear(2048->512)(GELU tanh(Linear(512->2048)(x)))), input (B, 64, 512)

The models are single-input, single-output on purpose: the C++ side feeds `<model>_b<B>_input.pt`
and compares one tensor.
"""

import contextlib
import os

import torch

CNNS = ("resnet18", "mobilenet_v2", "efficientnet_b0")


def _calibrate_batchnorm(m, batch=8):
    """Sets every BatchNorm's running statistics to those of one random batch.

    With weights=None, torchvision's BatchNorms keep mean 0 and variance 1, so in eval mode they
    barely normalize and activations shrink layer by layer: mobilenet_v2's logits come out
    near 1e-9 and efficientnet_b0's near 1e-14, which makes an atol check vacuous and puts
    timings at risk of denormal arithmetic. Calibrated, the logits are of order 1."""
    bns = [b for b in m.modules() if isinstance(b, torch.nn.modules.batchnorm._BatchNorm)]
    momenta = [b.momentum for b in bns]
    for b in bns:
        b.reset_running_stats()
        b.momentum = None  # a cumulative average: one batch sets the statistics outright
        b.train()
    with torch.no_grad():
        m(torch.randn(batch, 3, 224, 224))
    for b, momentum in zip(bns, momenta):
        b.momentum = momentum
        b.eval()


def _cnn(name, batch):
    import torchvision

    torch.manual_seed(0)
    m = getattr(torchvision.models, name)(weights=None).eval()
    _calibrate_batchnorm(m)
    return m, torch.randn(batch, 3, 224, 224)


def resnet18(batch):
    return _cnn("resnet18", batch)


def mobilenet_v2(batch):
    return _cnn("mobilenet_v2", batch)


def efficientnet_b0(batch):
    return _cnn("efficientnet_b0", batch)


def bert_layer(batch):
    torch.manual_seed(0)
    m = torch.nn.TransformerEncoderLayer(
        768, 12, 3072, dropout=0.0, activation="gelu", batch_first=True
    ).eval()
    return m, torch.randn(batch, 128, 768)


class Mlp(torch.nn.Module):
    """A transformer MLP block with its residual and norm: bench_models.h's mlp_module plus a
    LayerNorm, so the fused elementwise tail is followed by a reduction."""

    def __init__(self, dim=512, hidden=2048):
        super().__init__()
        self.fc1 = torch.nn.Linear(dim, hidden)
        self.fc2 = torch.nn.Linear(hidden, dim)
        self.norm = torch.nn.LayerNorm(dim)

    def forward(self, x):
        h = torch.nn.functional.gelu(self.fc1(x), approximate="tanh")
        return self.norm(x + self.fc2(h))


def mlp(batch):
    torch.manual_seed(0)
    m = Mlp().eval()
    return m, torch.randn(batch, 64, 512)


MODELS = {
    "resnet18": resnet18,
    "mobilenet_v2": mobilenet_v2,
    "efficientnet_b0": efficientnet_b0,
    "bert_layer": bert_layer,
    "mlp": mlp,
}


def build(name, batch):
    """(eval-mode module, example input) for a model name of MODELS."""
    if name not in MODELS:
        raise ValueError(f"unknown model '{name}'; known: {', '.join(MODELS)}")
    return MODELS[name](batch)


@contextlib.contextmanager
def mha_slow_path():
    """Keeps nn.TransformerEncoderLayer off its fused fast path
    (aten::_transformer_encoder_layer_fwd), so a trace records the layer's separate ops."""
    was = torch.backends.mha.get_fastpath_enabled()
    torch.backends.mha.set_fastpath_enabled(False)
    try:
        yield
    finally:
        torch.backends.mha.set_fastpath_enabled(was)


def trace(m, x):
    """torch.jit.trace of an eval-mode model, for every model of the zoo, so every model reaches
    fx through the same door. (Scripted, bert_layer imports too when fx is given example inputs
    for its shape checks; the traced graph has none of those checks to run.)"""
    with mha_slow_path():
        return torch.jit.trace(m, (x,), check_trace=False)


def input_path(path):
    """Where export_torchscript puts the input of the model saved at `path`:
    resnet18_b1.pt -> resnet18_b1_input.pt."""
    root, ext = os.path.splitext(path)
    return root + "_input" + (ext or ".pt")


def export_torchscript(name, batch, path):
    """Saves model `name` for batch size `batch` as a traced TorchScript file at `path`, and its
    example input as torch.save([input]) at input_path(path). Returns (path, input path)."""
    m, x = build(name, batch)
    traced = trace(m, x)
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    torch.jit.save(traced, path)
    torch.save([x], input_path(path))
    return path, input_path(path)
