"""TensorFlow as the reference: run the frozen GraphDef itself (a tf.compat.v1 Session, CPU)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from mindconverter.errors import RuntimeCheckError


def graph_def_runner(graph_def: Any, inputs: Sequence[str], outputs: Sequence[str]) -> Callable[[list[np.ndarray]], list[np.ndarray]]:
    """A function running `graph_def` on numpy inputs (fed to tensors `inputs`), fetching tensors `outputs`.

    The graph is imported once, on first use, into its own tf.Graph and Session.
    """
    state: dict[str, Any] = {}

    def run(values: list[np.ndarray]) -> list[np.ndarray]:
        import tensorflow as tf

        try:
            if "session" not in state:
                graph = tf.Graph()
                with graph.as_default(), tf.device("/cpu:0"):
                    tf.graph_util.import_graph_def(graph_def, name="")
                state["session"] = tf.compat.v1.Session(graph=graph)
            feeds = dict(zip(inputs, values, strict=True))
            return [np.asarray(x) for x in state["session"].run(list(outputs), feed_dict=feeds)]
        except Exception as exc:  # noqa: BLE001 - TensorFlow raises its own exception types
            raise RuntimeCheckError(
                f"TensorFlow cannot run the source graph: {type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}",
                fix="check the graph with TensorFlow yourself, or rerun with --check off",
            ) from exc

    return run
