"""Debian's chromium, driven by Selenium through Debian's chromedriver: nothing downloads a browser.

Install both with ``apt-get install chromium chromium-driver`` (.ci/run does when they are missing).
"""

from selenium import webdriver
from selenium.webdriver.chrome.service import Service

CHROMIUM = "/usr/bin/chromium"
CHROMEDRIVER = "/usr/bin/chromedriver"
# Headless, and quiet: no first-run pages, no calls home, no updates, no sync.
FLAGS = (
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
    "--disable-dev-shm-usage",
)


def chromium(profile_dir, width=1280, height=900, phone=False):
    """A new headless chromium with a fresh profile in ``profile_dir``, its console log kept for ``get_log``.

    ``phone`` emulates a phone's screen of ``width`` by ``height`` CSS pixels (a desktop window
    cannot be made narrower than about 500 pixels).
    """
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for flag in FLAGS:
        options.add_argument(flag)
    options.add_argument(f"--user-data-dir={profile_dir}")
    if phone:
        metrics = {"width": width, "height": height, "pixelRatio": 2, "mobile": True, "touch": True}
        options.add_experimental_option("mobileEmulation", {"deviceMetrics": metrics})
    else:
        options.add_argument(f"--window-size={width},{height}")
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    return webdriver.Chrome(options=options, service=Service(executable_path=CHROMEDRIVER))


def console_errors(driver):
    """The SEVERE entries of the browser's console log since the last call (JS errors, failed loads, CSP)."""
    return [entry for entry in driver.get_log("browser") if entry["level"] == "SEVERE"]
