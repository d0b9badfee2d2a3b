"""Run structural rewrites on source text, as the driver does, for source-in / source-out tests."""

from __future__ import annotations

import ast
import io
import tokenize

import libcst as cst

from mindconverter.migrate.registry import REWRITES, MigrationContext, load_rewrites


def rewrite(
    source: str, *names: str, path: str = "<string>", target: str = "classic", **options
) -> tuple[str, MigrationContext]:
    """Apply the named rewrites (all registered ones when none is named), in run order; the code and context."""
    ctx = MigrationContext(target=target, path=path, options=dict(options))
    chosen = [cls for cls in load_rewrites() if not names or cls.name in names]
    assert not names or len(chosen) == len(names), f"unknown rewrite among {names}: {sorted(REWRITES)}"
    module = cst.parse_module(source)
    for cls in chosen:
        module = cst.MetadataWrapper(module).visit(cls(ctx))
    code = module.code
    ast.parse(code)  # the output always parses
    return code, ctx


def comments(source: str) -> list[str]:
    """Every comment of a script, in order."""
    return [t.string for t in tokenize.generate_tokens(io.StringIO(source).readline) if t.type == tokenize.COMMENT]


def user_comments(source: str) -> list[str]:
    """The comments of a converted script without the `# [UnConvert] ...` markers the conversion added
    (a marker appended to a line's own comment is cut off it)."""
    kept = []
    for c in comments(source):
        c = c.split("# [UnConvert]", 1)[0].rstrip()
        if c:
            kept.append(c)
    return kept


def assert_comments_kept(before: str, after: str) -> None:
    """Every comment of `before` is in `after` as often (statements that move take theirs along; added
    [UnConvert] markers allowed)."""
    kept = sorted(user_comments(after))
    assert kept == sorted(comments(before)), (comments(before), kept)
