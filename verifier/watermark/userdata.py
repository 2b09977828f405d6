"""Bring-your-own data: the user's examples and labels as two tensors, whatever form they come in.

Files (everything bounded before it is parsed):

* ``.npz`` with arrays ``x`` (N, *shape) and ``y`` (N,) integer labels, read with ``allow_pickle=False`` after
  the archive's unpacked size is checked (``np.savez_compressed`` deflates);
* ``.csv`` with a header, a ``label`` column of integer class indices and numeric feature columns (tabular rows);
* an image folder with one sub-folder per class (class index = position of the sub-folder's name in sorted
  order, as torchvision's ``ImageFolder``), every image the same size, read as (C, H, W) floats in [0, 1]
  (C = 1 if every image is greyscale, else 3 RGB).

In Python: a ``(x, y)`` pair of tensors or numpy arrays, a ``torch.utils.data.Dataset`` of ``(x, y)`` items, or a
``DataLoader`` (any iterable) of ``(x, y)`` batches. ``uint8`` arrays of images are scaled to [0, 1]; integer
1-D examples are token ids.
"""

from __future__ import annotations

import csv
import dataclasses
import io
import math
import zipfile
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import numpy as np
import torch

from verifier.errors import VerifierError

MAX_DATA_BYTES = 1024**3
"""A data file (or an .npz's unpacked arrays) larger than this is refused before it is parsed."""
MAX_ELEMENTS = 2**28
"""Input elements held at once (1 GiB of float32), whatever the source."""
MAX_EXAMPLES = 10_000_000
MAX_CSV_COLUMNS = 100_000
MAX_IMAGES = 200_000
MAX_IMAGE_PIXELS = 4096 * 4096
IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".gif", ".webp", ".tif", ".tiff")
MODALITIES = ("image", "tokens", "sequence", "tabular")
LABEL_COLUMN = "label"


class UserDataError(VerifierError):
    """The user's data cannot be used: unreadable, too large, of the wrong shape, or without labels."""


@dataclasses.dataclass(frozen=True, eq=False)
class UserData:
    """Examples and their labels, held in memory."""

    x: torch.Tensor  # (N, *shape): float32, or int64 token ids
    y: torch.Tensor  # (N,) int64 class indices

    @property
    def input_shape(self) -> tuple[int, ...]:
        return tuple(self.x.shape[1:])

    @property
    def modality(self) -> str:
        """What the examples look like: token ids (integer rows), images (C, H, W), tabular rows or sequences."""
        if not self.x.is_floating_point():
            return "tokens" if self.x.ndim == 2 else "sequence"
        return {2: "tabular", 3: "sequence", 4: "image"}.get(self.x.ndim, "unknown")

    def split(self, fraction: float = 0.2, seed: int = 0) -> tuple[UserData, UserData]:
        """A deterministic (rest, held-out fraction) split, for accuracy measured on data not trained on."""
        order = torch.randperm(len(self.y), generator=torch.Generator().manual_seed(seed))
        held = max(1, int(len(order) * fraction))
        rest, out = order[held:], order[:held]
        return UserData(self.x[rest], self.y[rest]), UserData(self.x[out], self.y[out])


def load_file(path: Path) -> UserData:
    """Examples and labels from an .npz, a .csv with a ``label`` column, or an image folder."""
    path = Path(path)
    if path.is_dir():
        return _load_image_folder(path)
    if not path.is_file():
        raise UserDataError(f"{path}: no such file or folder")
    size = path.stat().st_size
    if size > MAX_DATA_BYTES:
        raise UserDataError(
            f"{path}: {size:,} bytes, more than the {MAX_DATA_BYTES:,} allowed: refused unread"
        )
    suffix = path.suffix.lower()
    if suffix == ".npz":
        return _load_npz(path)
    if suffix == ".csv":
        return _load_csv(path)
    raise UserDataError(
        f"{path}: unknown data suffix {suffix or '(none)'!r}; use .npz (arrays x, y), .csv (a {LABEL_COLUMN!r} "
        "column) or a folder of images (one sub-folder per class)"
    )


def as_data(data: Any, *, limit: int = MAX_EXAMPLES) -> UserData:
    """Examples and labels from what a Python caller holds: a loaded ``UserData``, an ``(x, y)`` pair of tensors
    or arrays, a ``Dataset`` of ``(x, y)`` items, or an iterable (``DataLoader``) of ``(x, y)`` batches."""
    if isinstance(data, UserData):
        return data
    if isinstance(data, tuple | list) and len(data) == 2 and all(_is_array(part) for part in data):
        return _checked(_tensor(data[0]), _tensor(data[1]), "the (x, y) pair")
    if hasattr(data, "__getitem__") and hasattr(data, "__len__"):
        return _from_items(data, limit)
    if isinstance(data, Iterable):
        return _from_batches(data, limit)
    raise UserDataError(
        f"cannot read examples from a {type(data).__name__}: give (x, y) tensors or arrays, a Dataset of "
        "(x, y) items or a DataLoader of (x, y) batches"
    )


