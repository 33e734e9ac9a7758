"""The expected-error classes: one module holds them all."""

import importlib
import inspect
import pkgutil

import k400frames
from k400frames import errors


def package_modules():
    # __main__ would run the CLI on import.
    return [
        importlib.import_module(f"k400frames.{info.name}")
        for info in pkgutil.iter_modules(k400frames.__path__)
        if info.name != "__main__"
    ]


def test_every_k400error_subclass_is_defined_in_errors_py():
    found = {}
    for module in package_modules():
        for name, obj in inspect.getmembers(module, inspect.isclass):
            if issubclass(obj, errors.K400Error):
                found[f"{module.__name__}.{name}"] = obj.__module__
    assert found, "no K400Error subclass seen: the scan is broken"
    assert set(found.values()) == {"k400frames.errors"}, found


def test_moved_errors_are_still_importable_from_their_old_modules():
    from k400frames.sources.kinetics import AnnotationError
    from k400frames.stores.lmdb import StoreError
    from k400frames.tools.lists import ListFormatError
    from k400frames.tools.preview import PreviewError

    assert (AnnotationError, ListFormatError, PreviewError, StoreError) == (
        errors.AnnotationError,
        errors.ListFormatError,
        errors.PreviewError,
        errors.StoreError,
    )
