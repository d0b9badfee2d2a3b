"""mc.multihead_attention: its shape rule checks the projection weights, and its decomposition is torch's computation."""

from __future__ import annotations

import numpy as np
import pytest

from mindconverter.ir import Builder, parse
from mindconverter.ir.dialect import create, lower_to_onnx

ARGS = ("%q: tensor<5x?Nx8xf32>, %kv: tensor<7x?Nx8xf32>, %w: tensor<24x8xf32>, %b: tensor<24xf32>, "
        "%wo: tensor<8x8xf32>, %bo: tensor<8xf32>, %m: tensor<5x7xf32>")


def _module(args: str = ARGS):
    return parse(f"""
      func @main({args}) -> tensor<5x?Nx8xf32> {{
        "ir.return"(%q) : (tensor<5x?Nx8xf32>) -> ()
      }}""")


def test_the_result_is_laid_out_as_the_query_and_the_weights_are_checked():
    module = _module()
    q, kv, w, b, wo, bo, m = module.main.args
    ret = module.main.body.ops[0]
    op = create(Builder.before(ret), "mc.multihead_attention", [q, kv, kv, w, b, wo, bo, m], num_heads=2)
    assert str(op.result.type) == "tensor<5x?Nx8xf32>" and op.attrs == {"num_heads": 2}
    with pytest.raises(ValueError, match="embed_dim 8 is not a multiple of num_heads 3"):
        create(Builder.before(ret), "mc.multihead_attention", [q, kv, kv, w, b, wo, bo], num_heads=3)
    with pytest.raises(ValueError, match=r"in_proj_weight must be \(3 \* E, E\)"):
        create(Builder.before(ret), "mc.multihead_attention", [q, kv, kv, wo, None, wo, None], num_heads=2)
    with pytest.raises(ValueError, match="'dropout' must be < 1.0"):
        create(Builder.before(ret), "mc.multihead_attention", [q, kv, kv, w, b, wo, bo], num_heads=2, dropout=1.0)


def _attend(qp, kp, vp, mask, heads):
    """torch's attention of projected q, k, v (T, N, E) in numpy: heads, softmax(q k^T / sqrt(d) + mask) v, merged."""
    dh = qp.shape[-1] // heads

    def split(x):  # (T, N, E) -> (N, H, T, Dh)
        return x.reshape(x.shape[0], x.shape[1], heads, dh).transpose(1, 2, 0, 3)

    scores = split(qp) @ split(kp).transpose(0, 1, 3, 2) / np.sqrt(dh) + mask
    probs = np.exp(scores - scores.max(-1, keepdims=True))
    probs /= probs.sum(-1, keepdims=True)
    return (probs @ split(vp)).transpose(2, 0, 1, 3).reshape(qp.shape)


def _reference(q, kv, w, b, wo, bo, mask, heads):
    """torch's F.multi_head_attention_forward in numpy, sequence first, packed in_proj_weight."""
    e = q.shape[-1]
    qp, kp, vp = q @ w[:e].T + b[:e], kv @ w[e:2 * e].T + b[e:2 * e], kv @ w[2 * e:].T + b[2 * e:]
    return _attend(qp, kp, vp, mask, heads) @ wo.T + bo


def test_the_decomposition_computes_torchs_multihead_attention():
    from mindconverter.runtime_check.evaluate import run_ir

    module = _module()
    q, kv, w, b, wo, bo, m = module.main.args
    ret = module.main.body.ops[0]
    op = create(Builder.before(ret), "mc.multihead_attention", [q, kv, kv, w, b, wo, bo, m], num_heads=2)
    ret.operands[0] = op.result
    module.attrs["opset"] = 17
    lowered = lower_to_onnx(module)
    assert not [o for o in lowered.ops() if o.dialect == "mc"]
    rng = np.random.default_rng(0)
    arrays = [rng.standard_normal(s).astype(np.float32) for s in ((5, 3, 8), (7, 3, 8), (24, 8), (24,), (8, 8), (8,), (5, 7))]
    got = run_ir(module, arrays).outputs[0]
    np.testing.assert_allclose(got, _reference(*arrays, heads=2), rtol=1e-4, atol=1e-5)


def test_key_and_value_of_their_own_width_take_one_weight_per_projection():
    module = _module(ARGS.replace("%kv: tensor<7x?Nx8xf32>", "%kv: tensor<7x?Nx6xf32>")
                     + ", %wq: tensor<8x8xf32>, %wk: tensor<8x6xf32>, %wv: tensor<8x6xf32>")
    q, kv, w, b, wo, bo, m, wq, wk, wv = module.main.args
    ret = module.main.body.ops[0]
    op = create(Builder.before(ret), "mc.multihead_attention", [q, kv, kv, None, b, wo, bo, m, wq, wk, wv], num_heads=2)
    assert str(op.result.type) == "tensor<5x?Nx8xf32>"
    with pytest.raises(ValueError, match="give either in_proj_weight or all of q_proj_weight"):
        create(Builder.before(ret), "mc.multihead_attention", [q, kv, kv, w, b, wo, bo, m, wq, wk, wv], num_heads=2)
    ret.operands[0] = op.result
    module.attrs["opset"] = 17
    from mindconverter.runtime_check.evaluate import run_ir

    rng = np.random.default_rng(0)
    shapes = ((5, 3, 8), (7, 3, 6), (24, 8), (24,), (8, 8), (8,), (5, 7), (8, 8), (8, 6), (8, 6))
    arrays = [rng.standard_normal(s).astype(np.float32) for s in shapes]
    got = run_ir(module, arrays).outputs[0]
    x, k, _, bias, w_out, b_out, mask, *separate = arrays
    e = 8
    qp = x @ separate[0].T + bias[:e]
    kp, vp = k @ separate[1].T + bias[e:2 * e], k @ separate[2].T + bias[2 * e:]
    want = _attend(qp, kp, vp, mask, 2) @ w_out.T + b_out
    np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-5)
