# The client side of tests/serving/triton_server_test.cpp, with tritonclient over HTTP and gRPC.
# Each command prints one JSON object on stdout; the C++ test reads it and decides.
#
#   infer  URL PROTOCOL MODEL SPEC OUT_DIR   sends the inputs that SPEC (JSON: inputs with name,
#          datatype, shape, file of raw bytes) describes; writes each output's raw bytes to
#          OUT_DIR/NAME.bin and prints {"outputs": {NAME: {"datatype", "shape", "file"}}}
#   bad    HTTP_URL GRPC_URL                 sends malformed requests to "two_out", and one that
#          fails in forward to "checked", over both protocols; prints {"cases": [{"name",
#          "protocol", "error"}], "ready": bool, "good_after": bool}; "error" is the server's
#          message, or null when it answered
#   load   HTTP_URL GRPC_URL MODEL POOL CLIENTS REQUESTS   CLIENTS threads (half HTTP, half
#          gRPC) send REQUESTS requests each, cycling through POOL (JSON: a list of
#          {"input", "expected"} raw float32 files, shape and names), and check every response
#          against its expected output; prints {"sent", "answered", "correct", "failures": [...]}
#   stats  HTTP_URL MODEL                    {"inference_count", "execution_count", "success"}
#   repo   HTTP_URL GRPC_URL MODEL           unloads, loads and reloads MODEL through the
#          repository API and records what the server says after each step
import json
import sys
import threading
import time

import numpy as np
import tritonclient.grpc as grpcclient
import tritonclient.http as httpclient
from tritonclient.utils import InferenceServerException

NP = {"FP32": np.float32, "INT32": np.int32, "INT64": np.int64, "FP64": np.float64}


def client(protocol, url):
    return (httpclient if protocol == "http" else grpcclient).InferenceServerClient(url)


def module(protocol):
    return httpclient if protocol == "http" else grpcclient


def request(protocol, name, array, datatype=None):
    mod = module(protocol)
    datatype = datatype or {np.float32: "FP32", np.int32: "INT32", np.int64: "INT64",
                            np.float64: "FP64"}[array.dtype.type]
    t = mod.InferInput(name, list(array.shape), datatype)
    t.set_data_from_numpy(array)
    return t


def outputs(protocol, names):
    mod = module(protocol)
    return [mod.InferRequestedOutput(n) for n in names]


def infer(url, protocol, model, spec_path, out_dir):
    spec = json.load(open(spec_path))
    c = client(protocol, url)
    inputs = []
    for i in spec["inputs"]:
        data = np.fromfile(i["file"], dtype=NP[i["datatype"]]).reshape(i["shape"])
        inputs.append(request(protocol, i["name"], data, i["datatype"]))
    meta = c.get_model_metadata(model)
    names = [o["name"] for o in (meta["outputs"] if protocol == "http" else
                                 [{"name": o.name} for o in meta.outputs])]
    result = c.infer(model, inputs, outputs=outputs(protocol, names))
    report = {}
    for n in names:
        a = result.as_numpy(n)
        path = f"{out_dir}/{protocol}_{n}.bin"
        np.ascontiguousarray(a).tofile(path)
        report[n] = {"datatype": result.get_output(n)["datatype"] if protocol == "http"
                     else result.get_output(n).datatype, "shape": list(a.shape), "file": path}
    print(json.dumps({"outputs": report}))


def bad(http_url, grpc_url):
    good_a = np.random.randn(2, 6).astype(np.float32)
    good_b = np.random.randn(2, 6).astype(np.float32)
    cases = {
        "wrong dtype": lambda p: [request(p, "a", good_a.astype(np.float64)), request(p, "b", good_b)],
        "wrong shape": lambda p: [request(p, "a", np.zeros((2, 5), np.float32)), request(p, "b", good_b)],
        "batch too large": lambda p: [request(p, "a", np.zeros((17, 6), np.float32)),
                                      request(p, "b", np.zeros((17, 6), np.float32))],
        "missing input": lambda p: [request(p, "a", good_a)],
        "unknown input": lambda p: [request(p, "a", good_a), request(p, "b", good_b),
                                    request(p, "c", good_b)],
        "batch sizes differ": lambda p: [request(p, "a", good_a), request(p, "b", good_b[:1])],
    }
    report = []
    for protocol, url in (("http", http_url), ("grpc", grpc_url)):
        c = client(protocol, url)
        for name, make in cases.items():
            try:
                c.infer("two_out", make(protocol))
                error = None
            except InferenceServerException as e:
                error = str(e)
            report.append({"name": name, "protocol": protocol, "error": error})
        # Passes Triton's checks, fails in the model's forward.
        try:
            c.infer("checked", [request(protocol, "x", np.full((4,), 5000.0, np.float32))])
            error = None
        except InferenceServerException as e:
            error = str(e)
        report.append({"name": "fails in forward", "protocol": protocol, "error": error})
    c = client("http", http_url)
    ready = c.is_server_ready() and c.is_model_ready("two_out") and c.is_model_ready("checked")
    x = np.random.randn(4).astype(np.float32)
    r = c.infer("checked", [request("http", "x", x)])
    good_after = np.allclose(r.as_numpy("y"), x * 2.0)
    r = c.infer("two_out", [request("http", "a", good_a), request("http", "b", good_b)])
    good_after = (good_after and r.as_numpy("mixed").shape == (2, 6)
                  and r.as_numpy("greater").shape == (2, 1))
    print(json.dumps({"cases": report, "ready": bool(ready), "good_after": bool(good_after)}))


