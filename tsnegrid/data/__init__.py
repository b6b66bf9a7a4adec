"""Stage 1, the images: built-in datasets, image folders, IDX files and feature files.

Every loader returns an :class:`~tsnegrid.results.ImageSet`; reading these inputs is the only
side effect, and a problem with one raises :class:`~tsnegrid.errors.InputError`.
"""

from tsnegrid.data.datasets import load_dataset
from tsnegrid.data.features import load_features
from tsnegrid.data.folder import read_image_folder as load_image_folder
from tsnegrid.data.sample import fingerprint, sample_images, sample_index, subset

__all__ = [
    "fingerprint",
    "load_dataset",
    "load_features",
    "load_image_folder",
    "sample_images",
    "sample_index",
    "subset",
]
