"""Per-API tests generated from the table: the torch snippet and its conversion run on the same inputs.

For an entry with `test = { args = {...} }` the snippet calls the API in four styles:
positional, keyword, shuffled keywords, and with the defaulted arguments left out. Values written
with the helpers below are numpy inputs (bound as tensors of the framework); any other value is
source text written into the call. A module entry (`forward = [...]`) builds the layer in each
style, copies the torch weights into the MindSpore layer and calls both on the forward inputs.
Results are compared as numpy: shape, dtype and values (`compare = "shape"` for random outputs).
"""

from __future__ import annotations

import re
import textwrap
from dataclasses import dataclass
from typing import Any

import numpy as np

from mindconverter.migrate.driver import migrate_source
from mindconverter.migrate.table import ApiEntry


class Arr:
    """A numpy input of the test, bound as a tensor in each framework."""

    def __init__(self, value: np.ndarray) -> None:
        self.value = value


def _rng(seed: int) -> np.random.Generator:
    return np.random.default_rng(seed)


def helpers(seed: int) -> dict[str, Any]:
    rng = _rng(seed)

    def shape(s):
        return tuple(s[0]) if len(s) == 1 and isinstance(s[0], (tuple, list)) else tuple(s)

    return {
        "randn": lambda *s: Arr(rng.standard_normal(shape(s)).astype(np.float32)),
        "rand": lambda *s: Arr(rng.random(shape(s)).astype(np.float32)),
        "pos": lambda *s: Arr((rng.random(shape(s)) + 0.5).astype(np.float32)),
        "unit": lambda *s: Arr((rng.random(shape(s)) * 1.8 - 0.9).astype(np.float32)),
        "randint": lambda lo, hi, s: Arr(rng.integers(lo, hi, size=shape((s,))).astype(np.int64)),
        "bools": lambda *s: Arr(rng.random(shape(s)) > 0.5),
        "iarange": lambda n: Arr(np.arange(n, dtype=np.int64)),
        "farange": lambda *s: Arr(np.arange(int(np.prod(shape(s))), dtype=np.float32).reshape(shape(s))),
        "image": lambda h, w: Arr(rng.integers(0, 256, size=(h, w, 3)).astype(np.uint8)),
        "chw": lambda c, h, w: Arr(rng.random((c, h, w)).astype(np.float32)),
    }


_HELPER_CALL = re.compile(r"\b(randn|rand|pos|unit|randint|bools|iarange|farange|image|chw)\(")


def is_input(value: str) -> bool:
    return bool(_HELPER_CALL.search(value))


@dataclass
class Case:
    entry: ApiEntry
    styles: list[str]  # snippet expression per style
    inputs: dict[str, Any]  # param -> Arr / list of Arr
    source: str  # the whole torch snippet


def _call(entry: ApiEntry, parts: list[tuple[str | None, str]]) -> str:
    args = ", ".join(v if k is None else f"{k}={v}" for k, v in parts)
    if entry.is_method:
        receiver, rest = parts[0][1], ", ".join(v if k is None else f"{k}={v}" for k, v in parts[1:])
        return f"{receiver}.{entry.method_name}({rest})"
    return f"{entry.name}({args})"


def build_styles(entry: ApiEntry) -> tuple[list[str], dict[str, str]]:
    """The four call styles; returns (expressions, {param: value source})."""
    test = entry.test or {}
    values: dict[str, str] = dict(test.get("args", {}))
    if "expr" in test:  # a written expression (attributes, unusual call forms): one style
        return [test["expr"]], values
    params = [p for p in entry.params if p.name in values]
    unknown = set(values) - {p.name for p in entry.params}
    if unknown:
        raise ValueError(f"{entry.name}: test args {sorted(unknown)} are not parameters")
    # names used in the snippet: inputs are variables named after the parameter
    src = {p.name: (f"{p.name}_" if is_input(values[p.name]) else values[p.name]) for p in params}
    recv = []
    if entry.is_method:
        recv = [(None, src[entry.params[0].name])]
        params = [p for p in params if p is not entry.params[0]]
    has_varargs = any(p.kind == "varargs" for p in params)
    all_params = [p for p in entry.params if not (entry.is_method and p is entry.params[0])]

    def contiguous(chosen):
        """Positional while every earlier parameter is given too; keywords after the first gap."""
        out, gap = list(recv), False
        for p in all_params:
            if p.name not in chosen:
                gap = gap or p.kind == "normal"
                continue
            if p.kind == "varargs":
                out += [(None, v.strip()) for v in src[p.name].strip("()").split(",") if v.strip()]
            else:
                out.append((None if p.kind == "normal" and not gap else p.name, src[p.name]))
        return out

    given = {p.name for p in params}
    positional = contiguous(given)
    if has_varargs:  # varargs values are tuples in the table: spread them; no keyword styles
        keyword = shuffled = positional
    else:
        keyword = recv + [(p.name, src[p.name]) for p in params]
        shuffled = recv + list(reversed(keyword[len(recv):]))
    required = contiguous({p.name for p in params if (p.default is None and p.kind != "varargs")
                           or p.kind == "varargs" or p.name in test.get("keep", [])})
    styles = [_call(entry, s) for s in (positional, keyword, shuffled, required)]
    if test.get("no_keywords"):  # positional-only in torch (C builtins taking *args)
        styles = [styles[0], styles[3]]
    return styles, values


