# Writes the seed corpus of fuzz/torchscript_import_fuzz.cpp: a few tiny
# TorchScript archives (a few KB each), one per path through the importer
# (child module calls, parameters and buffers, a loop and a branch known at
# import time, control flow on data, a traced module, tuples and lists).
# Usage: python make_torchscript_seeds.py OUT_DIR
import os
import sys

import torch


class Linear(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.param = torch.nn.Parameter(torch.ones(2, 3))
        self.linear = torch.nn.Linear(3, 2)

    def forward(self, x):
        return self.linear(x + self.param).clamp(min=0.0, max=1.0)


class Known(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.register_buffer("scale", torch.full((2,), 0.5))
        self.flag = True

    def forward(self, x):
        if self.flag:
            x = x * self.scale
        for i in range(2):
            x = torch.relu(x) + i
        return x.view(x.size(0), -1)


class OnData(torch.nn.Module):
    def forward(self, x):
        if bool(x.sum() > 0):
            return x.sigmoid()
        return x.tanh()


class Tuples(torch.nn.Module):
    def forward(self, x, y):
        parts = [x, y, x * y]
        a, b = torch.chunk(torch.cat(parts, 0), 2)
        return a.sum(dim=0), (b.max(), len(parts))


def main(out):
    os.makedirs(out, exist_ok=True)
    torch.manual_seed(0)
    x = torch.ones(2, 2)
    models = {
        "linear_scripted.pt": torch.jit.script(Linear()),
        "known_flow_scripted.pt": torch.jit.script(Known()),
        "data_flow_scripted.pt": torch.jit.script(OnData()),
        "tuples_scripted.pt": torch.jit.script(Tuples()),
        "linear_traced.pt": torch.jit.trace(Linear().eval(), torch.ones(2, 3)),
        "known_traced.pt": torch.jit.trace(Known(), x),
    }
    for name, module in models.items():
        path = os.path.join(out, name)
        module.save(path)
        print(f"{path}: {os.path.getsize(path)} bytes")


if __name__ == "__main__":
    main(sys.argv[1])
