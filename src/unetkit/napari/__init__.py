"""unetkit's napari plugin: the manifest (``napari.yaml``, found through the ``napari.manifest`` entry point) and
the functions behind its widgets (``widgets``), which napari turns into forms. Install with the ``napari`` extra."""