def make_case(entry: ApiEntry) -> Case:
    styles, values = build_styles(entry)
    h = helpers(0)
    inputs = {name: eval(v, dict(h)) for name, v in values.items() if is_input(v)}  # noqa: S307 - table text
    params = ", ".join(f"{n}_: torch.Tensor" if not isinstance(inputs[n], list) else f"{n}_" for n in inputs)
    test = entry.test or {}
    kind = test.get("kind")
    if kind == "transform":
        params = ""
    if kind in ("optimizer", "scheduler"):
        # each style gets its own parameter list p<i> (and, for a scheduler, its own SGD optimizer)
        opt = "torch.optim.SGD(p{i}, lr=0.1)"
        styles = [s.replace("PARAMS", f"p{i}").replace("OPT", opt.format(i=i)) for i, s in enumerate(styles)]
        params = ", ".join(f"p{i}" for i in range(len(styles)))
    if "forward" in test or kind:
        body = "\n".join(f"    m{i} = {s}" for i, s in enumerate(styles))
        ret = ", ".join(f"m{i}" for i in range(len(styles)))
    else:
        body = "\n".join(f"    r{i} = {s}" for i, s in enumerate(styles))
        ret = ", ".join(f"r{i}" for i in range(len(styles)))
    source = f"import torch\n\n\ndef run({params}):\n{body}\n    return {ret},\n"
    if test.get("imports"):
        source = test["imports"] + "\n" + source
    return Case(entry, styles, inputs, source)


# ----------------------------------------------------------------- torch side
def _to_torch(v):
    import torch

    if isinstance(v, Arr):
        return torch.tensor(v.value)
    if isinstance(v, list):
        return [_to_torch(x) for x in v]
    if isinstance(v, tuple):
        return tuple(_to_torch(x) for x in v)
    return v


def _to_ms(v):
    import mindspore as ms

    if isinstance(v, Arr):
        return ms.Tensor(v.value)
    if isinstance(v, list):
        return [_to_ms(x) for x in v]
    if isinstance(v, tuple):
        return tuple(_to_ms(x) for x in v)
    return v


def to_numpy(v):
    if hasattr(v, "detach"):
        return v.detach().numpy()
    if hasattr(v, "asnumpy"):
        return v.asnumpy()
    if isinstance(v, (list, tuple)):
        return [to_numpy(x) for x in v]
    if hasattr(v, "_fields"):
        return [to_numpy(x) for x in v]
    return np.asarray(v)


_WEIGHT_NAMES = {
    "weight": ("weight", "gamma", "embedding_table"),
    "bias": ("bias", "beta"),
    "running_mean": ("moving_mean",),
    "running_var": ("moving_variance",),
}


def copy_weights(tmod, mmod, names: dict[str, str] | None = None) -> None:
    """torch module state -> MindSpore Cell parameters, by name (weight->gamma for norms, ...)."""
    import mindspore as ms

    mparams = dict(mmod.parameters_and_names())
    state = {k: v.detach().numpy() for k, v in tmod.state_dict().items() if "num_batches_tracked" not in k}
    for key, value in state.items():
        prefix, _, last = key.rpartition(".")
        candidates = [names[key]] if names and key in names else [
            f"{prefix}.{n}" if prefix else n for n in _WEIGHT_NAMES.get(last, (last,))]
        target = next((c for c in candidates if c in mparams), None)
        if target is None:  # a Cell wrapping another (BatchNorm3d holds bn2d): match the last name
            wanted = _WEIGHT_NAMES.get(last, (last,))
            target = next((n for n, p in mparams.items() for w in wanted if n.endswith("." + w) or n == w), None)
        if target is None:
            raise AssertionError(f"no MindSpore parameter for torch '{key}' among {sorted(mparams)}")
        p = mparams[target]
        p.set_data(ms.Tensor(value.reshape(p.shape).astype(p.dtype == ms.float16 and np.float16 or value.dtype)))


