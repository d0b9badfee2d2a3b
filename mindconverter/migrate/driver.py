"""The script-migration driver: torch source in, MindSpore source (always parseable) and a report out.

Pipeline for one file: libcst parse -> each registered structural rewrite in order (registry.py)
-> the API-table call mapper (mapper.py) -> import fix-up (torch imports no longer used are
dropped, the MindSpore imports the new code uses are added) -> `compile()` of the result.
Comments and layout survive because every step is a libcst transformation.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import libcst as cst
from libcst.metadata import MetadataWrapper

from mindconverter.errors import ArgumentError, ConversionError, FileWriteError, ScriptParseError
from mindconverter.migrate.names import IMPORT_ORDER, MS_ALIASES
from mindconverter.migrate.registry import Finding, MigrationContext, load_rewrites
from mindconverter.migrate.report import render_json, render_txt
from mindconverter.migrate.table import TARGETS, load_table

log = logging.getLogger("mindconverter")
_TORCH_ROOTS = ("torch", "torchvision")


@dataclass
class MigrationResult:
    """One converted file: the new code, every finding, and the import changes."""

    path: str
    source: str
    code: str
    target: str
    findings: list[Finding]
    inserted: list[str] = field(default_factory=list)  # import statements added
    removed: list[tuple[int, int, str]] = field(default_factory=list)  # (line, col, statement) dropped
    rewrite_errors: list[str] = field(default_factory=list)

    @property
    def unconverted(self) -> list[Finding]:
        return [f for f in self.findings if not f.converted]

    def rates(self) -> dict[str, Any]:
        """Converted call sites, and lines whose every call site converted."""
        sites = len(self.findings)
        done = sum(f.converted for f in self.findings)
        lines: dict[int, bool] = {}
        for f in self.findings:
            lines[f.line] = lines.get(f.line, True) and f.converted
        return {
            "call_sites": sites, "converted_call_sites": done,
            "lines": len(lines), "converted_lines": sum(lines.values()),
        }


def migrate_source(code: str, target: str = "classic", path: str = "<string>", strict: bool = False,
                   options: dict[str, Any] | None = None, rewrites: Sequence[str] | None = None) -> MigrationResult:
    """Convert one torch script's source text; never refuses (unconverted calls are marked and reported).

    strict=True re-raises an exception of a structural rewrite instead of skipping that rewrite.
    rewrites: names of the structural rewrites to run (None: all registered, in order; (): the API
    table alone, as the per-API tests use it).
    """
    if target not in TARGETS:
        raise ArgumentError(f"unknown target {target!r}", fix=f"use one of: {', '.join(TARGETS)}")
    try:
        module = cst.parse_module(code)
    except cst.ParserSyntaxError as exc:
        raise ScriptParseError(
            f"'{path}' is not valid Python: {exc.message}", where=f"{path}:{exc.raw_line}:{exc.raw_column}",
            fix="fix the syntax error (the script must run under torch before it can be migrated)",
        ) from exc
    ctx = MigrationContext(target=target, path=path, options=dict(options or {}))
    errors: list[str] = []
    for rewrite in load_rewrites():
        if rewrites is not None and rewrite.name not in rewrites:
            continue
        try:
            module = MetadataWrapper(module).visit(rewrite(ctx))
        except Exception as exc:  # noqa: BLE001 - one broken rewrite must not lose the file
            if strict:
                raise
            errors.append(f"rewrite '{rewrite.name}' failed and was skipped: {type(exc).__name__}: {exc}")
            log.warning("%s: %s", path, errors[-1])
    from mindconverter.migrate.mapper import ApiMapper
    from mindconverter.migrate.rewrites._common import source_map

    # positions after the rewrites -> the source script's (lines matched by text, moved lines by similarity)
    to_source = (lambda line, col: (line, col)) if module.code == code else source_map(code, module.code)
    mapper = ApiMapper(load_table(), ctx, to_source)
    inserted: list[str] = []
    removed: list[tuple[int, int, str]] = []
    try:
        mapped = MetadataWrapper(module, unsafe_skip_copy=True).visit(mapper)
        module, inserted, removed = _fix_imports(mapped, mapper, ctx)
    except Exception as exc:  # noqa: BLE001 - a bug in the mapper must not lose the rewrites' work
        if strict:
            raise
        errors.append(f"the API-table mapping failed and was skipped: {type(exc).__name__}: {exc}")
        log.warning("%s: %s", path, errors[-1])
    out = module.code
    try:
        compile(out, path, "exec")
    except SyntaxError as exc:  # our bug: the output must always parse
        raise ConversionError(
            f"the converted '{path}' does not parse: {exc.msg}", where=f"line {exc.lineno} of the converted code",
            fix="this is a bug in mindconverter's script migration; report it with the script",
        ) from exc
    findings = sorted(ctx.findings, key=lambda f: (f.line, f.col))
    return MigrationResult(path, code, out, target, findings, inserted, removed, errors)


# ------------------------------------------------------------------ imports
def _is_torch_module(name: str) -> bool:
    return name.split(".", 1)[0] in _TORCH_ROOTS


def _binding(alias: cst.ImportAlias, from_import: bool) -> str:
    if alias.asname is not None:
        return alias.asname.name.value  # type: ignore[union-attr]
    name = cst.Module([]).code_for_node(alias.name)
    return name if from_import else name.split(".", 1)[0]


def _filter_import(stmt, keep: set[str], need: dict[str, bool]):
    """(the import with unused torch names dropped or None, whether it imports torch at all)."""
    from_import = isinstance(stmt, cst.ImportFrom)
    module = _code(stmt.module) if from_import and stmt.module is not None else ""
    if from_import and (stmt.relative or not _is_torch_module(module) or isinstance(stmt.names, cst.ImportStar)):
        return stmt, False
    names = list(stmt.names)
    kept = []
    for alias in names:
        full = module if from_import else _code(alias.name)
        bind = _binding(alias, from_import)
        root = full.split(".", 1)[0]
        if not _is_torch_module(full) or bind in keep or (bind == root and need.get(root)):
            kept.append(alias)
            if bind == root:
                need[root] = False
    if not any(_is_torch_module(module if from_import else _code(a.name)) for a in names):
        return stmt, False
    if len(kept) == len(names):
        return stmt, True
    if not kept:
        return None, True
    kept[-1] = kept[-1].with_changes(comma=cst.MaybeSentinel.DEFAULT)
    return stmt.with_changes(names=kept), True


def _code(node: cst.CSTNode) -> str:
    return cst.Module([]).code_for_node(node)


class _NestedImportFixer(cst.CSTTransformer):
    """Imports inside functions and classes: drop torch names nobody uses any more."""

    def __init__(self, keep: set[str], need: dict[str, bool]) -> None:
        super().__init__()
        self.keep, self.need = keep, need
        self.removed: list[str] = []

    def leave_SimpleStatementLine(self, original, updated):
        if len(updated.body) != 1 or not isinstance(updated.body[0], (cst.Import, cst.ImportFrom)):
            return updated
        new, is_torch = _filter_import(updated.body[0], self.keep, self.need)
        if not is_torch or new is updated.body[0]:
            return updated
        self.removed.append(_code(updated.body[0]))
        return cst.RemoveFromParent() if new is None else updated.with_changes(body=[new])


def _fix_imports(module: cst.Module, mapper, ctx: MigrationContext):
    """Drop torch import names nobody uses any more; add the MindSpore imports the code now uses,
    where the first torch import was (comments above a dropped import stay, above what follows)."""
    stats = mapper.stats
    by_statement = {stmt: alias for alias, (_, stmt) in MS_ALIASES.items()}
    aliases = set(stats.aliases) | {by_statement[s] for s in ctx.imports_needed if s in by_statement}
    ordered = sorted(aliases, key=lambda a: IMPORT_ORDER.index(a) if a in IMPORT_ORDER else 99)
    wanted = [MS_ALIASES[a][1] for a in ordered]
    wanted += sorted(s for s in ctx.imports_needed if s not in by_statement)
    existing = {_code(s).strip() for s in module.body if isinstance(s, cst.SimpleStatementLine)}
    add = [s for s in wanted if s not in existing]
    keep = set(stats.residual_bindings)
    need = {"torch": stats.need_torch_import, "torchvision": stats.need_torchvision_import}

    removed: list[tuple[int, int, str]] = []
    body: list[cst.CSTNode] = []
    insert_at: int | None = None
    carry: list[cst.EmptyLine] = []
    first_lines: list[cst.EmptyLine] = []
    for index, stmt in enumerate(module.body):
        if isinstance(stmt, cst.SimpleStatementLine) and len(stmt.body) == 1 and isinstance(stmt.body[0], (cst.Import, cst.ImportFrom)):
            new, is_torch = _filter_import(stmt.body[0], keep, need)
            if is_torch and insert_at is None:
                insert_at, first_lines = len(body), list(stmt.leading_lines)
                stmt = stmt.with_changes(leading_lines=[])
            if is_torch and new is not stmt.body[0]:
                removed.append((mapper.import_lines.get(index, 0), 0, _code(stmt.body[0])))
                if new is None:
                    carry += list(stmt.leading_lines)
                    if stmt.trailing_whitespace.comment is not None:
                        carry.append(cst.EmptyLine(comment=stmt.trailing_whitespace.comment))
                    continue
                stmt = stmt.with_changes(body=[new])
        elif not isinstance(stmt, cst.SimpleStatementLine) or not all(
                isinstance(s, (cst.Import, cst.ImportFrom)) for s in stmt.body):
            nested = _NestedImportFixer(keep, need)
            stmt = stmt.visit(nested)
            removed += [(0, 0, text) for text in nested.removed]
        if carry:
            stmt = stmt.with_changes(leading_lines=[*carry, *stmt.leading_lines])
            carry = []
        body.append(stmt)
    footer = list(module.footer)
    if carry:  # comments of dropped imports at the very end of the file
        footer = [*carry, *footer]
    add = [f"import {root}" for root, needed in need.items() if needed] + add
    if insert_at is None:
        insert_at = _after_leading_imports(body)
    new_lines = [cst.parse_statement(s + "\n") for s in add]
    if new_lines:
        # the comment lines above the first torch import now introduce the MindSpore imports
        new_lines[0] = new_lines[0].with_changes(leading_lines=first_lines)
    elif first_lines:
        if insert_at < len(body):
            body[insert_at] = body[insert_at].with_changes(leading_lines=[*first_lines, *body[insert_at].leading_lines])
        else:
            footer = [*first_lines, *footer]
    body[insert_at:insert_at] = new_lines
    return module.with_changes(body=body, footer=footer), add, removed


def _after_leading_imports(body: list[cst.CSTNode]) -> int:
    """After a docstring, `from __future__` and the other leading imports."""
    index = 0
    for i, stmt in enumerate(body):
        if isinstance(stmt, cst.SimpleStatementLine) and all(
                isinstance(s, (cst.Import, cst.ImportFrom)) or (isinstance(s, cst.Expr) and i == 0) for s in stmt.body):
            index = i + 1
        else:
            break
    return index


# -------------------------------------------------------------------- files
def migrate_file(path: str | Path, target: str = "classic", options: dict[str, Any] | None = None) -> MigrationResult:
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise ArgumentError(f"cannot read script '{path}': {exc}", fix="pass an existing UTF-8 .py file or folder") from exc
    return migrate_source(text, target=target, path=str(path), options=options)


@dataclass
class PathResult:
    """What `migrate_path` wrote: converted scripts, copied files, reports, per-file results."""

    name: str
    files: dict[str, MigrationResult]  # relative path -> result
    outputs: list[Path]
    copied: list[Path]
    report_txt: Path
    report_json: Path

    def rates(self) -> dict[str, int]:
        total: dict[str, int] = {}
        for r in self.files.values():
            for k, v in r.rates().items():
                total[k] = total.get(k, 0) + v
        return total


_SKIP_DIRS = {"__pycache__", ".git", ".hg", ".svn", ".venv", "venv", ".mypy_cache", ".pytest_cache", ".ruff_cache"}


def migrate_path(src: str | Path, output_dir: str | Path = "output", report_dir: str | Path | None = None,
                 target: str = "classic", overwrite: bool = False, options: dict[str, Any] | None = None) -> PathResult:
    """Convert a script, or a folder as a project (every .py converted, other files copied, layout kept).

    Everything is written to a staging folder first and moved into place at the end; existing
    files are never replaced without overwrite=True.
    """
    src = Path(src)
    out_dir = Path(output_dir)
    rep_dir = Path(report_dir) if report_dir else out_dir
    if target not in TARGETS:
        raise ArgumentError(f"unknown --target {target!r}", fix=f"use one of: {', '.join(TARGETS)}")
    if not src.exists():
        raise ArgumentError(f"script or folder '{src}' does not exist", fix="pass a .py file or a project folder to --in_file")
    if src.is_file():
        if src.suffix != ".py":
            raise ArgumentError(f"'{src}' is not a Python script", where="--in_file", fix="pass a .py file or a folder")
        name = src.stem
        scripts = {Path(src.name): src}
        others: dict[Path, Path] = {}
    else:
        name = src.resolve().name
        scripts, others = _walk(src, [out_dir, rep_dir])
    results: dict[str, MigrationResult] = {}
    for rel, file in scripts.items():
        results[rel.as_posix()] = migrate_file(file, target=target, options=options)

    final: dict[str, Path] = {}
    for rel in scripts:
        final[f"script:{rel.as_posix()}"] = out_dir / rel
    for rel in others:
        final[f"copy:{rel.as_posix()}"] = out_dir / rel
    final["report_txt"] = rep_dir / f"report_of_{name}.txt"
    final["report_json"] = rep_dir / f"report_of_{name}.json"
    existing = [p for p in final.values() if p.exists()]
    if existing and not overwrite:
        raise FileWriteError(
            f"{len(existing)} output file(s) already exist, e.g. '{existing[0]}'",
            where=f"--output {out_dir}" + (f" --report {rep_dir}" if report_dir else ""),
            fix="choose another --output/--report folder, or pass --overwrite to replace them",
        )
    from mindconverter.staging import check_output_dirs, publish, stage_dir

    check_output_dirs({"--output": out_dir, "--report": rep_dir})
    stage = stage_dir(out_dir, name)
    try:
        staged: dict[str, Path] = {}
        for key in final:
            staged[key] = stage / key.replace(":", "_").replace("/", "__")
        for rel in scripts:
            staged[f"script:{rel.as_posix()}"].write_text(results[rel.as_posix()].code, encoding="utf-8")
        for rel, file in others.items():
            shutil.copy2(file, staged[f"copy:{rel.as_posix()}"])
        staged["report_txt"].write_text(render_txt(list(results.values())), encoding="utf-8")
        staged["report_json"].write_text(json.dumps(render_json(list(results.values())), indent=2) + "\n", encoding="utf-8")
        publish(staged, final, overwrite)
    except OSError as exc:
        raise FileWriteError(f"cannot write the converted files: {exc}", where=str(out_dir)) from exc
    finally:
        shutil.rmtree(stage, ignore_errors=True)
    return PathResult(
        name, results,
        outputs=[out_dir / rel for rel in scripts], copied=[out_dir / rel for rel in others],
        report_txt=final["report_txt"], report_json=final["report_json"],
    )


def _walk(root: Path, exclude: list[Path]) -> tuple[dict[Path, Path], dict[Path, Path]]:
    scripts: dict[Path, Path] = {}
    others: dict[Path, Path] = {}
    excluded = {p.resolve() for p in exclude}
    for dirpath, dirnames, filenames in os.walk(root):
        here = Path(dirpath)
        dirnames[:] = sorted(
            d for d in dirnames
            if d not in _SKIP_DIRS and not d.startswith(".") and (here / d).resolve() not in excluded
        )
        for fname in sorted(filenames):
            file = here / fname
            rel = file.relative_to(root)
            if fname.endswith(".py"):
                scripts[rel] = file
            elif not fname.endswith((".pyc", ".pyo")):
                others[rel] = file
    return scripts, others
