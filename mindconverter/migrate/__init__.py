"""Script migration (`mindconverter --in_file`): rewrite PyTorch scripts into MindSpore with libcst.

Two mechanisms, applied by one driver: structural rewrites (`rewrites/`, one class per idiom,
registered with `register_rewrite`) and the declarative torch -> MindSpore API table (`api_table/`).
"""