def run_torch(case: Case):
    import torch

    ns: dict[str, Any] = {}
    exec(compile(case.source, "<torch snippet>", "exec"), ns)  # noqa: S102 - test snippet
    torch.manual_seed(0)
    return ns["run"](*[_to_torch(v) for v in case.inputs.values()])


def convert(case: Case, target: str = "classic"):
    # the API table alone: structural rewrites have their own tests (tests/migrate/test_rewrites*)
    result = migrate_source(case.source, target=target, path=f"<{case.entry.name}>", strict=True, rewrites=())
    return result


def run_ms(code: str, case: Case):
    ns: dict[str, Any] = {}
    exec(compile(code, "<mindspore snippet>", "exec"), ns)  # noqa: S102 - converted snippet
    return ns["run"](*[_to_ms(v) for v in case.inputs.values()])


def forward_inputs(case: Case) -> list[Arr]:
    h = helpers(1)
    return [eval(v, dict(h)) for v in case.entry.test["forward"]]  # noqa: S307 - table text


def compare(entry: ApiEntry, style: str, expected, actual) -> None:
    test = entry.test or {}
    mode = test.get("compare", "value")
    rtol, atol = test.get("rtol", 1e-4), test.get("atol", 1e-5)
    e, a = to_numpy(expected), to_numpy(actual)
    _compare(f"{entry.name} [{style}]", e, a, mode, rtol, atol, test.get("dtype", "same"))


def _compare(where: str, e, a, mode: str, rtol: float, atol: float, dtype_rule: str) -> None:
    if isinstance(e, list):
        assert isinstance(a, list) and len(a) == len(e), f"{where}: {len(e)} results expected, got {a!r}"
        for x, y in zip(e, a, strict=True):
            _compare(where, x, y, mode, rtol, atol, dtype_rule)
        return
    e, a = np.asarray(e), np.asarray(a)
    assert e.shape == a.shape, f"{where}: shape {a.shape} != torch {e.shape}"
    if dtype_rule == "same":
        assert e.dtype == a.dtype, f"{where}: dtype {a.dtype} != torch {e.dtype}"
    elif dtype_rule == "kind":
        assert e.dtype.kind == a.dtype.kind, f"{where}: dtype {a.dtype} != torch {e.dtype} (kind)"
    if mode == "value":
        if e.dtype.kind in "fc":
            np.testing.assert_allclose(a.astype(np.float64), e.astype(np.float64), rtol=rtol, atol=atol, err_msg=where)
        else:
            np.testing.assert_array_equal(a, e, err_msg=where)


OPT_W = np.array([0.5, -1.0, 2.0], dtype=np.float32)
OPT_GRADS = [np.array(g, dtype=np.float32) for g in ([0.1, -0.2, 0.3], [0.3, 0.1, -0.5], [-0.2, 0.4, 0.1])]


def _optimizer_run(case: Case, code: str, framework: str) -> list:
    """Build the optimizer in every style, take three steps with fixed gradients, return the weights."""
    n = 4 if not case.entry.test.get("no_keywords") else 2
    if framework == "torch":
        import torch

        groups = [[torch.nn.Parameter(torch.tensor(OPT_W))] for _ in range(n)]
        ns: dict[str, Any] = {}
        exec(compile(case.source, "<torch snippet>", "exec"), ns)  # noqa: S102 - test snippet
        opts = ns["run"](*groups)
        for opt, group in zip(opts, groups, strict=True):
            for g in OPT_GRADS:
                group[0].grad = torch.tensor(g)
                opt.step()
        return [group[0].detach().numpy() for group in groups]
    import mindspore as ms

    groups = [[ms.Parameter(ms.Tensor(OPT_W.copy()), name=f"w{i}")] for i in range(n)]
    ns = {}
    exec(compile(code, "<mindspore snippet>", "exec"), ns)  # noqa: S102 - converted snippet
    opts = ns["run"](*groups)
    for opt in opts:
        for g in OPT_GRADS:
            opt((ms.Tensor(g),))
    return [group[0].asnumpy() for group in groups]


