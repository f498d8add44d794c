"""The shared module: layout discovery, class names, images, presets, zips, the model."""

import io
import stat
import zipfile

import pytest
import torch
from PIL import Image

from model_code import dogbreeds
from model_code.dataset_contract import ZipLimits
from model_code.training import ImageDataset, collate_skipping
from tests.support.images import noisy_image, sideways_jpeg, write_colour_dataset, zip_folder


@pytest.mark.parametrize(
    ("folder", "name"),
    [
        ("001.Affenpinscher", "Affenpinscher"),
        ("042.Cocker_spaniel", "Cocker spaniel"),
        ("133.Yorkshire_terrier", "Yorkshire terrier"),
        ("Beagle", "Beagle"),
    ],
)
def test_class_names_come_from_folder_names(folder, name):
    assert dogbreeds.class_name_from_folder(folder) == name


def test_discovery_ignores_macosx_dotfiles_and_non_images(messy_dataset):
    dataset = dogbreeds.discover_dataset(messy_dataset)
    assert dataset["train"].classes == ["Red setter", "Green thing", "Blue heeler"]
    train_names = {path.name for path, _ in dataset["train"].samples}
    assert "notes.txt" not in train_names and "._img_0.JPG" not in train_names
    assert {"truncated.jpg", "gray.jpg", "img_0.JPG", "img_1.png", "img_2.jpeg"} <= train_names
    assert len(dataset["valid"].samples) == 18 and len(dataset["test"].samples) == 18
    assert all(label == 0 for path, label in dataset["train"].samples if path.parent.name == "001.Red_setter")


def test_missing_split_is_refused(tmp_path):
    base = write_colour_dataset(tmp_path, wrapper=None)
    for path in sorted((base / "test").rglob("*"), reverse=True):
        path.unlink() if path.is_file() else path.rmdir()
    (base / "test").rmdir()
    with pytest.raises(dogbreeds.DatasetError, match="no train/valid/test folders"):
        dogbreeds.discover_dataset(base)


def test_classes_must_match_across_splits(tmp_path):
    base = write_colour_dataset(tmp_path, wrapper=None)
    (base / "valid" / "003.Blue_heeler").rename(base / "valid" / "004.Other")
    with pytest.raises(dogbreeds.DatasetError, match=r"split 'valid' has different classes.*003.Blue_heeler"):
        dogbreeds.discover_dataset(base)


def test_empty_class_is_refused(tmp_path):
    base = write_colour_dataset(tmp_path, wrapper=None)
    for image in (base / "test" / "002.Green_thing").iterdir():
        image.unlink()
    with pytest.raises(dogbreeds.DatasetError, match=r"test/002\.Green_thing has no"):
        dogbreeds.discover_dataset(base)


@pytest.mark.parametrize("mode", ["L", "P", "RGBA", "LA", "CMYK", "I;16", "1"])
def test_every_image_mode_becomes_rgb(mode):
    image = noisy_image((10, 200, 30), seed=1).convert(mode)
    converted = dogbreeds.to_rgb(image)
    assert converted.mode == "RGB" and converted.size == image.size


def test_transparent_pixels_become_white():
    image = Image.new("RGBA", (4, 4), (0, 0, 0, 0))
    assert dogbreeds.to_rgb(image).getpixel((0, 0)) == (255, 255, 255)


def test_truncated_image_is_skipped_and_counted(messy_dataset):
    dataset = dogbreeds.discover_dataset(messy_dataset)
    wanted = {"truncated.jpg", "gray.jpg", "img_0.JPG"}
    samples = [s for s in dataset["train"].samples if s[0].name in wanted and s[0].parent.name == "001.Red_setter"]
    data = ImageDataset(samples, dogbreeds.eval_preset(16))
    images, targets, skipped = collate_skipping([data[i] for i in range(len(data))])
    assert skipped == 1
    assert images.shape == (2, 3, 16, 16) and targets.tolist() == [0, 0]


def test_pixel_bomb_is_refused_before_decoding():
    buffer = io.BytesIO()
    Image.new("L", (9000, 9000)).save(buffer, "PNG")  # 81 Mpx, compresses to a few KB
    with pytest.raises((dogbreeds.ImageTooLargeError, Image.DecompressionBombError)):
        dogbreeds.load_rgb(buffer.getvalue())


def test_a_photo_stored_sideways_is_loaded_upright(tmp_path):
    """The EXIF Orientation is applied where images are loaded, so training (from files) and serving (from
    request bytes) both see the photo as people do."""
    upright = Image.linear_gradient("L").resize((64, 32)).convert("RGB")  # dark top, bright bottom
    sideways = sideways_jpeg(upright)
    with Image.open(io.BytesIO(sideways)) as stored:
        assert stored.size == (32, 64)  # the pixels really are turned
    (tmp_path / "photo.jpg").write_bytes(sideways)
    for source in (sideways, tmp_path / "photo.jpg"):
        loaded = dogbreeds.load_rgb(source)
        assert loaded.size == (64, 32)
        top, bottom = loaded.crop((0, 0, 64, 8)), loaded.crop((0, 24, 64, 32))
        assert max(top.convert("L").getdata()) < 80 < 180 < min(bottom.convert("L").getdata())


