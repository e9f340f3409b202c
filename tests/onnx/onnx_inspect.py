#!/usr/bin/python3
"""Test tool for octet's ONNX writer (run by tests/onnx with /usr/bin/python3).

  onnx_inspect.py inspect MODEL.onnx   onnx.checker.check_model(MODEL, full_check=True), then
                                       print a JSON listing of the model read back by onnx.load
  onnx_inspect.py reference OUT.onnx   write the model onnx_python_test.cc builds with OnnxGraph,
                                       made here with onnx.helper (the test compares the bytes)
"""
import json
import sys

import numpy as np
import onnx
from onnx import helper, numpy_helper, TensorProto

ATTR_TYPES = {v: k for k, v in onnx.AttributeProto.AttributeType.items()}


def dims_of(value_info):
    t = value_info.type.tensor_type
    if not t.HasField("shape"):
        return None
    return [d.dim_param if d.HasField("dim_param") else d.dim_value for d in t.shape.dim]


def value_listing(values):
    return [{"name": v.name, "elem_type": v.type.tensor_type.elem_type, "dims": dims_of(v)} for v in values]


def tensor_listing(t):
    return {"name": t.name, "data_type": t.data_type, "dims": list(t.dims), "hex": t.raw_data.hex()}


def attribute_value(a):
    kind = ATTR_TYPES[a.type]
    if kind == "FLOAT":
        return a.f
    if kind == "INT":
        return a.i
    if kind == "STRING":
        return a.s.decode()
    if kind == "TENSOR":
        return tensor_listing(a.t)
    if kind == "FLOATS":
        return list(a.floats)
    if kind == "INTS":
        return list(a.ints)
    if kind == "STRINGS":
        return [s.decode() for s in a.strings]
    raise ValueError(f"attribute {a.name}: unexpected type {kind}")


def inspect(path):
    # The listing comes from the file as written. (check_model(path, full_check=True)
    # would rewrite the file with inferred value_info, so the full check runs on
    # the loaded model; the path-based check resolves external data files.)
    onnx.checker.check_model(path)
    shallow = onnx.load(path, load_external_data=False)
    # Where each initializer's data lives, before loading external data into raw_data.
    where = {}
    for t in shallow.graph.initializer:
        external = t.data_location == TensorProto.EXTERNAL
        where[t.name] = {"location": "external" if external else "inline",
                         "external_data": {e.key: e.value for e in t.external_data}}
    model = onnx.load(path)
    onnx.checker.check_model(model, full_check=True)
    g = model.graph
    inits = []
    for t in g.initializer:
        entry = tensor_listing(t)
        entry.update(where[t.name])
        # numpy_helper decodes the bytes as onnx reads them (dtype and element count must agree).
        entry["numel"] = int(numpy_helper.to_array(t).size)
        inits.append(entry)
    listing = {
        "ir_version": model.ir_version,
        "producer_name": model.producer_name,
        "producer_version": model.producer_version,
        "opset_import": [[o.domain, o.version] for o in model.opset_import],
        "graph_name": g.name,
        "inputs": value_listing(g.input),
        "outputs": value_listing(g.output),
        "value_info": value_listing(g.value_info),
        "initializers": inits,
        "nodes": [{"name": n.name, "op_type": n.op_type, "domain": n.domain, "inputs": list(n.input),
                   "outputs": list(n.output),
                   "attributes": [{"name": a.name, "type": ATTR_TYPES[a.type], "value": attribute_value(a)}
                                  for a in n.attribute]} for n in g.node],
    }
    print(json.dumps(listing))


def node(op_type, inputs, outputs, name, attributes=(), domain=None):
    n = helper.make_node(op_type, inputs, outputs, name=name, domain=domain)
    # make_node sorts keyword attributes by name; keep the order the C++ test uses.
    n.attribute.extend(helper.make_attribute(k, v) for k, v in attributes)
    return n


def raw(name, data_type, array):
    return helper.make_tensor(name, data_type, list(array.shape), array.tobytes(), raw=True)


def reference(out):
    """Must match build_reference_graph() in onnx_python_test.cc value for value."""
    w = np.arange(12, dtype=np.float32).reshape(4, 3) * np.float32(0.25) - np.float32(1)
    emb = np.arange(40, dtype=np.float32).reshape(10, 4) / np.float32(8)
    inits = [
        raw("w", TensorProto.FLOAT, w),
        raw("emb", TensorProto.FLOAT, emb),
        raw("scale", TensorProto.FLOAT, np.array(0.05, dtype=np.float32)),
        raw("zp", TensorProto.INT8, np.array(-3, dtype=np.int8)),
        raw("shape", TensorProto.INT64, np.array([-1, 300, 2**40], dtype=np.int64)),
        raw("half", TensorProto.FLOAT16, np.array([1.5, -2], dtype=np.float16)),
        raw("mask", TensorProto.UINT8, np.array([0, 255, 7], dtype=np.uint8)),
    ]
    nodes = [
        node("Gather", ["emb", "ids"], ["g"], "gather", [("axis", 0)]),
        node("Add", ["x", "g"], ["a"], "add"),
        node("MatMul", ["a", "w"], ["m"], "matmul"),
        node("Constant", [], ["c"], "constant",
             [("value", raw("", TensorProto.FLOAT, np.array([0.5, -4], dtype=np.float32)))]),
        node("QuantizeLinear", ["m", "scale", "zp"], ["q"], "quantize"),
        node("DequantizeLinear", ["q", "scale", "zp"], ["dq"], "dequantize"),
        node("Custom", ["dq", "", "c"], ["y", "y2"], "custom",
             [("f", 0.5), ("i", -3), ("s", "hello"), ("floats", [1.5, -2.0]), ("ints", [-1, 0, 300]),
              ("strings", ["a", "bc"])], domain="com.example"),
    ]
    inputs = [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["batch", "seq", 4]),
              helper.make_tensor_value_info("ids", TensorProto.INT64, ["batch", "seq"])]
    outputs = [helper.make_tensor_value_info("y", TensorProto.FLOAT, None),
               helper.make_tensor_value_info("dq", TensorProto.FLOAT, ["batch", "seq", 3]),
               helper.make_tensor_value_info("y2", TensorProto.INT8, [])]
    value_info = [helper.make_tensor_value_info("a", TensorProto.FLOAT, ["batch", "seq", 4])]
    graph = helper.make_graph(nodes, "reference", inputs, outputs, initializer=inits, value_info=value_info)
    model = helper.make_model(graph, producer_name="octet", producer_version="test",
                              opset_imports=[helper.make_opsetid("", 17), helper.make_opsetid("com.example", 1)])
    with open(out, "wb") as f:
        f.write(model.SerializeToString())


if __name__ == "__main__":
    if len(sys.argv) != 3 or sys.argv[1] not in ("inspect", "reference"):
        sys.exit(__doc__)
    {"inspect": inspect, "reference": reference}[sys.argv[1]](sys.argv[2])
