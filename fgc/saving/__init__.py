"""``fgc.saving``: model and weights files in Keras 3's formats (``.keras``, ``.weights.h5``) and fgc's ``.npz``."""