def test_presets_share_normalisation_and_size():
    image = noisy_image((120, 60, 30), seed=3, size=50)
    train = dogbreeds.train_preset(32, crop_scale_min=0.5, hflip=0.5)(image)
    evaluated = dogbreeds.eval_preset(32)(image)
    assert train.shape == evaluated.shape == (3, 32, 32)
    assert torch.equal(evaluated, dogbreeds.eval_preset(32)(image)), "eval preset must be deterministic"
    expected_red = (120 / 255 - dogbreeds.IMAGENET_MEAN[0]) / dogbreeds.IMAGENET_STD[0]
    assert abs(evaluated[0].mean().item() - expected_red) < 0.05


def _zip_with(tmp_path, name, data=b"x", symlink=False):
    path = tmp_path / "bad.zip"
    with zipfile.ZipFile(path, "w") as archive:
        info = zipfile.ZipInfo(name)
        if symlink:
            info.external_attr = (stat.S_IFLNK | 0o777) << 16
        archive.writestr(info, data)
    return path


@pytest.mark.parametrize(
    ("name", "symlink", "message"),
    [
        ("../../etc/evil.jpg", False, "points outside the archive"),
        ("/etc/evil.jpg", False, "absolute path"),
        ("data/link.jpg", True, "symbolic link"),
    ],
)
def test_unsafe_zips_are_refused(tmp_path, name, symlink, message):
    with pytest.raises(dogbreeds.DatasetError, match=message):
        dogbreeds.extract_zip_safely(_zip_with(tmp_path, name, symlink=symlink), tmp_path / "out")
    assert not (tmp_path / "out").exists()


def test_zip_over_the_size_limit_is_refused(tmp_path):
    path = _zip_with(tmp_path, "a/b.jpg", data=b"x" * 1000)
    with pytest.raises(dogbreeds.DatasetError, match="expands to 1000 bytes"):
        dogbreeds.extract_zip_safely(path, tmp_path / "out", ZipLimits(max_total_bytes=999))


def test_channel_with_a_zip_is_extracted(tmp_path):
    source = write_colour_dataset(tmp_path / "src")  # wrapper folder dogImages/
    channel = tmp_path / "channel"
    channel.mkdir()
    zip_folder(source.parent, channel / "dogImages.zip")
    root = dogbreeds.prepare_dataset(channel, tmp_path / "work")
    assert root.name == "dogImages" and (root / "train" / "001.Red_setter").is_dir()


def test_a_zip_is_extracted_on_the_jobs_volume_not_in_tmp(tmp_path):
    """In a job the channel is /opt/ml/input/data/training: the zip lands beside it, on the ML storage volume."""
    source = write_colour_dataset(tmp_path / "src")
    channel = tmp_path / "ml" / "input" / "data" / "training"
    channel.mkdir(parents=True)
    zip_folder(source.parent, channel / "dogImages.zip")
    root = dogbreeds.prepare_dataset(channel)
    assert root == tmp_path / "ml" / "input" / "data" / "training-extracted" / "dogImages" / "dogImages"
    assert (root / "valid" / "003.Blue_heeler").is_dir()


def test_model_head_and_fine_tune_modes(tmp_path):
    full = dogbreeds.build_model(7, weights="none", fine_tune="full")
    assert full.fc.out_features == 7 and all(p.requires_grad for p in full.parameters())
    frozen = dogbreeds.build_model(7, weights="none", fine_tune="frozen")
    trainable = {name for name, p in frozen.named_parameters() if p.requires_grad}
    assert trainable == {"fc.weight", "fc.bias"}
    groups = dogbreeds.parameter_groups(full, lr=0.01, backbone_lr_factor=0.1, weight_decay=0.05)
    assert [(g["lr"], g["weight_decay"]) for g in groups] == [
        (0.01, 0.05),
        (0.01, 0.0),
        (pytest.approx(0.001), 0.05),
        (pytest.approx(0.001), 0.0),
    ]  # fmt: skip  head and backbone, each with its weights decayed and its norm/bias parameters not


def test_weights_from_a_local_file(tmp_path):
    source = dogbreeds.build_model(1000, weights="none")
    torch.save(source.state_dict(), tmp_path / "resnet18.pth")
    model = dogbreeds.build_model(5, weights=str(tmp_path / "resnet18.pth"))
    assert torch.equal(model.conv1.weight, source.conv1.weight)
    assert model.fc.out_features == 5
