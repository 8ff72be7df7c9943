# Writes the TorchScript models that tests/capture/torchscript_test.cpp imports:
# small scripted and traced modules (one per feature of the importer) and
# torchvision's resnet18 and mobilenet_v2 with random weights, in eval mode.
# Usage: python make_torchscript_models.py OUT_DIR   (exits with 77 without torch and torchvision)
import os
import sys

try:
    import torch
    import torchvision
except ImportError as e:  # the test skips on exit code 77
    print(f"{sys.executable}: {e}")
    sys.exit(77)


class FxExample(torch.nn.Module):  # torch.fx's documentation example
    def __init__(self):
        super().__init__()
        self.param = torch.nn.Parameter(torch.rand(3, 4))
        self.linear = torch.nn.Linear(4, 5)

    def forward(self, x):
        return self.linear(x + self.param).clamp(min=0.0, max=1.0)


class Stack(torch.nn.Module):  # Sequential, ModuleList loop, GetAttr chains, range loop
    def __init__(self):
        super().__init__()
        self.seq = torch.nn.Sequential(torch.nn.Linear(8, 16), torch.nn.ReLU(), torch.nn.Linear(16, 8))
        self.blocks = torch.nn.ModuleList([torch.nn.Linear(8, 8) for _ in range(2)])
        self.head = torch.nn.Sequential(torch.nn.Sequential(torch.nn.Linear(8, 4)), torch.nn.Tanh())

    def forward(self, x):
        h = self.seq(x)
        for block in self.blocks:
            h = torch.relu(block(h)) + h
        for i in range(3):
            h = h * 0.5 + i
        return self.head[0][0](h).sigmoid() + self.head(h)


class Buffers(torch.nn.Module):  # buffers, a non-tensor attribute, an optional attribute
    def __init__(self):
        super().__init__()
        self.register_buffer("mean", torch.randn(6))
        self.register_buffer("var", torch.rand(6) + 0.5)
        self.weight = torch.nn.Parameter(torch.randn(6))
        self.eps = 1e-3
        self.bias = None
        self.bn = torch.nn.BatchNorm1d(6)

    def forward(self, x):
        y = (x - self.mean) / torch.sqrt(self.var + self.eps) * self.weight
        if self.bias is not None:
            y = y + self.bias
        return self.bn(y)


class Split(torch.nn.Module):
    def forward(self, x):
        return x.sin(), x.cos()


class Tuples(torch.nn.Module):  # tuple outputs, tuple and list unpacking, multi-output ops
    def __init__(self):
        super().__init__()
        self.split = Split()

    def forward(self, x):
        a, b = self.split(x)
        lo, hi = torch.chunk(x, 2, dim=1)
        m, idx = torch.max(x, dim=1)
        pair = (a, b)
        parts = torch.split(x, [1, 3], dim=1)
        return a + torch.cat([hi, lo], dim=1), pair[1] * torch.cat([lo, hi], 1), m, idx, parts[-1]


class Constants(torch.nn.Module):  # constants of several kinds
    def forward(self, x):
        y = x.to(torch.float64)
        z = torch.zeros(4, 4, dtype=torch.float32, device=torch.device("cpu"))
        w = x.contiguous(memory_format=torch.contiguous_format)
        s = torch.sum(x, dim=[0, 1], keepdim=True)
        d = torch.div(x, 3, rounding_mode="floor")
        t = torch.full([4, 4], 2, dtype=torch.int64)
        return y.float() * 0.5 + z + w - s + d, t, x.transpose(0, 1).flatten()


class DataIf(torch.nn.Module):  # data-dependent control flow: scripting keeps it
    def forward(self, x):
        if x.sum() > 0:
            return x * 2
        return x - 1


class DataLoop(torch.nn.Module):  # a loop whose trip count is only known at run time
    def forward(self, x):
        for _ in range(x.size(0)):
            x = x * 2
        return x


class Reshape(torch.nn.Module):  # traced: size() feeds a view through NumToTensor/Int
    def __init__(self):
        super().__init__()
        self.conv = torch.nn.Conv2d(3, 4, 3, padding=1)

    def forward(self, x):
        y = self.conv(x)
        return y.view(y.size(0), -1).softmax(dim=-1)


def main():
    out = sys.argv[1]
    os.makedirs(out, exist_ok=True)
    torch.manual_seed(0)

    def save(m, name):
        m.save(os.path.join(out, name + ".pt"))

    fx = FxExample().eval()
    save(torch.jit.script(fx), "fx_example_script")
    save(torch.jit.trace(fx, torch.rand(3, 4)), "fx_example_trace")
    save(torch.jit.script(Stack().eval()), "stack_script")
    save(torch.jit.trace(Stack().eval(), torch.randn(2, 8)), "stack_trace")
    save(torch.jit.script(Buffers().eval()), "buffers_script")
    save(torch.jit.script(Tuples().eval()), "tuples_script")
    save(torch.jit.script(Constants().eval()), "constants_script")
    save(torch.jit.script(DataIf().eval()), "data_if_script")
    save(torch.jit.script(DataLoop().eval()), "data_loop_script")
    save(torch.jit.trace(Reshape().eval(), torch.randn(2, 3, 8, 8)), "reshape_trace")
    save(torch.jit.script(torchvision.models.resnet18(weights=None).eval()), "resnet18_script")
    save(torch.jit.script(torchvision.models.mobilenet_v2(weights=None).eval()), "mobilenet_v2_script")
    print("wrote models to", out, "with torch", torch.__version__, "torchvision", torchvision.__version__)


if __name__ == "__main__":
    main()