def load(http_url, grpc_url, model, pool_path, clients, requests):
    pool = json.load(open(pool_path))
    items = []
    for p in pool["items"]:
        x = np.fromfile(p["input"], dtype=np.float32).reshape(pool["input_shape"])
        y = np.fromfile(p["expected"], dtype=np.float32).reshape(pool["output_shape"])
        items.append((x, y))
    lock = threading.Lock()
    totals = {"sent": 0, "answered": 0, "correct": 0, "failures": []}

    def worker(k):
        protocol = "http" if k % 2 == 0 else "grpc"
        c = client(protocol, http_url if protocol == "http" else grpc_url)
        sent = answered = correct = 0
        failures = []
        for r in range(requests):
            x, y = items[(k * 7 + r) % len(items)]
            sent += 1
            try:
                result = c.infer(model, [request(protocol, pool["input_name"], x)],
                                 outputs=outputs(protocol, [pool["output_name"]]))
                got = result.as_numpy(pool["output_name"])
                answered += 1
                if got.shape == y.shape and np.allclose(got, y, rtol=1e-4, atol=1e-5):
                    correct += 1
                elif len(failures) < 5:
                    failures.append(f"client {k} request {r}: wrong output (max diff "
                                    f"{np.abs(got - y).max() if got.shape == y.shape else got.shape})")
            except Exception as e:  # every failure is counted and reported
                if len(failures) < 5:
                    failures.append(f"client {k} request {r}: {e}")
        with lock:
            totals["sent"] += sent
            totals["answered"] += answered
            totals["correct"] += correct
            totals["failures"] += failures

    threads = [threading.Thread(target=worker, args=(k,)) for k in range(clients)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    print(json.dumps(totals))


def stats(http_url, model):
    s = client("http", http_url).get_inference_statistics(model)["model_stats"]
    total = {"inference_count": 0, "execution_count": 0, "success": 0}
    for m in s:
        total["inference_count"] += int(m.get("inference_count", 0))
        total["execution_count"] += int(m.get("execution_count", 0))
        total["success"] += int(m["inference_stats"]["success"]["count"])
    print(json.dumps(total))


def repo(http_url, grpc_url, model):
    h = client("http", http_url)
    g = client("grpc", grpc_url)
    steps = []

    def probe(step):
        try:
            x = np.random.randn(1, 6).astype(np.float32)
            h.infer(model, [request("http", "a", x), request("http", "b", x)])
            infer_ok = True
        except InferenceServerException:
            infer_ok = False
        steps.append({"step": step, "ready": h.is_model_ready(model), "infer": infer_ok,
                      "state": state()})

    def state():
        return {m["name"]: m.get("state", "") for m in h.get_model_repository_index()}.get(model, "")

    def gone():  # unloading returns before the model is gone; wait for it (bounded)
        for _ in range(300):
            if not h.is_model_ready(model) and state() not in ("READY", "UNLOADING"):
                return
            time.sleep(0.1)

    probe("start")
    h.unload_model(model)
    gone()
    probe("unloaded over HTTP")
    g.load_model(model)
    probe("loaded over gRPC")
    g.unload_model(model)
    gone()
    probe("unloaded over gRPC")
    h.load_model(model)
    probe("loaded over HTTP")
    h.load_model(model)  # a reload of a loaded model
    probe("reloaded")
    print(json.dumps({"steps": steps, "server_ready": h.is_server_ready()}))


if __name__ == "__main__":
    cmd, args = sys.argv[1], sys.argv[2:]
    if cmd == "infer":
        infer(*args)
    elif cmd == "bad":
        bad(*args)
    elif cmd == "load":
        load(args[0], args[1], args[2], args[3], int(args[4]), int(args[5]))
    elif cmd == "stats":
        stats(*args)
    elif cmd == "repo":
        repo(*args)
    else:
        sys.exit(f"unknown command {cmd}")
