"""Writes the fx backend's repository for the Triton benchmark: OUT/mlp/1/model.pt (the MLP block
traced to TorchScript) and its config.pbtxt (fx backend, optimized and fused at load, dynamic
batching up to MAX_BATCH, one CPU instance).
Usage: python make_repo.py OUT"""
import os
import sys

import torch

from models import MAX_BATCH, SHAPE, mlp

CONFIG = f"""name: "mlp"
backend: "fx"
max_batch_size: {MAX_BATCH}
input [ {{ name: "x" data_type: TYPE_FP32 dims: [ {SHAPE[0]}, {SHAPE[1]} ] }} ]
output [ {{ name: "y" data_type: TYPE_FP32 dims: [ {SHAPE[0]}, {SHAPE[1]} ] }} ]
instance_group [ {{ count: 1 kind: KIND_CPU }} ]
dynamic_batching {{ }}
parameters [
  {{ key: "optimize" value: {{ string_value: "true" }} }}
]
"""

out = sys.argv[1]
os.makedirs(os.path.join(out, "mlp", "1"), exist_ok=True)
with torch.no_grad():
    torch.jit.trace(mlp(), torch.randn(2, *SHAPE)).save(os.path.join(out, "mlp", "1", "model.pt"))
with open(os.path.join(out, "mlp", "config.pbtxt"), "w") as f:
    f.write(CONFIG)
