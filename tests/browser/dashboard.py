"""Drives weir's dashboard in headless Chromium (tests/tests/e2e/dashboard.rs).

Usage: dashboard.py URL SCREENSHOT EVENT_ID

Loads the page, waits until its charts draw lines from live data and its
tables list the plugins and the dead letter EVENT_ID, clicks that letter's
Replay button, waits for the page to report it replayed, and saves a
screenshot. Prints one JSON line of what it saw; exits non-zero with the
reason when anything does not happen within its wait.
"""

import json
import sys

from selenium import webdriver
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import WebDriverWait

WAIT_SECS = 30


def main(url, screenshot, event_id):
    options = webdriver.ChromeOptions()
    options.binary_location = "/usr/bin/chromium"
    for flag in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--window-size=1400,1100"):
        options.add_argument(flag)
    # The Debian driver, so Selenium fetches nothing.
    driver = webdriver.Chrome(service=Service("/usr/bin/chromedriver"), options=options)
    driver.set_page_load_timeout(WAIT_SECS)
    try:
        driver.get(url)
        wait = WebDriverWait(driver, WAIT_SECS)
        series = lambda chart, name: driver.find_elements(
            By.CSS_SELECTOR, f'#{chart} path[data-series="{name}"]'
        )
        wait.until(lambda _: series("throughput", "processed") and series("latency", "p99"))
        points = int(driver.find_element(By.ID, "throughput").get_attribute("data-points"))
        plugins = driver.find_element(By.ID, "plugins").text
        button = wait.until(
            lambda _: driver.find_elements(By.CSS_SELECTOR, f'button[data-event="{event_id}"]')
        )[0]
        dead_letters = driver.find_element(By.ID, "dead-letters").text
        button.click()
        wait.until(lambda _: button.text != "Replay")
        replay_label = button.text
        status = driver.find_element(By.ID, "status").text
        driver.save_screenshot(screenshot)
        print(json.dumps({
            "points": points,
            "plugins": plugins,
            "dead_letters": dead_letters,
            "replay_label": replay_label,
            "status": status,
        }))
    finally:
        driver.quit()


if __name__ == "__main__":
    if len(sys.argv) != 4:
        sys.exit(__doc__)
    main(*sys.argv[1:])
