"""The anchor of the Triton benchmark: PyTriton serving the same MLP block with eager PyTorch in
Python (torch.inference_mode, dynamic batching up to MAX_BATCH, one instance), on the Triton
server that the nvidia-pytriton wheel ships. Serves until it is terminated. Python backend stubs
embed libpython: run with the venv's own libpython first on LD_LIBRARY_PATH (run.sh does).
Usage: python pytriton_server.py HTTP_PORT GRPC_PORT"""
import sys

import numpy as np
import torch
from pytriton.decorators import batch
from pytriton.model_config import DynamicBatcher, ModelConfig, Tensor
from pytriton.triton import Triton, TritonConfig, TritonSecurityConfig

from models import MAX_BATCH, SHAPE, mlp

model = mlp()


@batch
def infer(x):
    with torch.inference_mode():
        return {"y": model(torch.from_numpy(x)).numpy()}


http_port, grpc_port = int(sys.argv[1]), int(sys.argv[2])
config = TritonConfig(http_address="127.0.0.1", http_port=http_port, grpc_address="127.0.0.1",
                      grpc_port=grpc_port, allow_metrics=False)
# Loopback only, so no access token: perf_analyzer reads the model's config, which PyTriton
# otherwise restricts to token holders.
with Triton(config=config, security_config=TritonSecurityConfig(restricted_endpoints=[])) as triton:
    triton.bind(model_name="mlp", infer_func=infer,
                inputs=[Tensor(name="x", dtype=np.float32, shape=SHAPE)],
                outputs=[Tensor(name="y", dtype=np.float32, shape=SHAPE)],
                config=ModelConfig(max_batch_size=MAX_BATCH, batcher=DynamicBatcher()))
    triton.serve()
