"""Redraw the README's pictures of a running twin (`make up`, a run finished): `dogbreeds watch`'s final view of the
newest run and the try-it page after a prediction, each as a user sees it.

    .venv/bin/python scripts/screenshots.py --twin .twin/up.json --image digit.jpg --out docs/

The terminal view is rendered by rich at the width given (an SVG, as rich exports it) and photographed with
Debian's headless chromium; the page is driven by selenium in the same chromium at a phone's and a laptop's size.
"""

import argparse
import shutil
import subprocess
import tempfile
from pathlib import Path

CHROMIUM_FLAGS = ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--hide-scrollbars")
PAGE_SIZES = {"laptop": (1280, 900), "phone": (390, 844)}


def terminal_picture(twin_file: Path, out: Path, columns: int) -> Path:
    """The final `dogbreeds watch` view of the newest run, as a terminal of ``columns`` shows it."""
    from rich.console import Console

    from dogbreeds_cli import target
    from dogbreeds_cli.snapshot import collect
    from dogbreeds_cli.view import render

    where = target.from_twin_file(twin_file)
    console = Console(record=True, width=columns, force_terminal=True, color_system="truecolor")
    console.print(render(collect(where.clients, where.execution_arn(None))))
    lines = len(console.export_text(clear=False).splitlines())
    with tempfile.TemporaryDirectory() as scratch:
        svg = Path(scratch) / "watch.svg"
        console.save_svg(str(svg), title="dogbreeds watch")
        size = f"{round(columns * 8.6) + 40},{round(lines * 17.6) + 90}"  # rich's SVG cell size, plus its frame
        picture = out / "cli_watch.png"
        chromium = shutil.which("chromium")
        subprocess.run(
            [chromium, *CHROMIUM_FLAGS, f"--window-size={size}", f"--screenshot={picture}", svg.as_uri()],
            check=True,
            capture_output=True,
        )
    return picture


def page_pictures(twin_file: Path, image: Path, out: Path) -> list[Path]:
    """The try-it page after a prediction of ``image``, at each size of PAGE_SIZES."""
    import json

    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support import expected_conditions
    from selenium.webdriver.support.ui import WebDriverWait

    connection = json.loads(twin_file.read_text())
    page = connection["api_url"].rsplit("/", 1)[0] + "/"
    pictures = []
    for name, (width, height) in PAGE_SIZES.items():
        options = webdriver.ChromeOptions()
        for flag in (*CHROMIUM_FLAGS, f"--window-size={width},{height}"):
            options.add_argument(flag)
        driver = webdriver.Chrome(options=options, service=Service(shutil.which("chromedriver")))
        try:
            driver.get(page)
            driver.find_element(By.ID, "key").send_keys(connection["api_key"])
            driver.find_element(By.ID, "file").send_keys(str(image.resolve()))
            WebDriverWait(driver, 60).until(
                expected_conditions.visibility_of_element_located((By.CSS_SELECTOR, "#results .bar .label"))
            )
            picture = out / ("try_it_page.png" if name == "laptop" else f"try_it_page_{name}.png")
            driver.save_screenshot(str(picture))
            pictures.append(picture)
        finally:
            driver.quit()
    return pictures


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--twin", type=Path, default=Path(".twin") / "up.json", help="the file `make up` writes")
    parser.add_argument("--image", type=Path, required=True, help="the photo the try-it page sends")
    parser.add_argument("--out", type=Path, default=Path("docs"))
    parser.add_argument("--columns", type=int, default=100, help="the terminal's width for `dogbreeds watch`")
    args = parser.parse_args(argv)
    args.out.mkdir(parents=True, exist_ok=True)
    print(terminal_picture(args.twin, args.out, args.columns))
    for picture in page_pictures(args.twin, args.image, args.out):
        print(picture)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
