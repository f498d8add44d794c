"""The try-it page in a real browser (Debian's chromium, driven headless by selenium) against the twin's API."""

import shutil

import pytest

from tests.support.twin_runs import clear_digit

pytestmark = pytest.mark.twin  # slow too (tests/conftest.py)
CHROMEDRIVER = shutil.which("chromedriver")


@pytest.fixture(scope="module")
def browser():
    assert CHROMEDRIVER, "chromedriver is missing: `make test` installs Debian's chromium and chromium-driver"
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    for argument in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--window-size=900,900"):
        options.add_argument(argument)
    driver = webdriver.Chrome(options=options, service=Service(CHROMEDRIVER))  # no download: the Debian driver
    yield driver
    driver.quit()


def submit(browser, url: str, api_key: str, path) -> None:
    from selenium.webdriver.common.by import By

    browser.get(url)
    key = browser.find_element(By.ID, "key")
    key.clear()
    key.send_keys(api_key)
    browser.find_element(By.ID, "file").send_keys(str(path))


def wait_for(browser, css: str):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support import expected_conditions
    from selenium.webdriver.support.ui import WebDriverWait

    return WebDriverWait(browser, 60).until(expected_conditions.visibility_of_element_located((By.CSS_SELECTOR, css)))


def test_before_any_photo_the_page_shows_no_picture_and_no_message(browser, twin):
    browser.get(f"{twin.api.url}/")
    assert browser.find_element("id", "drop").is_displayed()
    assert not browser.find_element("id", "preview").is_displayed()  # no broken-image placeholder
    assert not browser.find_element("id", "message").is_displayed()


def test_a_photo_gets_its_label_as_the_top_bar(browser, twin, first_run, digits_dataset):
    assert first_run.execution["status"] == "SUCCEEDED", first_run.execution
    _, held_out = digits_dataset
    sample = clear_digit(held_out)
    submit(browser, f"{twin.api.url}/", twin.api.api_key, sample.path)
    top_label = wait_for(browser, "#results .bar .label")
    assert top_label.text == sample.label
    assert browser.find_element("id", "message").text == f"Most likely breeds for {sample.path.name}:"
    assert browser.execute_script("return sessionStorage.getItem('dogbreeds-api-key')") == twin.api.api_key
    assert browser.find_element("id", "preview").is_displayed()  # the photo sent, once it has loaded


def test_a_file_that_is_no_image_gets_the_apis_reason(browser, twin, first_run, tmp_path):
    notes = tmp_path / "notes.txt"
    notes.write_text("not a photo")
    submit(browser, f"{twin.api.url}/", twin.api.api_key, notes)
    message = wait_for(browser, "#message.error")
    assert message.text.startswith("The API could not use this file (415): unsupported Content-Type 'text/plain'")
    assert not browser.find_element("id", "preview").is_displayed()  # not a picture: no placeholder either


def test_a_wrong_key_is_explained(browser, twin, first_run, digits_dataset):
    _, held_out = digits_dataset
    submit(browser, f"{twin.api.url}/", "not-the-key", clear_digit(held_out).path)
    message = wait_for(browser, "#message.error")
    assert message.text.startswith("The API refused the request (403): check the API key you pasted.")
