# Writes the Triton model repository that tests/serving/triton_server_test.cpp serves with fx's
# backend, one model per way a model reaches fx:
#   mlp/        a transformer MLP block (Linear, GELU, Linear, residual, LayerNorm), traced to
#               TorchScript as OUT_DIR/mlp.pt; the test converts it to mlp/1/model.fxgm with fx.
#               Dynamic batching, two CPU instances.
#   resnet18/   torchvision's resnet18 (random weights, eval), traced: resnet18/1/model.pt,
#               optimized by fx at load (parameters optimize, fuse).
#   two_out/    two inputs and two outputs of different dtypes, exported with torch.export and a
#               dynamic batch dimension: two_out/1/model.pt2. Dynamic batching.
#   checked/    a scripted module that raises on inputs out of range (fx turns the raise into a
#               run-time check): a request can pass Triton's checks and still fail in forward.
# and each model's config.pbtxt.
# Usage: python make_triton_repo.py OUT_DIR   (exits with 77 without torch and torchvision)
import os
import sys

try:
    import torch
    import torchvision
    from torch.export import Dim
except ImportError as e:  # the test skips on exit code 77
    print(f"{sys.executable}: {e}")
    sys.exit(77)


class Mlp(torch.nn.Module):
    def __init__(self, dim=64, hidden=256):
        super().__init__()
        self.fc1 = torch.nn.Linear(dim, hidden)
        self.fc2 = torch.nn.Linear(hidden, dim)
        self.norm = torch.nn.LayerNorm(dim)

    def forward(self, x):
        h = torch.nn.functional.gelu(self.fc1(x), approximate="tanh")
        return self.norm(x + self.fc2(h))


class TwoOut(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.lin = torch.nn.Linear(6, 6)

    def forward(self, a, b):
        mixed = torch.tanh(self.lin(a)) * b + 1.0
        greater = (a > b).sum(dim=1, keepdim=True).to(torch.int32)
        return mixed, greater


class Checked(torch.nn.Module):
    def forward(self, x):
        if bool(x.abs().max() > 1000.0):
            raise ValueError("input out of range")
        return x * 2.0


def write(path, text):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "w") as f:
        f.write(text)


MLP_CONFIG = """name: "mlp"
backend: "fx"
max_batch_size: 32
input [ { name: "x" data_type: TYPE_FP32 dims: [ 16, 64 ] } ]
output [ { name: "y" data_type: TYPE_FP32 dims: [ 16, 64 ] } ]
instance_group [ { count: 2 kind: KIND_CPU } ]
dynamic_batching { max_queue_delay_microseconds: 2000 }
"""

RESNET_CONFIG = """name: "resnet18"
backend: "fx"
max_batch_size: 4
input [ { name: "image" data_type: TYPE_FP32 dims: [ 3, 224, 224 ] } ]
output [ { name: "logits" data_type: TYPE_FP32 dims: [ 1000 ] } ]
instance_group [ { count: 1 kind: KIND_CPU } ]
parameters [
  { key: "optimize" value: { string_value: "true" } },
  { key: "fuse" value: { string_value: "true" } }
]
"""

TWO_OUT_CONFIG = """name: "two_out"
backend: "fx"
max_batch_size: 16
input [
  { name: "a" data_type: TYPE_FP32 dims: [ 6 ] },
  { name: "b" data_type: TYPE_FP32 dims: [ 6 ] }
]
output [
  { name: "mixed" data_type: TYPE_FP32 dims: [ 6 ] },
  { name: "greater" data_type: TYPE_INT32 dims: [ 1 ] }
]
instance_group [ { count: 1 kind: KIND_CPU } ]
dynamic_batching { max_queue_delay_microseconds: 1000 }
"""

CHECKED_CONFIG = """name: "checked"
backend: "fx"
max_batch_size: 0
input [ { name: "x" data_type: TYPE_FP32 dims: [ -1 ] } ]
output [ { name: "y" data_type: TYPE_FP32 dims: [ -1 ] } ]
"""


def main(out):
    repo = os.path.join(out, "repo")
    os.makedirs(repo, exist_ok=True)
    torch.manual_seed(0)
    with torch.no_grad():
        mlp = Mlp().eval()
        torch.jit.trace(mlp, torch.randn(2, 16, 64)).save(os.path.join(out, "mlp.pt"))
        write(os.path.join(repo, "mlp", "config.pbtxt"), MLP_CONFIG)
        os.makedirs(os.path.join(repo, "mlp", "1"), exist_ok=True)

        resnet = torchvision.models.resnet18(weights=None).eval()
        path = os.path.join(repo, "resnet18", "1", "model.pt")
        os.makedirs(os.path.dirname(path), exist_ok=True)
        torch.jit.trace(resnet, torch.randn(1, 3, 224, 224)).save(path)
        write(os.path.join(repo, "resnet18", "config.pbtxt"), RESNET_CONFIG)

    two = TwoOut().eval()
    batch = Dim("batch", min=1, max=16)
    ep = torch.export.export(two, (torch.randn(4, 6), torch.randn(4, 6)),
                             dynamic_shapes={"a": {0: batch}, "b": {0: batch}})
    path = os.path.join(repo, "two_out", "1", "model.pt2")
    os.makedirs(os.path.dirname(path), exist_ok=True)
    torch.export.save(ep, path)
    write(os.path.join(repo, "two_out", "config.pbtxt"), TWO_OUT_CONFIG)

    path = os.path.join(repo, "checked", "1", "model.pt")
    os.makedirs(os.path.dirname(path), exist_ok=True)
    torch.jit.script(Checked()).save(path)
    write(os.path.join(repo, "checked", "config.pbtxt"), CHECKED_CONFIG)


if __name__ == "__main__":
    main(sys.argv[1])