# --------------------------------------------------------------------------- Python objects


def _is_array(value: Any) -> bool:
    return isinstance(value, torch.Tensor | np.ndarray)


def _tensor(value: Any) -> torch.Tensor:
    if isinstance(value, np.ndarray):
        if value.dtype == object:
            raise UserDataError("arrays of Python objects are not data: give numeric arrays")
        value = torch.from_numpy(np.ascontiguousarray(value))
    if not isinstance(value, torch.Tensor):
        raise UserDataError(f"expected a tensor or an array, not {type(value).__name__}")
    return value.detach().cpu()


def _item_pair(item: Any, where: str) -> tuple[torch.Tensor, torch.Tensor]:
    if not isinstance(item, tuple | list) or len(item) < 2:
        raise UserDataError(f"{where} is not an (x, y) pair")
    x, y = item[0], item[1]
    y = torch.as_tensor(y) if isinstance(y, int | np.integer) else _tensor(y)
    return _tensor(x), y


def _from_items(dataset: Any, limit: int) -> UserData:
    count = len(dataset)
    if count > limit:
        raise UserDataError(f"the dataset has {count:,} examples, more than the {limit:,} read at once")
    pairs = [_item_pair(dataset[i], f"item {i} of the dataset") for i in range(count)]
    if not pairs:
        raise UserDataError("the dataset is empty")
    _bound(count * pairs[0][0].numel(), "the dataset")
    return _checked(torch.stack([x for x, _ in pairs]), torch.stack([y for _, y in pairs]), "the dataset")


def _from_batches(batches: Iterable[Any], limit: int) -> UserData:
    xs, ys, count = [], [], 0
    for index, batch in enumerate(batches):
        x, y = _item_pair(batch, f"batch {index}")
        count += len(x)
        if count > limit:
            raise UserDataError(f"the batches hold more than the {limit:,} examples read at once")
        _bound(count * math.prod(x.shape[1:]), "the batches")
        xs.append(x)
        ys.append(y.reshape(-1))
    if not xs:
        raise UserDataError("the data loader yielded no batches")
    return _checked(torch.cat(xs), torch.cat(ys), "the batches")


def _bound(elements: int, where: str) -> None:
    if elements > MAX_ELEMENTS:
        raise UserDataError(
            f"{where} hold {elements:,} input elements, more than the {MAX_ELEMENTS:,} allowed"
        )


def _checked(x: torch.Tensor, y: torch.Tensor, where: str) -> UserData:
    """One label per example, integer labels, at least one feature; uint8 images scaled to [0, 1]."""
    _bound(x.numel(), where)
    if x.ndim < 2 or len(x) == 0:
        raise UserDataError(f"{where}: x must be shaped (N, *example) with N ≥ 1, not {tuple(x.shape)}")
    if y.ndim != 1 or len(y) != len(x):
        raise UserDataError(
            f"{where}: y must hold one label per example ({len(x)}), not shape {tuple(y.shape)}"
        )
    if y.is_floating_point() or y.dtype == torch.bool or y.is_complex():
        raise UserDataError(f"{where}: labels must be integer class indices, not {y.dtype}")
    if len(y) and int(y.min()) < 0:
        raise UserDataError(f"{where}: labels must be class indices ≥ 0, found {int(y.min())}")
    if x.dtype == torch.uint8 and x.ndim == 4:
        x = x.float() / 255
    elif x.is_floating_point():
        x = x.float()
        if not bool(torch.isfinite(x).all()):
            raise UserDataError(f"{where}: x holds NaN or infinite values")
    elif x.is_complex() or x.dtype == torch.bool:
        raise UserDataError(f"{where}: x must be numeric, not {x.dtype}")
    else:
        x = x.long()
    return UserData(x.contiguous(), y.long())


# --------------------------------------------------------------------------- files


def _load_npz(path: Path) -> UserData:
    try:
        with zipfile.ZipFile(path) as archive:
            records = {record.filename: record.file_size for record in archive.infolist()}
    except (zipfile.BadZipFile, OSError):
        raise UserDataError(f"{path}: not an .npz archive") from None
    unpacked = sum(records.values())
    if unpacked > MAX_DATA_BYTES:
        raise UserDataError(
            f"{path}: its arrays unpack to {unpacked:,} bytes, more than the {MAX_DATA_BYTES:,} allowed: "
            "refused before unpacking"
        )
    missing = [name for name in ("x", "y") if f"{name}.npy" not in records]
    if missing:
        raise UserDataError(f"{path}: no array named {' or '.join(missing)} (the .npz needs arrays x and y)")
    try:
        with np.load(path, allow_pickle=False) as arrays:
            x, y = arrays["x"], arrays["y"]
    except (ValueError, OSError, zipfile.BadZipFile) as err:
        raise UserDataError(f"{path}: unreadable arrays ({err})") from None
    return _checked(_tensor(x), _tensor(y), str(path))


