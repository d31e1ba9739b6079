"""The web console in a real headless Chromium (Debian's chromium and chromedriver, driven by selenium)
against a real `faas serve`: sign in with an access key, create a function from a zip, invoke it, follow
its log, read its charts, and be refused what the policies deny; and, over plain HTTP, the refusals a
browser never shows: a stale session, a forged cookie and a form posted without its CSRF token.

One server and one browser for the module. CONSOLE_SCREENSHOTS=<dir> saves a PNG of each page there
(docs/console/ in the README comes from `CONSOLE_SCREENSHOTS=docs/console pytest tests/e2e/test_console_e2e.py`).
"""

from __future__ import annotations

import datetime as dt
import http.client
import json
import os
import re
import sqlite3
import time
import urllib.parse
from pathlib import Path

import pytest

from tests.e2e import conftest
from tests.e2e.conftest import Server, make_zip, unique
from tests.e2e.test_event_source_mappings_e2e import READER_ARN, with_reader_role
from tests.e2e.test_events_e2e import events_client
from tests.e2e.test_security_e2e import make_principal
from tests.e2e.test_sqs_e2e import sqs_client

CHROMIUM = "/usr/bin/chromium"
CHROMEDRIVER = "/usr/bin/chromedriver"  # deploy/dev.sh installs Debian's chromium and chromium-driver
ACCOUNT = "000000000000"
REGION = "us-east-1"
HANDLER = """
import os

def handler(event, context):
    print("console says", event.get("greeting"))
    if event.get("fail"):
        raise ValueError("asked to fail")
    return {"echo": event, "secret_set": bool(os.environ.get("API_TOKEN"))}
"""


def function_arn(name: str) -> str:
    return f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:{name}"


@pytest.fixture(scope="module")
def browser():  # type: ignore[no-untyped-def]
    if not (os.path.exists(CHROMIUM) and os.path.exists(CHROMEDRIVER)):
        pytest.skip("chromium and chromedriver are missing: apt-get install chromium chromium-driver "
                    "(deploy/dev.sh test does)")
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for argument in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--window-size=1280,1000"):
        options.add_argument(argument)
    driver = webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)
    driver.implicitly_wait(0)
    yield driver
    driver.quit()


def shot(browser, name: str) -> None:  # type: ignore[no-untyped-def]
    """A screenshot of the whole page for the README, when CONSOLE_SCREENSHOTS names a directory."""
    folder = os.environ.get("CONSOLE_SCREENSHOTS")
    if not folder:
        return
    for _ in range(2):  # the page reflows at the new size once
        height = browser.execute_script("return document.documentElement.scrollHeight")
        browser.set_window_size(1280, max(700, min(height + 140, 3000)))
    Path(folder).mkdir(parents=True, exist_ok=True)
    browser.save_screenshot(str(Path(folder) / f"{name}.png"))
    browser.set_window_size(1280, 1000)


def wait_for(predicate, timeout: float = 60):  # type: ignore[no-untyped-def]
    """conftest's wait_for, where a page in the middle of loading (an element not there yet, or gone with
    the page it belonged to) counts as "not yet" rather than as a failure."""
    from selenium.common.exceptions import NoSuchElementException, StaleElementReferenceException

    def attempt():  # type: ignore[no-untyped-def]
        try:
            return predicate()
        except (NoSuchElementException, StaleElementReferenceException):
            return None
    return conftest.wait_for(attempt, timeout)


def css(browser, selector: str):  # type: ignore[no-untyped-def]
    from selenium.webdriver.common.by import By
    return browser.find_element(By.CSS_SELECTOR, selector)


def all_css(browser, selector: str) -> list:  # type: ignore[no-untyped-def]
    from selenium.webdriver.common.by import By
    return browser.find_elements(By.CSS_SELECTOR, selector)


def sign_in(browser, server: Server, access_key_id: str, secret: str, path: str = "/console/functions") -> None:  # type: ignore[no-untyped-def]
    browser.delete_all_cookies()
    browser.get(server.endpoint + path)
    wait_for(lambda: "/console/sign-in" in browser.current_url)
    css(browser, "#access_key_id").send_keys(access_key_id)
    css(browser, "#secret_access_key").send_keys(secret)
    css(browser, "#sign-in").click()
    wait_for(lambda: "/console/sign-in" not in browser.current_url)


def sign_in_as_admin(browser, server: Server, path: str = "/console/functions") -> None:  # type: ignore[no-untyped-def]
    admin = server.credentials()
    sign_in(browser, server, admin.access_key_id, admin.secret_access_key, path)


