"""A workaround for Keras's ExportArchive, kept apart from the export logic."""

from kseg import _compat


def _drop_duplicate_variable_lists(archive):
    """Keep one copy of each weight in the SavedModel checkpoint.

    Keras 3.15's ExportArchive saves the tracked Keras variables and, under
    ``_all_variables``, the TF variables its endpoints capture: two
    checkpoint entries for every weight, so the ``variables/`` folder is
    twice the model's size (63 MB instead of 31 MB for a 7.8M-parameter
    U-Net). The endpoints only need the captured ones, which write_out
    gathers itself, so the Keras lists are emptied before writing.
    """
    trackable = _compat.export_archive_trackable(archive)
    if trackable is None:
        return
    trackable.variables = []
    trackable.trainable_variables = []
    trackable.non_trainable_variables = []
