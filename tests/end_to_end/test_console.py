"""The web console in a real browser (Debian's chromium) against ``spark-submit server.py``.

The story of a visitor: find "Toy Story", rate it as a new user, watch the top-10 and the
own ratings change without a reload, open a movie's similar list and the status view. Along
the way the browser's console must stay free of errors, and a movie titled as markup must
show as text. Screenshots of each view go to $CONSOLE_SCREENSHOTS (docs/ holds one of each)
or the test's scratch directory.
"""

import os
import random

import pytest
from selenium.common.exceptions import NoAlertPresentException
from selenium.webdriver.common.by import By
from selenium.webdriver.common.keys import Keys
from selenium.webdriver.support.ui import Select, WebDriverWait

from tests.support.browser import chromium, console_errors
from tests.support.saved_model import SavedModel, save_model_as_server_would
from tests.support.service_process import QUICK_TRAINING, ServiceProcess

XSS_TITLE = "<img src=x onerror=alert(1)>"
TOY_STORY = 1
XSS_MOVIE = 21
KEY = "console-test-key"
GENRES = ("Animation|Children|Comedy", "Action|Thriller", "Drama|Romance")
WAIT = 30
START_UP = 900  # seconds: two services start at once on a shared machine


def write_console_dataset(directory):
    """Three taste groups of 30 users over 30 movies, each movie with over 25 ratings (the served minimum).

    Movie 1 is "Toy Story (1995)"; movie 21, which everyone likes, is titled as markup, so it
    heads the popular list a new user gets.
    """
    directory.mkdir(parents=True)
    movies = ["movieId,title,genres", f"{TOY_STORY},Toy Story (1995),Adventure|Animation|Children|Comedy|Fantasy"]
    for movie in range(2, 31):
        title = f'"{XSS_TITLE}"' if movie == XSS_MOVIE else f"Movie {movie} ({1960 + movie})"
        movies.append(f"{movie},{title},{GENRES[(movie - 1) // 10]}")
    chosen = random.Random(7)
    others = [movie for movie in range(1, 31) if movie != XSS_MOVIE]
    ratings = ["userId,movieId,rating,timestamp"]
    for user in range(1, 91):
        for movie in sorted(chosen.sample(others, 22) + [XSS_MOVIE]):
            liked = movie == XSS_MOVIE or (movie - 1) // 10 == user % 3
            rating = chosen.choice((4.0, 4.5, 5.0)) if liked else chosen.choice((1.0, 1.5, 2.0))
            ratings.append(f"{user},{movie},{rating},{1000 + len(ratings)}")
    (directory / "movies.csv").write_text("\n".join(movies) + "\n", encoding="utf-8")
    (directory / "ratings.csv").write_text("\n".join(ratings) + "\n", encoding="utf-8")
    return directory


@pytest.fixture(scope="module")
def services(tmp_path_factory, spark):
    """An open service and one whose writes need a key, started together from one saved model
    of the console's dataset, trained in the test process: the console is the point."""
    scratch = tmp_path_factory.mktemp("console")
    dataset = write_console_dataset(scratch / "data")
    saved = SavedModel(dataset, save_model_as_server_would(spark, dataset, scratch / "saved-state"))
    (scratch / "keys").write_text(KEY + "\n")
    started = {}
    for name, extra in (("open", ()), ("keyed", ("--api-keys-file", str(scratch / "keys")))):
        started[name] = ServiceProcess(
            scratch / f"{name}.log", "--dataset", str(dataset), *QUICK_TRAINING,
            "--state-dir", str(saved.copy_state(scratch / name)), *extra,
        )
    yield started
    for service in started.values():
        service.stop()


@pytest.fixture
def browser(tmp_path):
    driver = chromium(tmp_path / "profile")
    yield driver
    driver.quit()