def _load_csv(path: Path) -> UserData:
    """Header, then rows; the ``label`` column holds class indices, every other column a number."""
    try:
        text = path.read_bytes().decode("utf-8-sig")
    except UnicodeDecodeError:
        raise UserDataError(f"{path}: a CSV file must be UTF-8 text") from None
    reader = csv.reader(io.StringIO(text, newline=""))
    header = next(reader, None)
    if header is None:
        raise UserDataError(f"{path}: the CSV file is empty")
    if len(header) > MAX_CSV_COLUMNS:
        raise UserDataError(f"{path}: {len(header):,} columns, more than the {MAX_CSV_COLUMNS:,} allowed")
    names = [name.strip() for name in header]
    if LABEL_COLUMN not in names:
        raise UserDataError(f"{path}: no {LABEL_COLUMN!r} column in the header (columns: {names[:10]})")
    label_at = names.index(LABEL_COLUMN)
    rows, labels = [], []
    for number, row in enumerate(reader, start=2):
        if not row:
            continue
        if len(row) != len(names):
            raise UserDataError(f"{path}, line {number}: {len(row)} fields, the header has {len(names)}")
        try:
            labels.append(int(row[label_at]))
            rows.append([float(value) for i, value in enumerate(row) if i != label_at])
        except ValueError:
            raise UserDataError(
                f"{path}, line {number}: features must be numbers and {LABEL_COLUMN!r} an integer class index"
            ) from None
    if not rows or len(names) < 2:
        raise UserDataError(f"{path}: no rows, or no feature column beside {LABEL_COLUMN!r}")
    return _checked(torch.tensor(rows, dtype=torch.float32), torch.tensor(labels), str(path))


def _load_image_folder(root: Path) -> UserData:
    """One sub-folder per class, in sorted order; every image the same size."""
    from PIL import Image

    classes = sorted(
        child.name for child in root.iterdir() if child.is_dir() and not child.name.startswith(".")
    )
    if not classes:
        raise UserDataError(f"{root}: an image folder needs one sub-folder per class, and has none")
    files = [
        (file, label)
        for label, name in enumerate(classes)
        for file in sorted((root / name).iterdir())
        if file.suffix.lower() in IMAGE_SUFFIXES and file.is_file()
    ]
    if not files:
        raise UserDataError(f"{root}: no images ({', '.join(IMAGE_SUFFIXES)}) in its class folders")
    if len(files) > MAX_IMAGES:
        raise UserDataError(f"{root}: {len(files):,} images, more than the {MAX_IMAGES:,} allowed")
    images = [_read_image(Image, file) for file, _ in files]
    sizes = {image.size for image in images}
    if len(sizes) != 1:
        raise UserDataError(
            f"{root}: the images differ in size ({sorted(sizes)[:4]}): resize them to one size"
        )
    width, height = sizes.pop()
    grey = all(image.mode in ("L", "1", "I", "I;16", "F") for image in images)
    _bound(len(images) * width * height * (1 if grey else 3), str(root))
    arrays = [np.asarray(image.convert("L" if grey else "RGB"), dtype=np.uint8) for image in images]
    x = torch.from_numpy(np.stack(arrays))  # (N, H, W) or (N, H, W, 3)
    x = x[:, None] if grey else x.permute(0, 3, 1, 2)  # (N, C, H, W)
    return _checked(x.contiguous(), torch.tensor([label for _, label in files]), str(root))


def _read_image(image_module: Any, file: Path) -> Any:
    """The image's header gives its size before its pixels are decoded: a small file can decode to gigabytes."""
    if file.stat().st_size > MAX_DATA_BYTES:
        raise UserDataError(f"{file}: larger than the {MAX_DATA_BYTES:,} bytes allowed")
    try:
        image = image_module.open(file)
        if image.size[0] * image.size[1] > MAX_IMAGE_PIXELS:
            raise UserDataError(
                f"{file}: {image.size[0]}×{image.size[1]} pixels, more than {MAX_IMAGE_PIXELS:,}"
            )
        image.load()
    except (OSError, SyntaxError, ValueError, image_module.DecompressionBombError) as err:
        raise UserDataError(f"{file}: not a readable image ({err})") from None
    return image
