"""The expected-error classes: one module holds them all (test_structure.py
checks that no K400Error subclass is defined anywhere else)."""

from k400frames import errors


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
