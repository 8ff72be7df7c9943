# Writes the TorchScript models that tests/jit/optimize_test.cpp imports and
# optimizes: a small ResNet built from torchvision's BasicBlock (one block per
# stage) and torchvision's mobilenet_v3_small (hardswish, squeeze-excitation,
# in-place activations, dropout), both scripted in eval mode with random
# weights and random batch-norm statistics, so folding the batch norms
# changes every number; a BERT-style encoder layer (scaled, masked softmax
# attention, residual adds and post-LN layer norms, a GELU MLP) for the row
# kernels that fuse the softmax and the layer norms with their neighbours; and
# the whole-model benchmark's zoo, traced as bench/models does (torchvision's
# resnet18, mobilenet_v2 and efficientnet_b0, a BERT-base encoder layer, the
# MLP block), for the per-model tolerance test.
# Usage: python make_optimize_models.py OUT_DIR   (exits with 77 without torch and torchvision)
import os
import sys

try:
    import torch
    import torchvision
    from torchvision.models.resnet import BasicBlock, ResNet
except ImportError as e:  # the test skips on exit code 77
    print(f"{sys.executable}: {e}")
    sys.exit(77)


def randomize_batch_norms(model):
    with torch.no_grad():
        for m in model.modules():
            if isinstance(m, torch.nn.modules.batchnorm._BatchNorm):
                m.running_mean.normal_(0.0, 0.2)
                m.running_var.uniform_(0.5, 1.5)
                m.weight.normal_(1.0, 0.2)
                m.bias.normal_(0.0, 0.2)
    return model


class MlpBlock(torch.nn.Module):
    """LayerNorm(x + Linear(GELU-tanh(Linear(x)))), 512 -> 2048 -> 512."""

    def __init__(self, dim=512, hidden=2048):
        super().__init__()
        self.up = torch.nn.Linear(dim, hidden)
        self.down = torch.nn.Linear(hidden, dim)
        self.norm = torch.nn.LayerNorm(dim)

    def forward(self, x):
        h = torch.nn.functional.gelu(self.up(x), approximate="tanh")
        return self.norm(x + self.down(h))


class BertLayer(torch.nn.Module):
    def __init__(self, dim=64, heads=4):
        super().__init__()
        self.heads = heads
        self.qkv = torch.nn.Linear(dim, 3 * dim)
        self.proj = torch.nn.Linear(dim, dim)
        self.norm1 = torch.nn.LayerNorm(dim)
        self.fc1 = torch.nn.Linear(dim, 4 * dim)
        self.fc2 = torch.nn.Linear(4 * dim, dim)
        self.norm2 = torch.nn.LayerNorm(dim)

    def forward(self, x, mask):
        b, s, d = x.shape
        q, k, v = self.qkv(x).chunk(3, -1)
        q = q.reshape(b, s, self.heads, d // self.heads).transpose(1, 2)
        k = k.reshape(b, s, self.heads, d // self.heads).transpose(1, 2)
        v = v.reshape(b, s, self.heads, d // self.heads).transpose(1, 2)
        att = torch.softmax(q @ k.transpose(-2, -1) * (d // self.heads) ** -0.5 + mask, -1)
        h = (att @ v).transpose(1, 2).reshape(b, s, d)
        x = self.norm1(x + self.proj(h))
        return self.norm2(x + self.fc2(torch.nn.functional.gelu(self.fc1(x))))


def main():
    out = sys.argv[1]
    os.makedirs(out, exist_ok=True)
    torch.manual_seed(0)
    models = {
        "mini_resnet_script": ResNet(BasicBlock, [1, 1, 1, 1], num_classes=10),
        "mobilenet_v3_small_script": torchvision.models.mobilenet_v3_small(weights=None, num_classes=10),
    }
    for name, m in models.items():
        m = randomize_batch_norms(m).eval()
        torch.jit.script(m).save(os.path.join(out, name + ".pt"))
    image = torch.randn(1, 3, 64, 64)
    zoo = {
        "zoo_resnet18": (torchvision.models.resnet18(weights=None), image),
        "zoo_mobilenet_v2": (torchvision.models.mobilenet_v2(weights=None), image),
        "zoo_efficientnet_b0": (torchvision.models.efficientnet_b0(weights=None), image),
        "zoo_bert_layer": (torch.nn.TransformerEncoderLayer(768, 12, 3072, dropout=0.0,
                                                            activation="gelu", batch_first=True),
                           torch.randn(1, 32, 768)),
        "zoo_mlp": (MlpBlock(), torch.randn(1, 64, 512)),
    }
    # Off the fused fast path, so the trace records the layer's own operators.
    torch.backends.mha.set_fastpath_enabled(False)
    for name, (m, x) in zoo.items():
        m = randomize_batch_norms(m).eval()
        with torch.no_grad():
            torch.jit.trace(m, (x,), check_trace=False).save(os.path.join(out, name + ".pt"))
    torch.jit.script(BertLayer().eval()).save(os.path.join(out, "bert_layer_script.pt"))
    print("wrote models to", out, "with torch", torch.__version__, "torchvision", torchvision.__version__)


if __name__ == "__main__":
    main()
