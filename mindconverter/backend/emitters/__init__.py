"""Emitter families, one module per family; importing this package imports (and so registers) every module in it.

Adding an op family is adding its file here (and its test): the modules are found on disk.
"""

import importlib
import pkgutil

for _info in pkgutil.iter_modules(__path__):
    importlib.import_module(f"{__name__}.{_info.name}")
