"""GraphiQL opens and runs a query in headless Chromium, with its assets served locally."""

from __future__ import annotations

import os
import shutil
import socket
import threading
import time
from urllib.parse import quote as url_quote

import pytest
import uvicorn

from kg_service.api.app import create_app
from kg_service.api.graphiql import assets_installed, install_assets

pytestmark = pytest.mark.neo4j

CHROMIUM = shutil.which("chromium")
CHROMEDRIVER = shutil.which("chromedriver")


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.fixture
def server_url(core_graph, settings):
    if not assets_installed(settings.cache_dir):
        install_assets(settings.cache_dir)
    core_graph.write("MERGE (:Entity:Equipment:Asset {id: 'eq-browser', name: 'Browser Pump', nameZh: '浏览器泵'})")
    port = _free_port()
    server = uvicorn.Server(uvicorn.Config(create_app(settings, core_graph), host="127.0.0.1", port=port,
                                           log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started and time.monotonic() < deadline:
        time.sleep(0.1)
    yield f"http://127.0.0.1:{port}"
    server.should_exit = True
    thread.join(timeout=10)


@pytest.fixture
def browser():
    if CHROMIUM is None or CHROMEDRIVER is None:
        pytest.skip("Debian's chromium and chromium-driver are not installed (scripts/test.sh installs them as root)")
    os.environ.setdefault("SE_OFFLINE", "true")
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for flag in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync",
                 "--disable-dev-shm-usage"):
        options.add_argument(flag)
    driver = webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)
    yield driver
    driver.quit()


def test_graphiql_runs_query_offline(server_url, browser):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support import expected_conditions
    from selenium.webdriver.support.ui import WebDriverWait

    query = '{ entity(id: "eq-browser") { id label(lang: "zh") } }'
    # GraphiQL's share links carry the query as ?q= (a ?query= would run it without the page).
    browser.get(f"{server_url}/graphql?q={url_quote(query)}")
    wait = WebDriverWait(browser, 120)
    button = wait.until(expected_conditions.element_to_be_clickable((By.CSS_SELECTOR, ".graphiql-execute-button")))
    scripts = [element.get_attribute("src") for element in browser.find_elements(By.TAG_NAME, "script")
               if element.get_attribute("src")]
    button.click()
    wait.until(lambda driver: "浏览器泵" in driver.find_element(By.CSS_SELECTOR, ".graphiql-response").text)
    response = browser.find_element(By.CSS_SELECTOR, ".graphiql-response").text
    assert "eq-browser" in response
    assert scripts
    assert all(src.startswith(f"{server_url}/graphiql-assets/") for src in scripts)
