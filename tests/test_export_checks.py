"""check_graph flags forbidden ops (also inside subgraphs); simplify keeps I/O and outputs."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort
import pytest
from onnx import TensorProto, helper, numpy_helper

from tts_export.checks import FORBIDDEN_OPS, GraphCheckError, check_graph, simplify

OPSET = [helper.make_opsetid("", 17)]


def _save(graph: onnx.GraphProto, path: Path) -> Path:
    model = helper.make_model(graph, opset_imports=OPSET)
    model.ir_version = 8
    onnx.save(model, str(path))
    return path


def _bad_graph() -> onnx.GraphProto:
    """x [B, N]: RandomNormalLike noise, x[x > 0] style NonZero, and a ScatterND inside an If."""
    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, ["batch", "n"])
    flag = helper.make_tensor_value_info("flag", TensorProto.BOOL, [])
    y = helper.make_tensor_value_info("y", TensorProto.FLOAT, ["batch", "n"])
    idx = helper.make_tensor_value_info("idx", TensorProto.INT64, [2, None])
    zero = numpy_helper.from_array(np.zeros((), np.float32), "zero")

    then_out = helper.make_tensor_value_info("then_y", TensorProto.FLOAT, ["batch", "n"])
    else_out = helper.make_tensor_value_info("else_y", TensorProto.FLOAT, ["batch", "n"])
    then_branch = helper.make_graph(
        [
            helper.make_node("Identity", ["idx"], ["idx_t"], name="to_t"),
            helper.make_node("Transpose", ["idx_t"], ["where"], name="where_t"),
            helper.make_node("Shape", ["where"], ["ws"], name="ws"),
            helper.make_node("ConstantOfShape", ["ws"], ["ones_i"], name="ones_i"),
            helper.make_node("Cast", ["ones_i"], ["upd0"], to=TensorProto.FLOAT, name="cast_upd"),
            helper.make_node("ReduceMax", ["upd0"], ["upd"], axes=[1], keepdims=0, name="upd"),
            helper.make_node("ScatterND", ["x", "where", "upd"], ["then_y"], name="masked_assign"),
        ],
        "then",
        [],
        [then_out],
    )
    else_branch = helper.make_graph(
        [helper.make_node("Identity", ["x"], ["else_y"], name="keep")], "else", [], [else_out]
    )
    nodes = [
        helper.make_node("RandomNormalLike", ["x"], ["noise"], name="draw_noise"),
        helper.make_node("Add", ["x", "noise"], ["noisy"], name="add_noise"),
        helper.make_node("Greater", ["noisy", "zero"], ["positive"], name="is_positive"),
        helper.make_node("NonZero", ["positive"], ["idx"], name="mask_index"),
        helper.make_node(
            "If", ["flag"], ["y"], then_branch=then_branch, else_branch=else_branch, name="maybe"
        ),
    ]
    return helper.make_graph(nodes, "bad", [x, flag], [y], initializer=[zero], value_info=[idx])


def _clean_graph(redundant: bool = False) -> onnx.GraphProto:
    """y = (x @ W + b) * 2 with a dynamic batch axis; `redundant` adds foldable junk."""
    rng = np.random.default_rng(0)
    w = numpy_helper.from_array(rng.standard_normal((4, 3)).astype(np.float32), "w")
    b = numpy_helper.from_array(rng.standard_normal(3).astype(np.float32), "b")
    two = numpy_helper.from_array(np.float32(2.0), "two")
    one = numpy_helper.from_array(np.float32(1.0), "one")
    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, ["batch", 4])
    y = helper.make_tensor_value_info("y", TensorProto.FLOAT, ["batch", 3])
    nodes = [
        helper.make_node("MatMul", ["x", "w"], ["xw"], name="proj"),
        helper.make_node("Add", ["xw", "b"], ["h"], name="bias"),
    ]
    inits = [w, b, two, one]
    if redundant:
        nodes += [
            helper.make_node("Add", ["one", "one"], ["two_again"], name="const_add"),
            helper.make_node("Identity", ["h"], ["h_id"], name="noop"),
            helper.make_node("Mul", ["h_id", "two_again"], ["y"], name="scale"),
        ]
    else:
        nodes.append(helper.make_node("Mul", ["h", "two"], ["y"], name="scale"))
    return helper.make_graph(nodes, "clean", [x], [y], initializer=inits)


def test_forbidden_ops_cover_the_tensorrt_trouble_spots():
    for op in (
        "RandomNormal",
        "RandomNormalLike",
        "RandomUniform",
        "RandomUniformLike",
        "Multinomial",
        "Bernoulli",
        "NonZero",
        "ScatterND",
        "Compress",
    ):
        assert op in FORBIDDEN_OPS and FORBIDDEN_OPS[op]


def test_check_graph_names_each_forbidden_op_and_node(tmp_path):
    path = _save(_bad_graph(), tmp_path / "bad.onnx")
    with pytest.raises(GraphCheckError) as err:
        check_graph(path)
    message = str(err.value)
    assert "3 forbidden op(s)" in message
    for op, node in (
        ("RandomNormalLike", "draw_noise"),
        ("NonZero", "mask_index"),
        ("ScatterND", "masked_assign"),  # found inside the If's then-branch
    ):
        assert op in message and node in message
    assert "If:maybe/then_branch/" in message


def test_check_graph_reports_a_clean_graph(tmp_path):
    path = _save(_clean_graph(), tmp_path / "clean.onnx")
    report = check_graph(path)
    assert report.op_counts == {"Add": 1, "MatMul": 1, "Mul": 1}
    assert report.num_nodes == 3 and report.inputs == ["x"] and report.outputs == ["y"]
    assert report.opset == 17 and report.domains == [] and report.size_bytes > 0


def test_check_graph_rejects_invalid_onnx(tmp_path):
    graph = _clean_graph()
    graph.node[0].input[1] = "missing_weight"  # an input nothing produces
    path = _save(graph, tmp_path / "broken.onnx")
    with pytest.raises(GraphCheckError, match="not a valid ONNX graph"):
        check_graph(path)
    with pytest.raises(FileNotFoundError):
        check_graph(tmp_path / "absent.onnx")


def test_simplify_keeps_io_and_outputs(tmp_path):
    src = _save(_clean_graph(redundant=True), tmp_path / "redundant.onnx")
    model = onnx.load(str(src))
    model.metadata_props.add(key="contract", value="1")
    onnx.save(model, str(src))
    out = tmp_path / "slim.onnx"
    assert simplify(src, out) is True
    slim = onnx.load(str(out))
    assert len(slim.graph.node) < len(model.graph.node)
    assert [i.name for i in slim.graph.input] == ["x"] and [o.name for o in slim.graph.output] == [
        "y"
    ]
    assert slim.graph.input[0].type.tensor_type.shape.dim[0].dim_param == "batch"
    assert {p.key: p.value for p in slim.metadata_props}["contract"] == "1"
    x = np.random.default_rng(1).standard_normal((5, 4)).astype(np.float32)
    a = ort.InferenceSession(str(src)).run(None, {"x": x})[0]
    b = ort.InferenceSession(str(out)).run(None, {"x": x})[0]
    np.testing.assert_allclose(a, b, rtol=0, atol=1e-6)
    check_graph(out)

    # In place (out_path omitted) also works.
    assert simplify(src) is True
    assert len(onnx.load(str(src)).graph.node) == len(slim.graph.node)
