# Writes the seed corpus of fuzz/export_import_fuzz.cpp: a few tiny
# torch.export archives, one per path through the loader (parameters and
# buffers with a batch norm, a dynamic batch dimension, buffer mutation,
# several outputs in a nested structure, a multi-output operator).
# Usage: python make_export_seeds.py OUT_DIR
import os
import sys

import torch


class ConvBn(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = torch.nn.Conv2d(2, 2, 1)
        self.bn = torch.nn.BatchNorm2d(2)

    def forward(self, x):
        return torch.relu(self.bn(self.conv(x)))


class Dynamic(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.linear = torch.nn.Linear(3, 2)

    def forward(self, x):
        return self.linear(x).view(x.size(0), -1).softmax(-1)


class Mutates(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.register_buffer("count", torch.zeros(2))

    def forward(self, x):
        self.count.add_(1)
        return x * self.count


class Outputs(torch.nn.Module):
    def forward(self, x):
        a, b = torch.chunk(x, 2, dim=0)
        values, indices = torch.max(x, dim=1)
        return {"a": a, "pair": (b, values)}, [indices]


def main(out):
    os.makedirs(out, exist_ok=True)
    torch.manual_seed(0)
    batch = torch.export.Dim("batch", min=2, max=64)
    programs = {
        "conv_bn.pt2": torch.export.export(ConvBn().eval(), (torch.randn(1, 2, 3, 3),)),
        "dynamic.pt2": torch.export.export(Dynamic(), (torch.randn(4, 3),),
                                           dynamic_shapes={"x": {0: batch}}),
        "mutates.pt2": torch.export.export(Mutates(), (torch.randn(2),)),
        "outputs.pt2": torch.export.export(Outputs(), (torch.randn(4, 2),)),
    }
    for name, program in programs.items():
        path = os.path.join(out, name)
        torch.export.save(program, path)
        print(f"{path}: {os.path.getsize(path)} bytes")


if __name__ == "__main__":
    main(sys.argv[1])
