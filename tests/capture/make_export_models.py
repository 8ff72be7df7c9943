# Writes the torch.export archives that tests/capture/export_test.cpp loads, and
# what the test compares against, all computed by Python on the archive as
# torch.export.load reads it back:
#   NAME.pt2           torch.export.save(torch.export.export(model, inputs))
#   NAME.inputs.pt     the inputs to run (torch.save of a list of tensors)
#   NAME.expected.pt   ep.module() on those inputs: one flat list of output
#                      leaves per call (models that mutate buffers are called twice)
#   NAME.buffers.pt    (mutating models) the mutated buffers after the calls
#   NAME.graph.txt     ep.graph node by node (`node NAME OP TARGET`, targets as
#                      Python qualifies them), then `lifted PLACEHOLDER FQN` for
#                      each parameter, buffer and constant the signature lifts
# and, for the error tests, damaged copies of one archive and a program with
# torch.cond (a higher-order operator fx does not load). Models: torchvision's
# resnet18 (also decomposed to core ATen) and mobilenet_v2, the BERT-base
# encoder layer, a dynamic batch dimension, buffer mutation (in place, and
# functionalized), several outputs, one argument of every kind, and inputs
# named like Python builtins.
# Usage: python make_export_models.py OUT_DIR   (exits with 77 without torch and torchvision)
import json
import os
import sys
import warnings
import zipfile

try:
    import torch
    import torchvision
    from torch.export import Dim
    from torch.fx.node import _get_qualified_name
    from torch.utils import _pytree as pytree
except ImportError as e:  # the test skips on exit code 77
    print(f"{sys.executable}: {e}")
    sys.exit(77)


class Dynamic(torch.nn.Module):  # batch exported as a dynamic dimension; sizes feed view
    def __init__(self):
        super().__init__()
        self.conv = torch.nn.Conv2d(3, 4, 3, padding=1)
        self.fc = torch.nn.Linear(4 * 8 * 8, 10)

    def forward(self, x):
        y = self.conv(x).relu()
        n = y.size(0)
        h = y.reshape(n * 2, -1)  # arithmetic on a symbolic size
        return self.fc(h.reshape(n, -1)).softmax(dim=-1)


class Counter(torch.nn.Module):  # mutates buffers: a step counter and a running mean
    def __init__(self):
        super().__init__()
        self.register_buffer("steps", torch.zeros(1))
        self.register_buffer("mean", torch.zeros(4))
        self.scale = torch.nn.Parameter(torch.randn(4))

    def forward(self, x):
        self.steps.add_(1)
        self.mean.mul_(0.5).add_(x.mean(dim=0) * 0.5)
        return (x - self.mean) * self.scale * self.steps


class MultiOutput(torch.nn.Module):  # nested tuple/list outputs, a multi-output operator
    def forward(self, x):
        values, indices = x.max(dim=1)
        a, b = torch.split(x, [1, 3], dim=1)
        return x.sin(), [values, a * 2], (indices, b.cos())


class DictOutput(torch.nn.Module):  # a dict output (flattened in key order)
    def __init__(self):
        super().__init__()
        self.lin = torch.nn.Linear(4, 3)

    def forward(self, x):
        return {"logits": self.lin(x), "norm": x.norm(dim=1)}


class Arguments(torch.nn.Module):  # one argument of every kind the archive stores
    def __init__(self):
        super().__init__()
        self.register_buffer("table", torch.arange(12.0).reshape(3, 4), persistent=False)
        self.register_buffer("idx", torch.tensor([2, 0]))

    def forward(self, x, k):
        a = x.to(torch.float64)  # dtype
        z = torch.zeros(4, 4, dtype=torch.float32, device="cpu", layout=torch.strided)  # device, layout
        w = x.contiguous(memory_format=torch.contiguous_format)  # memory format
        s = torch.sum(x, dim=[0, 1], keepdim=True)  # int list, bool
        d = torch.div(x, 3, rounding_mode="floor")  # string
        g = x[:, self.idx]  # optional-tensor list: [None, idx]
        e = torch.where(x > 0.5, x, torch.full_like(x, -1.0))  # float
        c = torch.cat([x, x * 0.5], dim=0)  # tensor list
        t = torch.nn.functional.pad(x, [1, 1, 0, 0], mode="constant", value=0.25)
        r = self.table.index_select(0, k)  # integer user input
        m = x.masked_fill(x > 0.9, float("-inf")).clone(memory_format=torch.contiguous_format)
        return a.float() + z + w - s + d, g, e, c, t, r, m.exp()


class Reserved(torch.nn.Module):  # input names that fx reserves (Python builtins)
    def forward(self, input, list):
        return input.relu() + list


class Cond(torch.nn.Module):  # data-dependent control flow: a higher-order operator fx refuses
    def forward(self, x):
        return torch.cond(x.sum() > 0, lambda t: t.sin(), lambda t: t.cos(), (x,))


