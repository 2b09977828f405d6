"""The user's data from files (.npz, .csv, image folders) and from Python objects, bounded before parsing."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image
from torch.utils.data import DataLoader, TensorDataset

from verifier.watermark import userdata


def test_an_npz_of_x_and_y_loads_as_tensors(tmp_path: Path) -> None:
    x = np.arange(24, dtype=np.float32).reshape(4, 6)
    np.savez_compressed(tmp_path / "d.npz", x=x, y=np.array([0, 1, 2, 1]))
    loaded = userdata.load_file(tmp_path / "d.npz")
    assert torch.equal(loaded.x, torch.from_numpy(x)) and loaded.y.tolist() == [0, 1, 2, 1]
    assert loaded.modality == "tabular" and loaded.y.dtype == torch.int64


def test_integer_rows_are_token_ids_and_uint8_images_are_scaled(tmp_path: Path) -> None:
    np.savez(tmp_path / "t.npz", x=np.array([[5, 6, 7], [1, 2, 3]]), y=np.array([0, 1]))
    np.savez(tmp_path / "i.npz", x=np.full((2, 3, 4, 4), 255, dtype=np.uint8), y=np.array([0, 1]))
    tokens, images = userdata.load_file(tmp_path / "t.npz"), userdata.load_file(tmp_path / "i.npz")
    assert tokens.modality == "tokens" and tokens.x.dtype == torch.int64
    assert images.modality == "image" and float(images.x.max()) == 1.0


def test_a_csv_with_a_label_column_loads_its_other_columns_as_features(tmp_path: Path) -> None:
    (tmp_path / "d.csv").write_text("a,label,b\n1.5,0,2\n-1,2,0.25\n")
    loaded = userdata.load_file(tmp_path / "d.csv")
    assert loaded.x.tolist() == [[1.5, 2.0], [-1.0, 0.25]] and loaded.y.tolist() == [0, 2]


def test_an_image_folder_gives_one_class_per_sorted_sub_folder(tmp_path: Path) -> None:
    for name, shade in (("cat", 0), ("dog", 255)):
        (tmp_path / name).mkdir()
        for i in range(2):
            Image.new("RGB", (5, 4), (shade, i, 0)).save(tmp_path / name / f"{i}.png")
    (tmp_path / "dog" / "notes.txt").write_text("not an image")
    loaded = userdata.load_file(tmp_path)
    assert tuple(loaded.x.shape) == (4, 3, 4, 5) and loaded.y.tolist() == [0, 0, 1, 1]
    assert float(loaded.x[2, 0].mean()) == 1.0 and loaded.modality == "image"


def test_greyscale_images_load_with_one_channel(tmp_path: Path) -> None:
    (tmp_path / "zero").mkdir()
    Image.new("L", (8, 8), 128).save(tmp_path / "zero" / "a.png")
    assert tuple(userdata.load_file(tmp_path).x.shape) == (1, 1, 8, 8)


def test_python_objects_all_give_the_same_examples() -> None:
    x, y = torch.rand(10, 3), torch.arange(10) % 2
    forms = [
        (x, y),
        (x.numpy(), y.numpy()),
        TensorDataset(x, y),
        DataLoader(TensorDataset(x, y), batch_size=3),
    ]
    for form in forms:
        loaded = userdata.as_data(form)
        assert torch.equal(loaded.x, x) and torch.equal(loaded.y, y), type(form)


def test_split_holds_out_a_fifth_deterministically() -> None:
    data = userdata.UserData(torch.arange(50).float()[:, None], torch.zeros(50, dtype=torch.long))
    (rest, held), (rest2, _) = data.split(), data.split()
    assert len(held.y) == 10 and len(rest.y) == 40 and torch.equal(rest.x, rest2.x)
    assert not set(held.x.flatten().tolist()) & set(rest.x.flatten().tolist())


def npz_bomb(path: Path) -> Path:
    """A few bytes whose zip directory says they unpack to more than MAX_DATA_BYTES (zipfile never reads
    past the declared size, so the declaration is what bounds the read)."""
    np.savez_compressed(path, x=np.zeros(4), y=np.zeros(4, dtype=int))
    raw = bytearray(path.read_bytes())
    entry = raw.index(b"PK\x01\x02")  # the first central directory record: x.npy
    raw[entry + 24 : entry + 28] = (userdata.MAX_DATA_BYTES + 1).to_bytes(4, "little")
    path.write_bytes(bytes(raw))
    return path


@pytest.mark.parametrize(
    ("name", "content", "message"),
    [
        ("d.csv", "a,b\n1,2\n", "no 'label' column in the header"),
        ("d.csv", "a,label\n1,cat\n", "line 2: features must be numbers and 'label' an integer"),
        ("d.csv", "a,label\n1,0,5\n", "line 2: 3 fields, the header has 2"),
        ("d.csv", b"a,label\n\xff,0\n", "a CSV file must be UTF-8 text"),
        ("d.csv", "label\n0\n", "no feature column"),
        ("d.json", "{}", "unknown data suffix '.json'"),
        ("d.npz", "not a zip", "not an .npz archive"),
        ("missing.npz", None, "no such file or folder"),
    ],
)
def test_bad_data_files_are_refused_with_the_reason(
    tmp_path: Path, name: str, content: str | bytes | None, message: str
) -> None:
    path = tmp_path / name
    if isinstance(content, bytes):
        path.write_bytes(content)
    elif content is not None:
        path.write_text(content)
    with pytest.raises(userdata.UserDataError, match=message):
        userdata.load_file(path)


def test_oversize_files_and_archives_are_refused_before_parsing(tmp_path: Path) -> None:
    huge = tmp_path / "huge.csv"
    with open(huge, "wb") as stream:
        stream.truncate(userdata.MAX_DATA_BYTES + 1)  # sparse: no disk used
    with pytest.raises(userdata.UserDataError, match="refused unread"):
        userdata.load_file(huge)
    with pytest.raises(userdata.UserDataError, match="refused before unpacking"):
        userdata.load_file(npz_bomb(tmp_path / "bomb.npz"))


def test_npz_arrays_must_be_named_and_numeric(tmp_path: Path) -> None:
    np.savez(tmp_path / "a.npz", inputs=np.zeros((2, 2)), y=np.zeros(2, dtype=int))
    with pytest.raises(userdata.UserDataError, match="no array named x"):
        userdata.load_file(tmp_path / "a.npz")
    np.savez(tmp_path / "b.npz", x=np.array([{"a": 1}, {}], dtype=object), y=np.zeros(2, dtype=int))
    with pytest.raises(userdata.UserDataError, match="unreadable arrays"):
        userdata.load_file(tmp_path / "b.npz")
    np.savez(tmp_path / "c.npz", x=np.zeros((3, 2)), y=np.array([0.5, 1, 2]))
    with pytest.raises(userdata.UserDataError, match="labels must be integer class indices"):
        userdata.load_file(tmp_path / "c.npz")


def test_image_folders_with_mixed_sizes_or_no_classes_are_refused(tmp_path: Path) -> None:
    with pytest.raises(userdata.UserDataError, match="needs one sub-folder per class"):
        userdata.load_file(tmp_path)
    (tmp_path / "a").mkdir()
    Image.new("L", (8, 8)).save(tmp_path / "a" / "1.png")
    Image.new("L", (9, 8)).save(tmp_path / "a" / "2.png")
    with pytest.raises(userdata.UserDataError, match="the images differ in size"):
        userdata.load_file(tmp_path)
    (tmp_path / "a" / "2.png").write_bytes(b"\x89PNG broken")
    with pytest.raises(userdata.UserDataError, match="2.png: not a readable image"):
        userdata.load_file(tmp_path)


def test_an_image_whose_header_claims_too_many_pixels_is_refused_before_decoding(tmp_path: Path) -> None:
    (tmp_path / "a").mkdir()
    Image.new("1", (userdata.MAX_IMAGE_PIXELS // 1000 + 1, 1000)).save(tmp_path / "a" / "big.png")
    with pytest.raises(userdata.UserDataError, match="pixels, more than"):
        userdata.load_file(tmp_path)


def test_python_objects_that_are_not_data_are_refused() -> None:
    with pytest.raises(userdata.UserDataError, match="cannot read examples from a int"):
        userdata.as_data(3)
    with pytest.raises(userdata.UserDataError, match="one label per example"):
        userdata.as_data((torch.zeros(4, 2), torch.zeros(3, dtype=torch.long)))
    with pytest.raises(userdata.UserDataError, match="NaN or infinite"):
        userdata.as_data((torch.full((2, 2), float("nan")), torch.zeros(2, dtype=torch.long)))
