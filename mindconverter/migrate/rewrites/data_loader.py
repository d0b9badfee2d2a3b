"""Rewrite `DataLoader(dataset, ...)` into `GeneratorDataset(dataset, ...).batch(...)` and its loops."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import libcst as cst
from libcst.metadata import PositionProvider, QualifiedNameProvider

from mindconverter.migrate.registry import MigrationContext, register_rewrite
from mindconverter.migrate.rewrites._common import (
    DATASET_COLUMNS,
    DICT_ITEMS,
    DS_IMPORT,
    MS_IMPORT,
    BodyRewrite,
    assign_of_stmt,
    call_of_stmt,
    code_of,
    dataset_module,
    is_any,
    keep_parens,
    names_in,
    position,
    unconvert_comment,
    with_marker,
)

TORCH_LOADER = ("torch.utils.data.DataLoader", "torch.utils.data.dataloader.DataLoader")
PARAMS = (  # torch.utils.data.DataLoader's positional order
    "dataset", "batch_size", "shuffle", "sampler", "batch_sampler", "num_workers", "collate_fn", "pin_memory", "drop_last",
)  # fmt: skip
UNSUPPORTED = {
    "sampler": "ds.GeneratorDataset(source, sampler=...) with a mindspore.dataset sampler",
    "batch_sampler": "ds.GeneratorDataset(source, sampler=...) plus .batch(...)",
    "collate_fn": ".batch(batch_size, per_batch_map=...)",
}
DROPPED = ("pin_memory", "timeout", "persistent_workers", "prefetch_factor", "worker_init_fn", "generator", "multiprocessing_context", "pin_memory_device")  # fmt: skip


def _sibling_columns(ctx: MigrationContext, module: str, level: int, cls: str) -> tuple[list[str], bool] | None:
    """Column names of a Dataset class defined in a script next to this one (`from dataset import D`)."""
    if ctx.path.startswith("<"):
        return None
    base = Path(ctx.path).resolve().parent
    for _ in range(max(level - 1, 0)):
        base = base.parent
    path = base.joinpath(*module.split(".")).with_suffix(".py") if module else None
    if path is None or not path.is_file():
        return None
    from mindconverter.migrate.rewrites.dataset_source import DatasetSource  # one column rule for both files

    probe = MigrationContext(path=str(path))
    try:
        cst.MetadataWrapper(cst.parse_module(path.read_text())).visit(DatasetSource(probe))
    except cst.ParserSyntaxError:
        return None
    columns = probe.options.get(DATASET_COLUMNS, {}).get(cls)
    return (columns, cls in probe.options.get(DICT_ITEMS, set())) if columns else None


@register_rewrite("data-loader", order=55)
class DataLoaderRewrite(BodyRewrite):
    """`DataLoader(ds_, batch_size=B, shuffle=S, num_workers=W, drop_last=D)` ->
    `ds.GeneratorDataset(ds_, column_names=[...], shuffle=S, num_parallel_workers=W).batch(B, drop_remainder=D)`.

    1. Column names are those of the source class (the Dataset rewrite, in this script or in the sibling
       script it is imported from). Unknown sources (a torchvision dataset, a function argument) and
       `sampler`/`batch_sampler`/`collate_fn` leave the call as written, marked `# [UnConvert]`.
    2. torch does not shuffle by default and GeneratorDataset does: `shuffle=False` is written when absent.
       `num_workers=0` (torch's default) writes nothing; `pin_memory` and other loader tuning are dropped.
    3. `for x, y in loader:` over a converted loader -> `loader.create_tuple_iterator()` (the guide's form;
       `create_dict_iterator()` when items were dicts), also inside `enumerate(...)`; `len(loader.dataset)`
       -> `len(<the source>)`.
    """

    METADATA_DEPENDENCIES = (QualifiedNameProvider, PositionProvider)

    def __init__(self, ctx) -> None:
        super().__init__(ctx)
        self._instances: dict[str, str] = {}  # variable -> source class it was built from
        self._imported: dict[str, tuple[str, int]] = {}  # class name -> (module, relative level)
        self._loaders: dict[str, tuple[cst.BaseExpression, bool]] = {}  # loader variable -> (source, dict items)
        self._unconverted: dict[int, tuple[str, str]] = {}  # id(original call) -> (why, suggestion)
        self._taken: set[str] = set()
        self._last: tuple[cst.BaseExpression, bool] | None = None  # the loader the current assignment builds

    def visit_Module(self, node: cst.Module) -> None:
        self._taken = names_in(node)
        rw = self

        class _Scan(cst.CSTVisitor):
            def visit_Assign(self, a: cst.Assign) -> None:
                if len(a.targets) == 1 and isinstance(a.targets[0].target, cst.Name) and isinstance(a.value, cst.Call):
                    if isinstance(a.value.func, cst.Name):
                        rw._instances[a.targets[0].target.value] = a.value.func.value

            def visit_ImportFrom(self, imp: cst.ImportFrom) -> None:
                if isinstance(imp.names, cst.ImportStar):
                    return
                module = code_of(imp.module) if imp.module is not None else ""
                for alias in imp.names:
                    local = alias.asname.name.value if alias.asname else code_of(alias.name)
                    rw._imported[local] = (module, len(imp.relative))

        node.visit(_Scan())

    def _columns(self, source: cst.BaseExpression) -> tuple[list[str], bool] | None:
        cls = source.func.value if isinstance(source, cst.Call) and isinstance(source.func, cst.Name) else None
        if isinstance(source, cst.Name):
            cls = self._instances.get(source.value)
        if cls is None:
            return None
        known = self.ctx.options.get(DATASET_COLUMNS, {})
        if cls in known:
            return known[cls], cls in self.ctx.options.get(DICT_ITEMS, set())
        if cls in self._imported:
            module, level = self._imported[cls]
            found = _sibling_columns(self.ctx, module, level, cls)
            if found is not None:
                known = self.ctx.options.setdefault(DATASET_COLUMNS, {})
                known[cls] = found[0]
                if found[1]:
                    self.ctx.options.setdefault(DICT_ITEMS, set()).add(cls)
            return found
        return None

    def leave_Call(self, original_node: cst.Call, updated_node: cst.Call) -> cst.BaseExpression:
        if not is_any(self, original_node.func, TORCH_LOADER):
            return self._len_of_dataset(updated_node)
        line, col = position(self, original_node)
        given = {}
        for i, a in enumerate(updated_node.args):
            if a.star:
                given = None
                break
            given[a.keyword.value if a.keyword else PARAMS[i] if i < len(PARAMS) else f"arg{i}"] = a.value
        why, suggestion = "", ""
        source = given.get("dataset") if given is not None else None
        found = self._columns(source) if source is not None else None
        if given is None:
            why, suggestion = "*args", "ds.GeneratorDataset(source, column_names=[...]).batch(batch_size)"
        elif unsupported := [k for k in UNSUPPORTED if k in given and code_of(given[k]) != "None"]:
            why, suggestion = f"{unsupported[0]}= has no GeneratorDataset keyword", UNSUPPORTED[unsupported[0]]
        elif found is None:
            why = "the source's columns are unknown"
            suggestion = "ds.GeneratorDataset(source, column_names=[...]).batch(batch_size)"
        if why:
            self._unconverted[id(original_node)] = (why, suggestion)
            self.ctx.report(line, col, "torch.utils.data.DataLoader", False, why, suggestion)
            return updated_node
        columns, dict_items = found
        dsm = dataset_module(self._taken)
        self.ctx.imports_needed.add(DS_IMPORT if dsm == "ds" else MS_IMPORT)
        keywords = [
            f"column_names={columns!r}",
            f"shuffle={code_of(given['shuffle']) if 'shuffle' in given else 'False'}",
        ]
        workers = given.get("num_workers")
        if workers is not None and code_of(workers) != "0":
            count = code_of(workers) if isinstance(workers, cst.Integer) else f"max(1, {code_of(workers)})"
            keywords.append(f"num_parallel_workers={count}")
        text = f"{dsm}.GeneratorDataset({code_of(source)}, {', '.join(keywords)})"
        batch = given.get("batch_size", cst.Integer("1"))
        if code_of(batch) != "None":
            drop = given.get("drop_last")
            text += f".batch({code_of(batch)}" + (f", drop_remainder={code_of(drop)})" if drop is not None else ")")
        self.ctx.report(line, col, "torch.utils.data.DataLoader", True, f"-> {dsm}.GeneratorDataset(...).batch(...)")
        self._last = (source, dict_items)
        return keep_parens(updated_node, cst.parse_expression(text))

    def _len_of_dataset(self, call: cst.Call) -> cst.BaseExpression:
        """`len(loader.dataset)` -> `len(source)` for a converted loader (MindSpore datasets have no `.dataset`)."""
        if isinstance(call.func, cst.Name) and call.func.value == "len" and len(call.args) == 1:
            inner = call.args[0].value
            if isinstance(inner, cst.Attribute) and inner.attr.value == "dataset" and isinstance(inner.value, cst.Name):
                loader = self._loaders.get(inner.value.value)
                if loader is not None:
                    return call.with_changes(args=[cst.Arg(loader[0])])
        return call

    def visit_Assign(self, node: cst.Assign) -> None:
        self._last = None

    def leave_Assign(self, original_node: cst.Assign, updated_node: cst.Assign) -> cst.Assign:
        if (
            self._last is not None
            and len(updated_node.targets) == 1
            and isinstance(updated_node.targets[0].target, cst.Name)
        ):
            self._loaders[updated_node.targets[0].target.value] = self._last
        self._last = None
        return updated_node

    def _iterator(self, node: cst.BaseExpression) -> cst.BaseExpression:
        if isinstance(node, cst.Name) and node.value in self._loaders:
            method = "create_dict_iterator" if self._loaders[node.value][1] else "create_tuple_iterator"
            return cst.Call(func=cst.Attribute(node, cst.Name(method)))
        if (
            isinstance(node, cst.Call)
            and isinstance(node.func, cst.Name)
            and node.func.value == "enumerate"
            and node.args
        ):
            return node.with_changes(
                args=[node.args[0].with_changes(value=self._iterator(node.args[0].value)), *node.args[1:]]
            )
        return node

    def leave_For(self, original_node: cst.For, updated_node: cst.For) -> cst.For:
        return updated_node.with_changes(iter=self._iterator(updated_node.iter))

    def rewrite_body(
        self, original: Sequence[cst.BaseStatement], body: Sequence[cst.BaseStatement]
    ) -> tuple[list[cst.BaseStatement], list[cst.EmptyLine]]:
        out = []
        for orig, node in zip(original, body, strict=True):
            small = assign_of_stmt(orig) or call_of_stmt(orig)
            value = small.value if isinstance(small, cst.Assign) else small
            if isinstance(value, cst.Call) and id(value) in self._unconverted:
                why, suggestion = self._unconverted[id(value)]
                node = with_marker(node, unconvert_comment("torch.utils.data.DataLoader", why, suggestion))
            out.append(node)
        return out, []
