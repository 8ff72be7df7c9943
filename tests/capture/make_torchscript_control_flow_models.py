# Writes the scripted models that tests/capture/torchscript_control_flow_test.cpp
# imports: modules whose branches depend on flags, optional arguments and the
# shapes of their inputs (nn.TransformerEncoderLayer with both norm_first
# settings, nn.MultiheadAttention, a small torchvision VisionTransformer), and
# small modules for the single features. Random weights, eval mode.
# Usage: python make_torchscript_control_flow_models.py OUT_DIR [NAME...]
#        (only the models named, when names are given; exits with 77 without
#        torch and torchvision)
import os
import sys
from typing import Optional

try:
    import torch
    import torchvision
    from torchvision.models.vision_transformer import VisionTransformer
except ImportError as e:  # the test skips on exit code 77
    print(f"{sys.executable}: {e}")
    sys.exit(77)


class ShapeBranch(torch.nn.Module):  # branches on rank, size, dtype and an optional argument
    def __init__(self):
        super().__init__()
        self.linear = torch.nn.Linear(8, 8)

    def forward(self, x, scale: Optional[torch.Tensor] = None, shift: Optional[torch.Tensor] = None):
        if x.dim() == 2:
            x = x.unsqueeze(0)
        if x.dtype == torch.float64:
            x = x.float()
        y = self.linear(x)
        if scale is not None:
            y = y * scale
        if isinstance(shift, torch.Tensor):
            y = y - shift
        if x.size(1) > 4:
            y = y[:, :4]
        for i in range(x.size(0)):
            y = y + i
        return y


class ByRank(torch.nn.Module):
    def forward(self, x):
        if x.dim() == 2:
            return x * 2
        return x + 1


class CallsTwice(torch.nn.Module):  # one child called on inputs of two ranks
    def __init__(self):
        super().__init__()
        self.child = ByRank()

    def forward(self, x):
        return self.child(x).sum(0) + self.child(x.flatten(1)).sum()


class DataBranch(torch.nn.Module):  # a branch on tensor data: no example decides it
    def forward(self, x):
        if bool(x.mean() > 0):
            return x.relu()
        return x.sigmoid()


def main():
    out = sys.argv[1]
    wanted = set(sys.argv[2:])
    os.makedirs(out, exist_ok=True)
    torch.manual_seed(0)

    def save(m, name):
        if not wanted or name in wanted:
            torch.jit.script(m.eval()).save(os.path.join(out, name + ".pt"))

    for norm_first in (False, True):
        layer = torch.nn.TransformerEncoderLayer(64, 4, 128, dropout=0.0, activation="gelu",
                                                 batch_first=True, norm_first=norm_first)
        save(layer, "encoder_layer_norm_first" if norm_first else "encoder_layer")
    # The BERT layer of the issue.
    save(torch.nn.TransformerEncoderLayer(768, 12, 3072, dropout=0.0, activation="gelu",
                                          batch_first=True), "bert_layer")
    save(torch.nn.MultiheadAttention(32, 4, batch_first=True), "mha")
    save(torch.nn.MultiheadAttention(32, 4), "mha_seq_first")
    # torchvision's vit_b_16 code in a configuration small enough for a test; its head starts
    # at zero, so it gets random weights to make the output worth comparing.
    vit = VisionTransformer(image_size=32, patch_size=8, num_layers=2, num_heads=4, hidden_dim=64,
                            mlp_dim=128, num_classes=10)
    torch.nn.init.normal_(vit.heads.head.weight)
    save(vit, "vit_small")
    save(ShapeBranch(), "shape_branch")
    save(CallsTwice(), "calls_twice")
    save(DataBranch(), "data_branch")
    print("wrote models to", out, "with torch", torch.__version__, "torchvision", torchvision.__version__)


if __name__ == "__main__":
    main()
