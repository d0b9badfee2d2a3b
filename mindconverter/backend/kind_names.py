"""Class names from the names of a source's module instances: `denselayer3` is a `DenseLayer`.

A scope name written in lower case with its words run together (torchvision's `denselayer1`,
`denseblock2`, `encoderlayer`) is split where the words of `WORDS`, a list of the words module names
are made of, cover it in exactly one way; any other word keeps its letters and gets an upper-case first
letter (`fire` -> `Fire`, `mbconv` -> `Mbconv`: `mb` is no known word), as does a word the list could
split in two ways. Torch models converted with `pytorch2mindspore` do not need this: their classes are
named after the source's own classes (the pass option `module-classes`).
"""

from __future__ import annotations

from functools import cache

#: Words that module names of vision and language models are made of.
WORDS = frozenset("""
    act activation adapter aggregation attention attn avg backbone basic batch block blocks body bottleneck
    branch bridge channel classifier conv context cross decoder dense depthwise down downsample dropout
    embed embedding embeddings encoder excitation expand expansion feature features feed ffn fire fusion
    gate global group head inception input intermediate inverted key layer layers linear merge mixed mlp
    module multi norm output patch pointwise pool pooler pooling position positional proj projection query
    reduce reduction res residual sample scale self separable shortcut skip spatial squeeze stage stem
    token transformer transition unit up upsample value
""".split())


@cache
def _splits(word: str) -> tuple[tuple[str, ...], ...]:
    """Every way (at most two: that already makes it ambiguous) to write `word` as words of WORDS."""
    if not word:
        return ((),)
    found: list[tuple[str, ...]] = []
    for end in range(len(word), 0, -1):
        if word[:end] in WORDS:
            found += [(word[:end], *rest) for rest in _splits(word[end:])]
            if len(found) > 1:
                break
    return tuple(found[:2])


def class_word(word: str) -> str:
    """`word` as part of a class name: `dense` -> `Dense`, `denselayer` -> `DenseLayer`, `bn2d` -> `Bn2d`."""
    splits = _splits(word) if word.isalpha() and word.islower() else ()
    parts = splits[0] if len(splits) == 1 else (word,)
    return "".join(p[:1].upper() + p[1:] for p in parts)