def test_sign_in_create_invoke_follow_the_log_and_read_the_charts(server: Server, browser, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    name = unique("console")
    browser.delete_all_cookies()
    browser.get(server.endpoint + "/console/")
    wait_for(lambda: "/console/sign-in" in browser.current_url)
    shot(browser, "sign-in")
    admin = server.credentials()
    css(browser, "#access_key_id").send_keys(admin.access_key_id)
    css(browser, "#secret_access_key").send_keys("not the secret")
    css(browser, "#sign-in").click()
    assert "wrong" in wait_for(lambda: all_css(browser, "#sign-in-error") and css(browser, "#sign-in-error").text)
    sign_in_as_admin(browser, server)
    assert css(browser, "#signed-in-as").text == "admin"

    # Create from a zip upload.
    archive = tmp_path / "code.zip"
    archive.write_bytes(make_zip({"app.py": HANDLER}))
    css(browser, "#name").send_keys(name)
    css(browser, "#handler").clear()
    css(browser, "#handler").send_keys("app.handler")
    css(browser, "#zip").send_keys(str(archive))
    shot(browser, "functions")
    css(browser, "#create").click()
    wait_for(lambda: browser.current_url.endswith(f"/console/functions/{name}"))
    assert css(browser, "#function-name").text == name
    assert server.client().get_function(FunctionName=name)["Configuration"]["Handler"] == "app.handler"

    # A secret variable: saved, used by the function, never shown.
    css(browser, "#new_name").send_keys("API_TOKEN")
    css(browser, "#new_value").send_keys("hunter2-very-secret")
    css(browser, "#save-environment").click()
    wait_for(lambda: [cell.text for cell in all_css(browser, "#environment .var-name")] == ["API_TOKEN"])
    assert "hunter2-very-secret" not in browser.page_source
    variables = server.client().get_function_configuration(FunctionName=name)["Environment"]["Variables"]
    assert variables == {"API_TOKEN": "hunter2-very-secret"}

    # Invoke with the payload editor: the result and the log tail.
    css(browser, "#invoke-link").click()
    payload = css(browser, "#payload")
    payload.clear()
    payload.send_keys('{"greeting": "hello from chromium"}')
    css(browser, "#invoke").click()
    result = json.loads(wait_for(lambda: all_css(browser, "#result") and css(browser, "#result").text))
    assert result == {"echo": {"greeting": "hello from chromium"}, "secret_set": True}
    tail = css(browser, "#log-tail").text
    assert "console says hello from chromium" in tail and "REPORT RequestId" in tail
    shot(browser, "invoke")
    payload = css(browser, "#payload")
    payload.clear()
    payload.send_keys('{"greeting": "and now fail", "fail": true}')
    css(browser, "#invoke").click()
    wait_for(lambda: all_css(browser, "#function-error"))
    assert "ValueError" in css(browser, "#function-error").text

    # The live log: what is there, then an invocation made elsewhere (boto3) appears without a reload.
    def lines() -> list[str]:
        from selenium.common.exceptions import StaleElementReferenceException

        deadline = time.monotonic() + 10
        while True:  # the live script may redraw the log between finding its lines and reading them
            try:
                return [line.text for line in all_css(browser, "#log .line")]
            except StaleElementReferenceException:
                assert time.monotonic() < deadline, "the log never stayed still long enough to be read"

    browser.get(server.endpoint + f"/console/functions/{name}/logs")
    wait_for(lambda: any("console says hello from chromium" in line for line in lines()))
    server.client().invoke(FunctionName=name, Payload=json.dumps({"greeting": "live from boto3"}).encode())
    wait_for(lambda: any("console says live from boto3" in line for line in lines()), timeout=30)
    assert "Following" in css(browser, "#live-status").text
    assert len(lines()) == len(set(css(browser, f"#log .line:nth-child({i + 1})").get_attribute("data-event-id")
                                   for i in range(len(lines()))))  # no line twice
    shot(browser, "live-log")

    # Through a filter pattern, as `aws logs tail --filter-pattern` filters.
    css(browser, "#filter").send_keys('"live from boto3"')
    css(browser, "#apply-filter").click()
    wait_for(lambda: lines() and all("live from boto3" in line for line in lines()))
    browser.get(server.endpoint + f"/console/functions/{name}/logs?filter=" + urllib.parse.quote('{ $.level = '))
    assert "400" in css(browser, "#error h1").text and "filter pattern" in css(browser, "#error-message").text.lower()

    # The charts count what ran: 3 invocations, 1 error, durations and a cold start.
    browser.get(server.endpoint + f"/console/functions/{name}")
    totals = {line.get_attribute("data-series"): float(line.get_attribute("data-total"))
              for line in all_css(browser, "#charts svg polyline")}
    assert totals["invocations"] == 3 and totals["errors"] == 1 and totals["cold starts"] >= 1
    assert totals["p50"] > 0 and totals["p99"] >= totals["p50"]
    shot(browser, "function")

    # Usage and billing: this month's requests for the function, growing as it runs again.
    def usage_row() -> list[str]:
        browser.get(server.endpoint + "/console/usage")
        return next(([cell.text for cell in row.find_elements("css selector", "td")]
                     for row in all_css(browser, "#usage-rows tbody tr") if row.text.startswith(name + " ")), [])

    def requests() -> int:
        row = usage_row()
        return int(row[2].replace(",", "")) if row else 0

    wait_for(lambda: requests() == 3, timeout=30)
    assert usage_row()[1] == f"arn:aws:iam::{ACCOUNT}:user/admin"  # the owner: who created it
    assert "of 1,000,000 requests" in css(browser, "#usage-total").text  # the free tier
    shot(browser, "usage")
    server.client().invoke(FunctionName=name, Payload=b"{}")
    wait_for(lambda: requests() == 4, timeout=30)

    # Configuration editing.
    browser.get(server.endpoint + f"/console/functions/{name}")
    memory = css(browser, "#memory")
    memory.clear()
    memory.send_keys("256")
    css(browser, "#save-configuration").click()
    wait_for(lambda: server.client().get_function_configuration(FunctionName=name)["MemorySize"] == 256)


def test_triggers_and_principals_pages_for_an_admin(server: Server, browser) -> None:  # type: ignore[no-untyped-def]
    name = unique("console-url")
    lam = server.client()
    with_reader_role(server)  # an execution role that may consume queues, for the mapping below
    lam.create_function(FunctionName=name, Runtime="python3.13", Role=READER_ARN,
                        Handler="app.handler", Code={"ZipFile": make_zip({"app.py": HANDLER})})
    url = lam.create_function_url_config(FunctionName=name, AuthType="AWS_IAM")["FunctionUrl"]
    queue = unique("console-jobs")
    queue_arn = sqs_client(server).get_queue_attributes(
        QueueUrl=sqs_client(server).create_queue(QueueName=queue)["QueueUrl"], AttributeNames=["QueueArn"],
    )["Attributes"]["QueueArn"]
    lam.create_event_source_mapping(FunctionName=name, EventSourceArn=queue_arn, BatchSize=5, Enabled=False)
    rule = unique("console-rule")
    events_client(server).put_rule(Name=rule, ScheduleExpression="rate(1 hour)", State="DISABLED")
    sign_in_as_admin(browser, server, "/console/triggers")

    def section(title: str) -> list[str]:
        heading = next(h for h in all_css(browser, "main h2") if h.text == title)
        table = heading.find_element("xpath", "following-sibling::table[1]")
        return [row.text for row in table.find_elements("css selector", "tbody tr")]

    assert any(name in row and url in row for row in section("Function URLs"))
    assert any(name in row and queue_arn in row for row in section("Queue mappings"))
    assert any(queue in row for row in section("Queues"))
    assert any(rule in row and "rate(1 hour)" in row for row in section("Event rules"))
    shot(browser, "triggers")

    principal = unique("reader")
    browser.get(server.endpoint + "/console/principals")
    css(browser, "#create-principal input[name=name]").send_keys(principal)
    css(browser, "#create-principal button").click()
    wait_for(lambda: principal in css(browser, "#principals").text)
    row = next(r for r in all_css(browser, "#principals tbody tr") if principal in r.text)
    row.find_element("css selector", f"form[action='/console/principals/{principal}/keys'] button").click()
    key_id = wait_for(lambda: all_css(browser, "#new-key-id") and css(browser, "#new-key-id").text)
    secret = css(browser, "#new-key-secret").text
    shot(browser, "principals")
    keys = server.get_json(f"/faas/v1/keys?principal={principal}")["AccessKeys"]
    assert [k["AccessKeyId"] for k in keys] == [key_id] and len(secret) == 40
    browser.get(server.endpoint + "/console/principals")
    assert secret not in browser.page_source  # shown once, never again

    # Deleting a function from its page.
    browser.get(server.endpoint + f"/console/functions/{name}")
    css(browser, "#confirm-delete").click()
    css(browser, "#delete").click()
    wait_for(lambda: browser.current_url.endswith("/console/functions"))
    assert name not in [fn["FunctionName"] for fn in lam.list_functions()["Functions"]]


def test_a_page_the_policy_denies_is_refused(server: Server, browser) -> None:  # type: ignore[no-untyped-def]
    viewer = unique("viewer")
    credentials = make_principal(server, viewer, [
        {"Effect": "Allow", "Action": ["lambda:ListFunctions", "lambda:GetFunction"], "Resource": "*"}])
    sign_in(browser, server, credentials.access_key_id, credentials.secret_access_key)
    assert css(browser, "#signed-in-as").text == viewer
    assert not all_css(browser, "#create-function")  # not offered: the viewer may not create

    browser.get(server.endpoint + "/console/principals")
    message = css(browser, "#error-message").text
    assert "403" in css(browser, "#error h1").text
    assert f"user/{viewer} is not authorized to perform: faas:ListPrincipals" in message
    shot(browser, "denied")
    audit = server.get_json("/faas/v1/audit?" + urllib.parse.urlencode(
        {"principal": f"arn:aws:iam::{ACCOUNT}:user/{viewer}"}))
    assert any(e["Action"] == "faas:ListPrincipals" and e["Outcome"] == "denied" for e in audit["Entries"])


# ---- HTTP-level refusals: what a browser's own rules would never send --------------------------------------

class Client:
    """A cookie-keeping HTTP client that follows no redirects, as a script forging requests would be."""

    def __init__(self, server: Server) -> None:
        self.endpoint = urllib.parse.urlsplit(server.endpoint)
        self.cookies: dict[str, str] = {}

    def request(self, method: str, path: str, form: dict[str, str] | None = None,
                cookies: dict[str, str] | None = None) -> tuple[int, http.client.HTTPMessage, str]:
        connection = http.client.HTTPConnection(self.endpoint.hostname, self.endpoint.port, timeout=60)
        jar = {**self.cookies, **(cookies or {})}
        headers = {"Cookie": "; ".join(f"{k}={v}" for k, v in jar.items())} if jar else {}
        body = None
        if form is not None:
            body = urllib.parse.urlencode(form)
            headers["Content-Type"] = "application/x-www-form-urlencoded"
        connection.request(method, path, body=body, headers=headers)
        response = connection.getresponse()
        text = response.read().decode()
        for header in response.headers.get_all("Set-Cookie") or []:
            cookie_name, _, rest = header.partition("=")
            self.cookies[cookie_name] = rest.split(";")[0]
        connection.close()
        return response.status, response.headers, text

    def sign_in(self, access_key_id: str, secret: str) -> http.client.HTTPMessage:
        _, _, page = self.request("GET", "/console/sign-in")
        status, headers, _ = self.request("POST", "/console/sign-in", {
            "csrf": csrf_of(page), "access_key_id": access_key_id, "secret_access_key": secret})
        assert status == 303, status
        return headers


def csrf_of(page: str) -> str:
    return re.search(r'name="csrf" value="([^"]+)"', page).group(1)  # type: ignore[union-attr]


@pytest.fixture(scope="module")
def victim(server: Server) -> str:
    """A function the forged requests below try to delete."""
    name = unique("victim")
    server.client().create_function(FunctionName=name, Runtime="python3.13", Handler="app.handler",
                                    Role=f"arn:aws:iam::{ACCOUNT}:role/faas-default",
                                    Code={"ZipFile": make_zip({"app.py": HANDLER})})
    return name


def still_there(server: Server, name: str) -> bool:
    return server.request("GET", f"/2015-03-31/functions/{name}")[0] == 200


def test_the_session_cookie_is_httponly_strict_and_expiring(server: Server) -> None:
    admin = server.credentials()
    headers = Client(server).sign_in(admin.access_key_id, admin.secret_access_key)
    cookie = next(c for c in headers.get_all("Set-Cookie") if c.startswith("faas_console="))
    attributes = {part.strip().split("=")[0].lower() for part in cookie.split(";")[1:]}
    assert {"httponly", "max-age", "path", "samesite"} <= attributes
    assert "SameSite=Strict" in cookie and "Max-Age=28800" in cookie
    assert re.search(r"faas_console=([^;]+)", cookie).group(1) not in (server.data_dir / "faas.db").read_bytes().decode(  # type: ignore[union-attr]
        "latin-1")  # only its hash is stored


def test_a_form_posted_without_its_csrf_token_is_refused_and_changes_nothing(server: Server, victim: str) -> None:
    admin = server.credentials()
    client = Client(server)
    client.sign_in(admin.access_key_id, admin.secret_access_key)
    for form in ({}, {"csrf": "0" * 64}):
        status, _, page = client.request("POST", f"/console/functions/{victim}/delete", form)
        assert status == 403
        assert "CSRF token" in page and "nothing was changed" in page
    assert still_there(server, victim)

    # Nor may another site sign a browser in: the sign-in form has its own token.
    status, _, page = Client(server).request("POST", "/console/sign-in", {
        "access_key_id": admin.access_key_id, "secret_access_key": admin.secret_access_key})
    assert status == 403 and "CSRF token" in page


def test_a_forged_session_cookie_is_refused_and_changes_nothing(server: Server, victim: str) -> None:
    forger = Client(server)
    forged = {"faas_console": "forged-" + "A" * 36}
    status, headers, _ = forger.request("GET", "/console/functions", cookies=forged)
    assert status == 303 and headers["Location"].startswith("/console/sign-in?next=")
    status, _, page = forger.request("POST", f"/console/functions/{victim}/delete", {"csrf": "0" * 64},
                                     cookies=forged)
    assert status == 401 and "session has expired or is not valid" in page and "Nothing was changed" in page
    assert still_there(server, victim)


def test_a_stale_session_is_refused_and_changes_nothing(server: Server, victim: str) -> None:
    admin = server.credentials()
    client = Client(server)
    client.sign_in(admin.access_key_id, admin.secret_access_key)
    status, _, page = client.request("GET", "/console/functions")
    assert status == 200
    csrf = csrf_of(page)

    # The session's expiry passes (moved into the past in the server's own database).
    with sqlite3.connect(server.data_dir / "faas.db", timeout=30) as db:
        past = (dt.datetime.now(dt.timezone.utc) - dt.timedelta(seconds=1)).strftime("%Y-%m-%d %H:%M:%S.%f")
        changed = db.execute("UPDATE console_sessions SET expires_at = ? WHERE expires_at > ?", (past, past)).rowcount
    assert changed >= 1
    status, headers, _ = client.request("GET", "/console/functions")
    assert status == 303 and headers["Location"].startswith("/console/sign-in")
    status, _, page = client.request("POST", f"/console/functions/{victim}/delete", {"csrf": csrf})
    assert status == 401 and "session has expired or is not valid" in page
    assert still_there(server, victim)

    # Signing out ends a session too: its cookie, replayed, is refused.
    client.sign_in(admin.access_key_id, admin.secret_access_key)
    kept = dict(client.cookies)
    _, _, page = client.request("GET", "/console/functions")
    assert client.request("POST", "/console/sign-out", {"csrf": csrf_of(page)})[0] == 303
    status, _, page = client.request("POST", f"/console/functions/{victim}/delete", {"csrf": csrf_of(page)},
                                     cookies=kept)
    assert status == 401
    assert still_there(server, victim)


def test_a_session_ends_with_its_access_key(server: Server, victim: str) -> None:
    name = unique("short-lived")
    credentials = make_principal(server, name, [{"Effect": "Allow", "Action": "lambda:*", "Resource": "*"}])
    client = Client(server)
    client.sign_in(credentials.access_key_id, credentials.secret_access_key)
    assert client.request("GET", "/console/functions")[0] == 200
    status, _, _ = server.request("PATCH", f"/faas/v1/keys/{credentials.access_key_id}",
                                  json.dumps({"Enabled": False}).encode())
    assert status == 200
    assert client.request("GET", "/console/functions")[0] == 303


def test_a_bad_month_on_the_usage_page_is_refused_clearly(server: Server) -> None:
    admin = server.credentials()
    client = Client(server)
    client.sign_in(admin.access_key_id, admin.secret_access_key)
    status, _, page = client.request("GET", "/console/usage?month=2026-13&by=function")
    assert status == 400 and "month must be YYYY-MM" in page
    status, _, page = client.request("GET", "/console/usage?by=colour")
    assert status == 400 and "by must be function or owner" in page
    status, _, page = client.request("GET", "/console/usage?by=owner")
    assert status == 200 and "By owner" in page
