#!/usr/bin/python3
"""Validates an ONNX file with onnx.checker (full_check) and prints a JSON summary.

  onnx_summary.py MODEL.onnx
prints {"ops": {op: count}, "inputs": [[name, elem_type, dims]], "outputs": [...],
        "initializers": {name: [data_type, dims]}, "dequantize_axes": {node output: axis},
        "opset": N, "ir_version": N}
The model is loaded first and checked in memory (onnx 1.12 rewrites a file given by path).
"""
import collections
import json
import sys

import onnx


def dims(value):
    return [d.dim_param if d.dim_param else d.dim_value for d in value.type.tensor_type.shape.dim]


def main():
    model = onnx.load(sys.argv[1])
    onnx.checker.check_model(model, full_check=True)
    g = model.graph
    axes = {}
    for n in g.node:
        if n.op_type == "DequantizeLinear":
            axis = next((a.i for a in n.attribute if a.name == "axis"), None)
            axes[n.output[0]] = {"axis": axis, "input": n.input[0]}
    print(json.dumps({
        "ops": collections.Counter(n.op_type for n in g.node),
        "inputs": [[i.name, i.type.tensor_type.elem_type, dims(i)] for i in g.input],
        "outputs": [[o.name, o.type.tensor_type.elem_type, dims(o)] for o in g.output],
        "initializers": {t.name: [t.data_type, list(t.dims)] for t in g.initializer},
        "dequantize": axes,
        "matmul_inputs": [list(n.input) for n in g.node if n.op_type == "MatMul"],
        "opset": next(o.version for o in model.opset_import if o.domain == ""),
        "ir_version": model.ir_version,
    }))


if __name__ == "__main__":
    main()