@pytest.fixture(scope="module")
def screenshots(tmp_path_factory):
    directory = os.environ.get("CONSOLE_SCREENSHOTS") or str(tmp_path_factory.mktemp("screenshots"))
    os.makedirs(directory, exist_ok=True)
    return directory


def wait(driver, condition, message):
    return WebDriverWait(driver, WAIT).until(lambda _: condition(), message)


def texts(driver, selector):
    """The rendered text of each element ``selector`` matches, read in one go (lists are replaced whole)."""
    return driver.execute_script(
        "return Array.from(document.querySelectorAll(arguments[0]), element => element.innerText)", selector)


def open_console(driver, service):
    service.wait_until_up(START_UP)
    driver.get(service.url + "/")
    wait(driver, lambda: texts(driver, "#top-list .movie"), "no top-10 shown")
    driver.execute_script("window.notReloaded = true")  # gone if the page ever reloads


def new_user(driver):
    before = driver.find_element(By.ID, "user-id").get_attribute("value")
    driver.find_element(By.ID, "fresh-user").click()
    wait(driver, lambda: driver.find_element(By.ID, "user-id").get_attribute("value") != before, "no new user")
    wait(driver, lambda: "No ratings yet" in driver.find_element(By.ID, "ratings-message").text, "new user has ratings")
    return int(driver.find_element(By.ID, "user-id").get_attribute("value"))


def search(driver, text, first_title):
    box = driver.find_element(By.ID, "search")
    box.clear()
    box.send_keys(text)  # typed: the page searches on its own once typing pauses
    wait(driver, lambda: texts(driver, "#search-results .movie .title")[:1] == [first_title],
         f"{first_title!r} is not the first result for {text!r}")
    return driver.find_element(By.CSS_SELECTOR, "#search-results .movie")


def rate_first_result(driver, rating):
    found = driver.find_element(By.CSS_SELECTOR, "#search-results .movie")
    Select(found.find_element(By.CSS_SELECTOR, "select")).select_by_value(str(rating))
    found.find_element(By.CSS_SELECTOR, "button").send_keys(Keys.ENTER)  # by keyboard


def assert_no_alert(driver):
    with pytest.raises(NoAlertPresentException):
        driver.switch_to.alert


def test_a_visitor_rates_toy_story_and_sees_the_lists_change_without_a_reload(services, browser, screenshots):
    open_console(browser, services["open"])
    user = new_user(browser)
    top_before = texts(browser, "#top-list .movie")
    assert all("why: popular" in item for item in top_before)  # a user without ratings gets the popular list
    # The markup title heads that list, as the characters it is made of.
    assert XSS_TITLE in texts(browser, "#top-list .movie .title")
    assert browser.find_elements(By.CSS_SELECTOR, "main img") == []
    assert_no_alert(browser)

    found = search(browser, "toy story", "Toy Story")
    assert "1995" in found.text and "Animation" in found.text
    browser.save_screenshot(os.path.join(screenshots, "console-user-search.png"))
    rate_first_result(browser, 5)

    wait(browser, lambda: texts(browser, "#ratings-list .movie .title") == ["Toy Story"], "own ratings not updated")
    wait(browser, lambda: texts(browser, "#top-list .movie") != top_before, "top-10 not updated")
    assert "5 ★★★★★" in browser.find_element(By.CSS_SELECTOR, "#ratings-list .movie").text
    top_after = browser.find_elements(By.CSS_SELECTOR, "#top-list .movie")
    assert len(top_after) == 10
    for item in top_after:
        assert "predicted" in item.text and "why: personalized" in item.text
        assert item.find_element(By.CSS_SELECTOR, ".title").text != "Toy Story"  # never a rated movie
    assert browser.execute_script("return window.notReloaded") is True
    assert f"user {user}" in browser.find_element(By.ID, "notice").text
    browser.save_screenshot(os.path.join(screenshots, "console-user.png"))

    browser.find_element(By.CSS_SELECTOR, "#ratings-list .movie .title").click()  # Toy Story's page
    wait(browser, lambda: browser.find_element(By.ID, "movie-title").text == "Toy Story (1995)", "no movie page")
    wait(browser, lambda: len(texts(browser, "#similar-list .movie")) == 10, "no similar movies")
    similar = texts(browser, "#similar-list .movie")
    assert all("similarity" in item for item in similar) and not any("Toy Story" in item for item in similar)
    browser.save_screenshot(os.path.join(screenshots, "console-movie.png"))

    browser.find_element(By.ID, "nav-status").click()
    wait(browser, lambda: texts(browser, "#model-facts .fact"), "no status")
    facts = {
        fact.find_element(By.TAG_NAME, "dt").text: fact.find_element(By.TAG_NAME, "dd").text
        for fact in browser.find_elements(By.CSS_SELECTOR, "#model-facts .fact")
    }
    assert (facts["Users"], facts["Movies"], facts["Ratings"]) == ("90", "30", "2,070")
    wait(browser, lambda: texts(browser, "#models-table tbody tr"), "no model catalog")
    assert "serving" in texts(browser, "#models-table tbody tr")[0]
    assert "RMSE" in texts(browser, "#models-table thead")[0]
    wait(browser, lambda: len(browser.find_elements(By.CSS_SELECTOR, "#drift-charts svg")) == 2, "no histograms")
    assert len(browser.find_elements(By.CSS_SELECTOR, "#drift-charts svg rect.bar")) >= 2 * 9
    browser.set_window_size(1280, 1500)  # the whole view, histograms included
    browser.save_screenshot(os.path.join(screenshots, "console-status.png"))

    assert browser.execute_script("return window.notReloaded") is True
    assert_no_alert(browser)
    assert console_errors(browser) == []


