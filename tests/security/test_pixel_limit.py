"""PIL's pixel limit enforced where images are decoded: crafted headers, load_rgb, the endpoint's 413."""

import io

import pytest
from PIL import Image

from tests.support.images import jpeg_declaring, pixel_bombs, png_declaring


def test_crafted_headers_declare_what_they_say():
    with Image.open(io.BytesIO(png_declaring(8000, 5000))) as image:
        assert image.size == (8000, 5000)
    with Image.open(io.BytesIO(jpeg_declaring(640, 480))) as image:
        assert image.size == (640, 480)


# Between the limit and twice it PIL only warns; check_pixels is what refuses.
EXPECTED_BOMB_WARNING = "ignore::PIL.Image.DecompressionBombWarning"


@pytest.mark.filterwarnings(EXPECTED_BOMB_WARNING)
def test_load_rgb_refuses_images_above_the_pixel_limit():
    from model_code import dogbreeds

    assert Image.MAX_IMAGE_PIXELS == dogbreeds.MAX_IMAGE_PIXELS
    with Image.open(io.BytesIO(png_declaring(8000, dogbreeds.MAX_IMAGE_PIXELS // 8000))) as at_the_limit:
        dogbreeds.check_pixels(at_the_limit)  # exactly the limit is allowed
    above = png_declaring(8000, dogbreeds.MAX_IMAGE_PIXELS // 8000 + 1)
    with pytest.raises(dogbreeds.ImageTooLargeError, match=r"^image is 8000x5001 pixels, more than the limit of"):
        dogbreeds.load_rgb(above)
    with pytest.raises(Image.DecompressionBombError):  # PIL's own refusal, at twice the limit, on open
        dogbreeds.load_rgb(jpeg_declaring(65_000, 65_000))


@pytest.mark.filterwarnings(EXPECTED_BOMB_WARNING)
@pytest.mark.parametrize("case", ["PNG just above the limit", "JPEG above PIL's bomb limit"])
def test_the_endpoint_answers_413_for_a_pixel_bomb(endpoint_handler, case):
    from model_code import dogbreeds

    inference, _ = endpoint_handler
    body, content_type, message = pixel_bombs(dogbreeds.MAX_IMAGE_PIXELS)[case]
    with pytest.raises(inference.InferenceError) as refused:
        inference.input_fn(body, content_type)
    assert (refused.value.status_code, str(refused.value)) == (413, message)