def write(out, name, model, inputs, dynamic_shapes=None, run_inputs=None, calls=1, decompose=False,
          buffers=()):
    ep = torch.export.export(model, tuple(inputs), dynamic_shapes=dynamic_shapes)
    if decompose:
        ep = ep.run_decompositions()
    path = os.path.join(out, name + ".pt2")
    torch.export.save(ep, path)
    loaded = torch.export.load(path)
    run_inputs = list(run_inputs if run_inputs is not None else inputs)
    module = loaded.module()
    expected = []
    with torch.no_grad():
        for _ in range(calls):
            leaves = pytree.tree_leaves(module(*[t.clone() for t in run_inputs]))
            expected.append([v if isinstance(v, torch.Tensor) else torch.tensor(v) for v in leaves])
    torch.save(run_inputs, os.path.join(out, name + ".inputs.pt"))
    torch.save(expected, os.path.join(out, name + ".expected.pt"))
    if buffers:
        state = dict(module.named_buffers())
        torch.save([state[b].detach().clone() for b in buffers], os.path.join(out, name + ".buffers.pt"))
    with open(os.path.join(out, name + ".graph.txt"), "w") as f:
        for n in loaded.graph.nodes:
            target = _get_qualified_name(n.target) if callable(n.target) else str(n.target)
            f.write(f"node {n.name} {n.op} {target}\n")
        for spec in loaded.graph_signature.input_specs:
            if spec.target is not None:
                f.write(f"lifted {spec.arg.name} {spec.target}\n")


def damage(out, source):
    """Damaged copies of source: truncated, without the model json, with bad json."""
    with open(source, "rb") as f:
        data = f.read()
    with open(os.path.join(out, "damaged_truncated.pt2"), "wb") as f:
        f.write(data[: len(data) // 2])
    with open(os.path.join(out, "damaged_not_a_zip.pt2"), "wb") as f:
        f.write(b"PK\x03\x04 this is not a zip archive at all" * 4)
    with zipfile.ZipFile(source) as zin:
        members = [(i, zin.read(i.filename)) for i in zin.infolist()]
    root = members[0][0].filename.split("/")[0]
    model_json = json.loads(next(d for i, d in members if i.filename.endswith("models/model.json")))

    def rewrite(name, replace):
        # replace: archive path (below the root) -> new bytes, or None to drop the record.
        with zipfile.ZipFile(os.path.join(out, name + ".pt2"), "w", zipfile.ZIP_STORED) as zout:
            for info, payload in members:
                rel = info.filename[len(root) + 1 :]
                if rel in replace:
                    if replace[rel] is None:
                        continue
                    payload = replace[rel]
                zout.writestr(info, payload)

    def with_model(edit):
        m = json.loads(json.dumps(model_json))
        edit(m)
        return {"models/model.json": json.dumps(m).encode()}

    def nodes(m):
        return m["graph_module"]["graph"]["nodes"]

    rewrite("damaged_no_model_json", {"models/model.json": None})
    rewrite("damaged_bad_json", {"models/model.json": b'{"graph_module": {"graph": [1, 2,'})
    rewrite("damaged_no_weights_config", {"data/weights/model_weights_config.json": None})
    rewrite("damaged_wrong_format", {"archive_format": b"pt3"})
    rewrite("damaged_schema_version",
            with_model(lambda m: m["schema_version"].update(major=m["schema_version"]["major"] + 1)))
    rewrite("damaged_unknown_operator",
            with_model(lambda m: nodes(m)[0].update(target="torch.ops.aten.no_such_op.default")))
    rewrite("damaged_argument_kind",
            with_model(lambda m: nodes(m)[0]["inputs"][0].update(arg={"as_mystery": 1})))
    rewrite("damaged_undefined_value",
            with_model(lambda m: nodes(m)[0]["inputs"][0].update(arg={"as_tensor": {"name": "ghost"}})))
    rewrite("damaged_node_type", with_model(lambda m: nodes(m).__setitem__(0, [1, 2, 3])))
    weights = json.loads(next(d for i, d in members if i.filename.endswith("model_weights_config.json")))
    first = next(iter(weights["config"].values()))
    first["tensor_meta"]["sizes"] = [{"as_int": 1000}, {"as_int": 1000}]
    rewrite("damaged_weight_size",
            {"data/weights/model_weights_config.json": json.dumps(weights).encode()})


def main():
    warnings.filterwarnings("ignore")
    out = sys.argv[1]
    os.makedirs(out, exist_ok=True)
    torch.manual_seed(0)
    image = torch.randn(2, 3, 64, 64)

    resnet = torchvision.models.resnet18(weights=None).eval()
    write(out, "resnet18", resnet, [image])
    write(out, "resnet18_core", resnet, [image], decompose=True)
    write(out, "mobilenet_v2", torchvision.models.mobilenet_v2(weights=None).eval(), [image])
    bert = torch.nn.TransformerEncoderLayer(768, 12, 3072, dropout=0.0, activation="gelu",
                                            batch_first=True).eval()
    write(out, "bert_layer", bert, [torch.randn(2, 16, 768)])
    batch = Dim("batch", min=2, max=64)
    write(out, "dynamic", Dynamic().eval(), [torch.randn(4, 3, 8, 8)],
          dynamic_shapes={"x": {0: batch}}, run_inputs=[torch.randn(7, 3, 8, 8)])
    x4 = torch.randn(5, 4)
    write(out, "buffers", Counter(), [x4], calls=2, buffers=("steps", "mean"))
    write(out, "buffers_functional", Counter(), [x4], calls=2, decompose=True, buffers=("steps", "mean"))
    write(out, "multi_output", MultiOutput(), [x4])
    write(out, "dict_output", DictOutput().eval(), [x4])
    write(out, "arguments", Arguments(), [torch.rand(4, 4), torch.tensor([2, 1, 1])])
    write(out, "reserved_names", Reserved(), [torch.randn(3), torch.randn(3)])
    torch.export.save(torch.export.export(Cond(), (x4,)), os.path.join(out, "unsupported_cond.pt2"))
    damage(out, os.path.join(out, "dict_output.pt2"))
    print("wrote archives to", out, "with torch", torch.__version__, "torchvision", torchvision.__version__)


if __name__ == "__main__":
    main()
