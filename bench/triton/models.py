"""The model of the Triton benchmark (bench/triton/run.sh), shared by both servers: a transformer
MLP block (Linear 64->256, GELU tanh, Linear 256->64, residual, LayerNorm) on a (16, 64) input per
request, as in tests/serving. Seeded, random weights, eval mode."""
import torch


class Mlp(torch.nn.Module):
    def __init__(self, dim=64, hidden=256):
        super().__init__()
        self.fc1 = torch.nn.Linear(dim, hidden)
        self.fc2 = torch.nn.Linear(hidden, dim)
        self.norm = torch.nn.LayerNorm(dim)

    def forward(self, x):
        h = torch.nn.functional.gelu(self.fc1(x), approximate="tanh")
        return self.norm(x + self.fc2(h))


def mlp():
    torch.manual_seed(0)
    return Mlp().eval()


MAX_BATCH = 32
SHAPE = (16, 64)
