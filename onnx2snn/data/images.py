"""Image data: a folder of image files read with Pillow, and the preprocessing that turns 8-bit
pixels (from image files or CIFAR batches) into model input.

Folder forms: ``FOLDER/<class>/<image>`` (labels = index of the class subfolder in sorted order, as in
torchvision's ImageFolder) or ``FOLDER/<image>`` (inputs without labels).
"""

from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..errors import DataError

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".gif", ".tif", ".tiff", ".webp", ".ppm", ".pgm")
LAYOUTS = ("nchw", "nhwc")
GRAY_MODES = ("1", "L", "LA")
COLOUR_MODES = ("P", "PA", "RGB", "RGBA", "CMYK", "YCbCr")
FOLDER_FORM = "one subfolder per class holding image files (FOLDER/cat/1.png, FOLDER/dog/2.jpg), or image files"
MAX_PIXELS = 2**26  # per image, as stored and after --resize (8192 x 8192)
DATA_BUDGET = 4 << 30  # bytes: the most that one batch of model input read from images may take (float32)
READ_THREADS = 4  # images of a batch decoded at once (Pillow releases the GIL while it decodes)


def check_pixels(height, width, what):
    """Raise DataError when an image of height x width would have more than MAX_PIXELS pixels."""
    if height * width > MAX_PIXELS:
        raise DataError(f"{what}: {width}x{height} = {height * width:,} pixels, more than the {MAX_PIXELS:,} pixels "
                        "an image may have; give a smaller --resize (or a smaller image)")


def check_budget(images, height, width, channels, source):
    """Raise DataError when a batch of ``images`` inputs of (channels, height, width) in float32 exceeds
    DATA_BUDGET."""
    size = images * height * width * channels * 4
    if size > DATA_BUDGET:
        raise DataError(f"{source}: {images:,} images of {channels}x{height}x{width} take {size / 2**30:.3g} GiB as "
                        f"float32, more than the budget of {DATA_BUDGET / 2**30:.3g} GiB for one batch; give a smaller "
                        "--batch-size or --resize")


@dataclass(frozen=True)
class Preprocess:
    """x = (pixels / 255 - mean) / std, resized to (H, W), as 1 (grayscale) or 3 (RGB) channels, in
    ``layout``. ``channels`` None keeps the images' own: RGB if any image has colour, else grayscale."""

    resize: tuple = None
    mean: tuple = None
    std: tuple = None
    layout: str = "nchw"
    channels: int = None

    def __post_init__(self):
        if self.layout not in LAYOUTS:
            raise ValueError(f"layout must be one of {LAYOUTS}, got {self.layout!r}")
        if self.resize is not None:
            check_pixels(*self.resize, "--resize")

    def changes_values(self):
        """True when a flag that only image data can honour (resize, mean, std, nhwc) is set."""
        return self.resize is not None or self.mean is not None or self.std is not None or self.layout != "nchw"

    def check_values(self, channels, source):
        """Raise DataError unless --mean and --std fit images of ``channels`` channels."""
        for name, values in (("mean", self.mean), ("std", self.std)):
            if values is not None and len(values) not in (1, channels):
                raise DataError(f"{source}: --{name} has {len(values)} values but the images have {channels} "
                                f"channel(s); give 1 or {channels} comma-separated values")
        if self.std is not None and any(s <= 0 for s in self.std):
            raise DataError(f"{source}: --std values must be positive, got {self.std}")

    def sample_shape(self, height, width, channels):
        """The shape of one model input from an image of height x width (before --resize) and ``channels``."""
        height, width = self.resize or (height, width)
        return (channels, height, width) if self.layout == "nchw" else (height, width, channels)

    def apply(self, pixels, source):
        """float32 model input from uint8 pixels (N, H, W, C) already resized and of the right channels."""
        self.check_values(pixels.shape[-1], source)
        x = pixels.astype(np.float32) / 255.0
        if self.mean is not None:
            x -= np.asarray(self.mean, np.float32)
        if self.std is not None:
            x /= np.asarray(self.std, np.float32)
        return np.ascontiguousarray(x.transpose(0, 3, 1, 2)) if self.layout == "nchw" else x

    def fit_pixels(self, pixels):
        """uint8 (N, H, W, C) resized and converted to ``channels`` with Pillow where asked."""
        want = self.channels or pixels.shape[-1]
        if self.resize is None and want == pixels.shape[-1]:
            return pixels
        from PIL import Image

        mode = "L" if want == 1 else "RGB"
        out = [self.fit_image(Image.fromarray(p[..., 0] if p.shape[-1] == 1 else p), mode) for p in pixels]
        return np.stack(out)

    def fit_image(self, image, mode):
        """uint8 (H, W, C) of a PIL image in ``mode`` ('L' or 'RGB'), resized when asked."""
        from PIL import Image

        image = image.convert(mode)
        if self.resize is not None:
            image = image.resize((self.resize[1], self.resize[0]), Image.Resampling.BILINEAR)
        array = np.asarray(image)
        return array[..., None] if array.ndim == 2 else array