def _scheduler_run(case: Case, code: str, framework: str) -> list:
    """Build the scheduler (on an SGD optimizer) in every style; the learning rate over five steps."""
    n = 4 if not case.entry.test.get("no_keywords") else 2
    if framework == "torch":
        import torch

        groups = [[torch.nn.Parameter(torch.tensor(OPT_W))] for _ in range(n)]
        src = case.source
    else:
        import mindspore as ms

        groups = [[ms.Parameter(ms.Tensor(OPT_W.copy()), name=f"w{i}")] for i in range(n)]
        src = code
    ns: dict[str, Any] = {}
    exec(compile(src, "<snippet>", "exec"), ns)  # noqa: S102 - test snippet
    out = []
    for sched in ns["run"](*groups):
        lrs = []
        for _ in range(5):
            lrs.append(float(sched.get_last_lr()[0]))
            sched.step()
        out.append(np.array(lrs, dtype=np.float32))
    return out


def _transform_check(entry: ApiEntry, case: Case, result) -> str:
    """torchvision is not installable next to the CPU torch build here, so a transform's test states
    torchvision's documented result as a numpy expression of the input (`reference`), or compares
    shapes for random transforms; the converted MindSpore transform runs in every call style."""
    bad = [f for f in result.findings if not f.converted]
    assert not bad, f"{entry.name}: unconverted: {[(f.api, f.message) for f in bad]}\n{result.code}"
    test = entry.test
    h = helpers(2)
    img = eval(test["input"], dict(h)).value  # noqa: S307 - table text
    ns: dict[str, Any] = {}
    exec(compile(result.code, "<mindspore snippet>", "exec"), ns)  # noqa: S102 - converted snippet
    expected = eval(test["reference"], {"np": np, "img": img})  # noqa: S307 - table text
    for i, t in enumerate(ns["run"]()):
        got = t(img.copy())
        compare(entry, f"style {i}", expected, np.asarray(got))
    return result.code


def run_entry(entry: ApiEntry, target: str = "classic") -> str:
    """Run one entry's test; returns the converted snippet (raises on a mismatch)."""
    case = make_case(entry)
    result = convert(case, target)
    if not entry.for_target(target).has_target:
        # mapped for another --target only: reported as unconverted, with that target as the suggestion
        assert result.unconverted and all(f.suggestion for f in result.unconverted), result.findings
        return result.code
    kind = entry.test.get("kind")
    if kind == "transform":
        return _transform_check(entry, case, result)
    if kind in ("optimizer", "scheduler"):
        bad = [f for f in result.findings if not f.converted]
        assert not bad, f"{entry.name}: unconverted: {[(f.api, f.message) for f in bad]}\n{result.code}"
        runner = _optimizer_run if kind == "optimizer" else _scheduler_run
        try:
            expected, actual = runner(case, result.code, "torch"), runner(case, result.code, "mindspore")
        except Exception as exc:
            raise AssertionError(f"{entry.name}: {type(exc).__name__}: {exc}\n--- torch\n{case.source}\n--- converted\n{result.code}") from exc
        for i, (e, a) in enumerate(zip(expected, actual, strict=True)):
            compare(entry, f"style {i}", e, a)
        return result.code
    bad = [f for f in result.findings if not f.converted]
    assert not bad, f"{entry.name}: unconverted in the test snippet: {[(f.api, f.message) for f in bad]}\n{result.code}"
    styles = ["positional", "keyword", "shuffled", "defaults omitted"]
    if (entry.test or {}).get("no_keywords"):
        styles = ["positional", "defaults omitted"]
    if "expr" in (entry.test or {}):
        styles = ["as written"]
    try:
        expected = run_torch(case)
        actual = run_ms(result.code, case)
        if "forward" in entry.test:
            import torch

            fin = forward_inputs(case)
            for i, (tm, mm) in enumerate(zip(expected, actual, strict=True)):
                if isinstance(tm, torch.nn.Module):
                    tm.eval()
                    mm.set_train(False)
                    copy_weights(tm, mm, entry.test.get("weights"))
                    with torch.no_grad():
                        e = tm(*[_to_torch(x) for x in fin])
                else:
                    e = tm(*[_to_torch(x) for x in fin])
                casts = entry.test.get("ms_cast", {})  # documented MindSpore input-dtype needs (see the entry's note)
                a = mm(*[_to_ms(Arr(x.value.astype(casts[str(k)])) if str(k) in casts else x) for k, x in enumerate(fin)])
                compare(entry, styles[i], e, a)
        else:
            for i, (e, a) in enumerate(zip(expected, actual, strict=True)):
                compare(entry, styles[i], e, a)
    except AssertionError:
        raise
    except Exception as exc:
        raise AssertionError(
            f"{entry.name}: {type(exc).__name__}: {exc}\n--- torch snippet\n{case.source}\n--- converted\n{result.code}"
        ) from exc
    return textwrap.dedent(result.code)