def test_on_a_phone_the_page_fits_the_screen(services, tmp_path, screenshots):
    phone = chromium(tmp_path / "phone", width=390, height=844, phone=True)
    try:
        open_console(phone, services["open"])
        search(phone, "toy story", "Toy Story")
        assert phone.execute_script("return window.innerWidth") == 390
        width = phone.execute_script("return document.documentElement.scrollWidth")
        assert width <= 390  # nothing to scroll sideways
        phone.save_screenshot(os.path.join(screenshots, "console-phone.png"))
        assert console_errors(phone) == []
    finally:
        phone.quit()


def test_a_write_asks_for_the_key_once_keeps_it_for_the_tab_and_says_when_it_is_refused(services, browser):
    open_console(browser, services["keyed"])
    new_user(browser)
    search(browser, "toy story", "Toy Story")
    rate_first_result(browser, 4.5)

    key_form = browser.find_element(By.ID, "key-form")
    wait(browser, key_form.is_displayed, "no key asked for")
    browser.find_element(By.ID, "key-input").send_keys("wrong-key", Keys.ENTER)
    wait(browser, lambda: "refused" in browser.find_element(By.ID, "key-reason").text, "refusal not said")
    assert texts(browser, "#ratings-list .movie") == []
    browser.find_element(By.ID, "key-input").send_keys(KEY, Keys.ENTER)
    wait(browser, lambda: texts(browser, "#ratings-list .movie .title") == ["Toy Story"], "rating with key not saved")
    assert not key_form.is_displayed()

    search(browser, "movie 2", "Movie 2")
    rate_first_result(browser, 3)  # the kept key: not asked again
    wait(browser, lambda: len(texts(browser, "#ratings-list .movie")) == 2, "second rating not saved")
    assert not key_form.is_displayed()
    assert browser.execute_script("return sessionStorage.getItem('recommender.apiKey')") == KEY
    assert KEY not in browser.page_source and KEY not in browser.current_url
    # The two refused POSTs (no key, then the wrong one) are the only errors the browser saw.
    errors = console_errors(browser)
    assert [("/ratings" in e["message"] and "401" in e["message"]) for e in errors] == [True, True], errors