def list_images(folder):
    """(paths, labels or None) of an image folder; raises DataError for an empty one."""
    folder = Path(folder)
    entries = sorted(p for p in folder.iterdir() if not p.name.startswith("."))
    classes = [p for p in entries if p.is_dir()]
    loose = [p for p in entries if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES]
    if classes and loose:
        raise DataError(f"{folder}: holds both class subfolders and loose images such as {loose[0].name}; "
                        f"expected {FOLDER_FORM}")
    if not classes:
        if not loose:
            raise DataError(f"{folder}: no images found ({', '.join(IMAGE_SUFFIXES)}); expected {FOLDER_FORM}")
        return loose, None
    paths, labels = [], []
    for index, class_dir in enumerate(classes):
        found = sorted(p for p in class_dir.rglob("*") if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES
                       and not p.name.startswith("."))
        if not found:
            raise DataError(f"{class_dir}: class folder with no images; every class subfolder of {folder} needs "
                            "at least one image file (or remove the folder)")
        paths += found
        labels += [index] * len(found)
    return paths, np.asarray(labels, np.int64)


class FolderReader:
    """The image files of a folder as model input, for LazyInputs: ``reader(positions)`` decodes the files at those
    positions of ``paths`` (READ_THREADS at a time), converted and resized as ``preprocess`` says.

    The first file's header (not its pixels) sets the size (unless --resize does) and, unless the model says the
    channels, the mode: grayscale or RGB. An image of another size, or in colour where the first is grayscale and
    the model does not say, is refused when its batch is read; a batch over DATA_BUDGET before it is decoded.
    """

    def __init__(self, paths, preprocess, folder):
        self.paths, self.preprocess, self.folder = paths, preprocess, folder
        with self._open(paths[0]) as first:
            self.mode = {1: "L", 3: "RGB"}.get(preprocess.channels, "L" if first.mode in GRAY_MODES else "RGB")
            self.size = preprocess.resize or (first.height, first.width)
        self.channels = 1 if self.mode == "L" else 3
        preprocess.check_values(self.channels, folder)
        self.sample_shape = preprocess.sample_shape(*self.size, self.channels)

    def __call__(self, positions):
        check_budget(len(positions), *self.size, self.channels, self.folder)
        with ThreadPoolExecutor(min(READ_THREADS, len(positions))) as pool:
            images = list(pool.map(self._decode, positions))
        return self.preprocess.apply(np.stack(images), self.folder)

    def _open(self, path):
        from PIL import Image, UnidentifiedImageError

        try:
            image = Image.open(path)
        except (UnidentifiedImageError, OSError, Image.DecompressionBombError) as exc:
            raise DataError(f"{path}: cannot read it as an image ({exc}); remove it or convert it to PNG") from exc
        check_pixels(image.height, image.width, path)
        if image.mode not in GRAY_MODES + COLOUR_MODES:
            image.close()
            raise DataError(f"{path}: {image.mode} images (16-bit or float) are not supported; save it "
                            "as 8-bit grayscale or RGB (PNG, JPEG)")
        return image

    def _decode(self, position):
        from PIL import Image

        path = self.paths[position]
        with self._open(path) as image:
            if self.preprocess.channels is None and self.mode == "L" and image.mode not in GRAY_MODES:
                raise DataError(f"{path}: a colour image, but {self.paths[0]} is grayscale and the model does not "
                                "say how many channels it takes; save the images in one mode")
            try:
                array = self.preprocess.fit_image(image, self.mode)
            except (OSError, Image.DecompressionBombError) as exc:
                raise DataError(f"{path}: cannot read it as an image ({exc}); remove it or convert it to PNG") from exc
        if array.shape[:2] != tuple(self.size):
            raise DataError(f"{path}: is {array.shape[1]}x{array.shape[0]} pixels but {self.paths[0]} is "
                            f"{self.size[1]}x{self.size[0]}; give --resize H,W so that every image has one size")
        return array
