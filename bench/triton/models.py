"""The model of the Triton benchmark (bench/triton/run.sh), shared by both servers: a transformer
MLP block (Linear 64->256, GELU tanh, Linear 256->64, residual, LayerNorm) on a (16, 64) input per
request, as in tests/serving. Seeded, random weights, eval mode."""
import os
import sys

import torch

# The MLP block class of the whole-model benchmark, here at width 64 -> 256.
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "models"))
from zoo import Mlp  # noqa: E402


def mlp():
    torch.manual_seed(0)
    return Mlp(dim=64, hidden=256).eval()


MAX_BATCH = 32
SHAPE = (16, 64)
