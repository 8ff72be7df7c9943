# Writes the TorchScript models that tests/jit/optimize_test.cpp imports and
# optimizes: a small ResNet built from torchvision's BasicBlock (one block per
# stage) and torchvision's mobilenet_v3_small (hardswish, squeeze-excitation,
# in-place activations, dropout), both scripted in eval mode with random
# weights and random batch-norm statistics, so folding the batch norms
# changes every number; and a BERT-style encoder layer (scaled, masked softmax
# attention, residual adds and post-LN layer norms, a GELU MLP) for the row
# kernels that fuse the softmax and the layer norms with their neighbours.
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
    torch.jit.script(BertLayer().eval()).save(os.path.join(out, "bert_layer_script.pt"))
    print("wrote models to", out, "with torch", torch.__version__, "torchvision", torchvision.__version__)


if __name__ == "__main__":
    main()
