"""mindconverter: migrate ONNX (and TensorFlow, PyTorch) models to readable MindSpore code, with proven parity.

Importing this package is cheap: heavy dependencies (mindspore, onnx) load only when used.
"""

__version__ = "0.1.0"

__all__ = ["__version__", "convert", "migrate_script", "pytorch2mindspore"]


def convert(*args, **kwargs):
    """Convert a model file; see mindconverter.api.convert for the arguments."""
    from mindconverter.api import convert as _convert

    return _convert(*args, **kwargs)


def pytorch2mindspore(*args, **kwargs):
    """Convert a live torch.nn.Module; see mindconverter.api.pytorch2mindspore for the arguments."""
    from mindconverter.api import pytorch2mindspore as _pytorch2mindspore

    return _pytorch2mindspore(*args, **kwargs)


def migrate_script(*args, **kwargs):
    """Migrate a PyTorch script or project folder; see mindconverter.migrate.driver.migrate_path."""
    from mindconverter.migrate.driver import migrate_path

    return migrate_path(*args, **kwargs)
