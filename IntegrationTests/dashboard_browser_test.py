#!/usr/bin/env python3
"""The operators' console in a real browser: headless Chromium driven by selenium against a real
cloudsync-server on loopback (embedded storage in a temporary data directory).

An administrator created with the CLI signs in, creates a database from a schema and ticks the
tables to synchronize, creates an API key (which then syncs), sets a policy with a typo (the
error shows next to the field), fixes it, issues a token to a user whose device (the extension
in apsw) syncs rows, one of which the policy refuses, sees the rows, the device and the refused
row, revokes the key (which then no longer syncs) and signs out. Each page is saved as a PNG
under .build/screenshots/ to be looked at.

Environment: CLOUDSYNC_SERVER_BIN (the cloudsync-server binary; default: the debug build),
CLOUDSYNC_EXT (default: ./cloudsync.so, see scripts/build-extension), SCREENSHOTS (default:
.build/screenshots), CHROMIUM and CHROMEDRIVER (default: Debian's).
"""
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request

import apsw
from selenium import webdriver
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.support import expected_conditions
from selenium.webdriver.support.ui import WebDriverWait

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), ".."))
EXT = os.environ.get("CLOUDSYNC_EXT", os.path.join(ROOT, "cloudsync.so"))
ADMIN = "operator"
PASSWORD = "a long enough password 42"
SCHEMA = """CREATE TABLE todo(id TEXT PRIMARY KEY NOT NULL, title TEXT NOT NULL DEFAULT '', owner TEXT NOT NULL DEFAULT '', done INTEGER NOT NULL DEFAULT 0);
CREATE TABLE notes(id TEXT PRIMARY KEY NOT NULL, body TEXT NOT NULL DEFAULT '');
CREATE TABLE local_settings(key TEXT PRIMARY KEY NOT NULL, value TEXT);"""
SITE = "0123456789abcdef0123456789abcdef"


def server_binary():
    """$CLOUDSYNC_SERVER_BIN, else the debug build in $SCRATCH (as scripts/test builds it) or .build."""
    if os.environ.get("CLOUDSYNC_SERVER_BIN"):
        return os.environ["CLOUDSYNC_SERVER_BIN"]
    for scratch in [os.environ.get("SCRATCH", ".build"), ".build"]:
        candidate = os.path.join(ROOT, scratch, "debug", "cloudsync-server")
        if os.access(candidate, os.X_OK):
            return candidate
    raise AssertionError("no cloudsync-server: run swift build --product cloudsync-server, or set CLOUDSYNC_SERVER_BIN")


class Check:
    def __init__(self):
        self.passed = 0

    def __call__(self, condition, what):
        if not condition:
            raise AssertionError(what)
        self.passed += 1
        print(f"ok {self.passed} - {what}")


def sync_status(base, database, key, method="GET", path="upload"):
    """The status of a sync request with `key` (GET UPLOAD by default): 200 while the key is
    valid, 401 once revoked."""
    request = urllib.request.Request(f"{base}/v1/cloudsync/{database}/{SITE}/{path}", method=method, headers={"Authorization": f"Bearer {key}"})
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status
    except urllib.error.HTTPError as error:
        return error.code


def device_sync(path, base, token, statements):
    """A device: the extension in apsw, the schema with todo and notes synchronized, signed in
    with `token`; runs `statements`, then syncs. Returns the sync's error text, or None."""
    connection = apsw.Connection(path)
    connection.enable_load_extension(True)
    connection.load_extension(EXT)
    try:
        connection.execute(SCHEMA)
        connection.execute("SELECT cloudsync_init('todo'), cloudsync_init('notes')").fetchall()
        connection.execute("SELECT cloudsync_network_init(?)", (f"{base}/todo.sqlite",)).fetchall()
        connection.execute("SELECT cloudsync_network_set_token(?)", (token,)).fetchall()
        for statement in statements:
            connection.execute(statement)
        try:
            connection.execute("SELECT cloudsync_network_sync()").fetchall()
            return None
        except apsw.Error as error:
            return str(error)
    finally:
        connection.execute("SELECT cloudsync_terminate()").fetchall()
        connection.close()


def main():
    check = Check()
    server = server_binary()
    screenshots = os.environ.get("SCREENSHOTS", os.path.join(ROOT, ".build", "screenshots"))
    shutil.rmtree(screenshots, ignore_errors=True)
    os.makedirs(screenshots)
    data = tempfile.mkdtemp(prefix="cloudsync-dashboard-")
    process = None
    driver = None
    try:
        created = subprocess.run([server, "admin", "create", "--data", data, "--user", ADMIN], input=PASSWORD + "\n",
                                 capture_output=True, text=True, timeout=60)
        check(created.returncode == 0, f"admin create reads the password from stdin ({created.stderr.strip()})")
        short = subprocess.run([server, "admin", "create", "--data", data, "--user", "x"], input="short\n", capture_output=True, text=True, timeout=60)
        check(short.returncode != 0 and "at least 12 characters" in short.stderr, "admin create refuses a short password")

        server_log = open(os.path.join(data, "server.log"), "w")
        process = subprocess.Popen([server, "serve", "--data", data, "--port", "0"], stdout=subprocess.PIPE, stderr=server_log, text=True)
        line = process.stdout.readline()
        match = re.search(r"listening on (http://\S+)", line)
        check(match is not None, f"the server listens ({line.strip()})")
        base = match.group(1)

        options = webdriver.ChromeOptions()
        options.binary_location = os.environ.get("CHROMIUM", "/usr/bin/chromium")
        for argument in ["--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--window-size=1280,900", "--lang=en-US"]:
            options.add_argument(argument)
        driver = webdriver.Chrome(service=Service(os.environ.get("CHROMEDRIVER", "/usr/bin/chromedriver")), options=options)
        wait = WebDriverWait(driver, 15)
        shot_number = [0]

        def shot(name):
            shot_number[0] += 1
            path = os.path.join(screenshots, f"{shot_number[0]:02d}-{name}.png")
            # The whole page, not only the window: resize to the document's height first.
            height = driver.execute_script("return document.documentElement.scrollHeight")
            driver.execute_cdp_cmd("Emulation.setDeviceMetricsOverride",
                                   {"width": 1280, "height": max(600, min(height, 3000)), "deviceScaleFactor": 1, "mobile": False})
            driver.save_screenshot(path)
            driver.execute_cdp_cmd("Emulation.clearDeviceMetricsOverride", {})
            print(f"   screenshot {os.path.relpath(path, ROOT)}")

        def text():
            return driver.find_element(By.TAG_NAME, "body").text

        # Without a session every dashboard page is the sign-in page.
        driver.get(base + "/dashboard/databases/anything/keys")
        check("Sign in" in driver.find_element(By.TAG_NAME, "h1").text, "signed out, a dashboard page shows the sign-in page")
        shot("signin")
        driver.find_element(By.ID, "user").send_keys(ADMIN)
        driver.find_element(By.ID, "password").send_keys("wrong password")
        driver.find_element(By.ID, "sign-in").click()
        check(wait.until(expected_conditions.visibility_of_element_located((By.ID, "signin-error"))).text == "Wrong administrator or password.",
              "a wrong password is refused")
        shot("signin-refused")
        driver.find_element(By.ID, "password").send_keys(PASSWORD)
        driver.find_element(By.ID, "sign-in").click()
        wait.until(expected_conditions.text_to_be_present_in_element((By.TAG_NAME, "h1"), "Databases"))
        check("No databases yet" in text(), "signed in: the databases page, empty")
        shot("databases-empty")

        # Create a database: the schema first, then tick the tables.
        driver.find_element(By.LINK_TEXT, "New database").click()
        driver.find_element(By.ID, "name").send_keys("todo.sqlite")
        driver.find_element(By.ID, "schema").send_keys(SCHEMA)
        shot("new-database-schema")
        driver.find_element(By.ID, "choose-tables").click()
        boxes = {box.get_attribute("value"): box for box in wait.until(lambda d: d.find_elements(By.CSS_SELECTOR, "#tables input[type=checkbox]"))}
        check(sorted(boxes) == ["local_settings", "notes", "todo"], f"the schema's tables are offered ({sorted(boxes)})")
        check(all(box.is_selected() for box in boxes.values()), "every table is ticked at first")
        boxes["local_settings"].click()
        shot("new-database-tables")
        driver.find_element(By.ID, "create-database").click()
        wait.until(expected_conditions.text_to_be_present_in_element((By.TAG_NAME, "h1"), "todo.sqlite"))
        rows = {r.find_elements(By.TAG_NAME, "td")[0].text: r.find_elements(By.TAG_NAME, "td")[1].text for r in driver.find_elements(By.CSS_SELECTOR, "tbody tr")}
        check(rows == {"local_settings": "no", "notes": "yes", "todo": "yes"}, f"the ticked tables are synchronized ({rows})")
        shot("database-overview")

        # An API key, shown once, that syncs.
        driver.find_element(By.LINK_TEXT, "API keys & tokens").click()
        driver.find_element(By.ID, "create-key").click()
        key = wait.until(expected_conditions.visibility_of_element_located((By.ID, "new-key-value"))).text.strip()
        check(key != "" and sync_status(base, "todo.sqlite", key) == 200, "the new API key syncs")
        check(sync_status(base, "todo.sqlite", key, "POST", "0/0/check") == 200, "a device checks for changes with it")
        shot("keys-new-key")

        # A policy with a typo: the error shows next to its field; fixed, it is saved.
        driver.find_element(By.LINK_TEXT, "Row-Level Security").click()
        select = driver.find_element(By.ID, "todo-select")
        select.send_keys("ownr = auth_userid()")
        driver.find_element(By.ID, "todo-insert").send_keys("NEW.owner = auth_userid()")
        driver.find_element(By.ID, "save-todo").click()
        error = wait.until(expected_conditions.visibility_of_element_located((By.ID, "error-todo-select")))
        check("ownr" in error.text, f"the typo's error is shown next to the select field ({error.text})")
        check(driver.find_element(By.ID, "todo-select").get_attribute("value") == "ownr = auth_userid()", "the typed text stays in the field")
        check("RLS off" in driver.find_element(By.ID, "policy-todo").text, "nothing was stored")
        shot("policy-typo")
        field = driver.find_element(By.ID, "todo-select")
        field.clear()
        field.send_keys("owner = auth_userid()")
        driver.find_element(By.ID, "save-todo").click()
        notice = wait.until(expected_conditions.visibility_of_element_located((By.ID, "notice")))
        check(notice.text == "Policies of todo saved.", "the fixed policy is saved")
        check("RLS on" in driver.find_element(By.ID, "policy-todo").text, "Row-Level Security is on for todo")
        check(not driver.find_elements(By.CSS_SELECTOR, "#policy-todo .error"), "no error is left")
        shot("policy-saved")

        # A user's token, and their device: two rows of theirs and one for someone else, which
        # the policy refuses.
        driver.find_element(By.LINK_TEXT, "API keys & tokens").click()
        driver.find_element(By.ID, "token-user").send_keys("alice")
        driver.find_element(By.ID, "token-name").send_keys("Alice")
        driver.find_element(By.ID, "issue-token").click()
        token = wait.until(expected_conditions.visibility_of_element_located((By.ID, "new-token-value"))).text.strip()
        check(token.count(".") == 2, "an access token is issued and shown once")
        shot("keys-new-token")
        refused = device_sync(os.path.join(data, "alice-device.sqlite"), base, token, [
            "INSERT INTO todo(id, title, owner) VALUES ('t1', 'milk', 'alice'), ('t2', 'bread', 'alice'), ('t3', 'planted', 'bob')",
            "INSERT INTO notes(id, body) VALUES ('n1', 'a note')",
        ])
        check(refused is not None and "refused 1 row of table todo" in refused, f"the device's sync reports the refused row ({refused})")
        driver.find_element(By.LINK_TEXT, "Overview").click()
        rows = {r.find_elements(By.TAG_NAME, "td")[0].text: r.find_elements(By.TAG_NAME, "td")[3].text for r in driver.find_elements(By.CSS_SELECTOR, "tbody tr")}
        check(rows == {"local_settings": "0", "notes": "1", "todo": "2"}, f"the overview counts the merged rows ({rows})")
        check("db_version 0" not in text(), "db_version moved on")
        shot("database-after-sync")
        driver.find_element(By.LINK_TEXT, "Refused rows").click()
        events = [r.text for r in driver.find_elements(By.CSS_SELECTOR, "tbody tr")]
        check(len(events) == 1 and "todo" in events[0] and "alice" in events[0] and events[0].endswith(" 1"), f"the refused row is listed ({events})")
        shot("refused-rows")
        driver.find_element(By.LINK_TEXT, "Databases").click()
        check("todo.sqlite" in text() and "2 of 3 tables synchronized" in text(), "the databases page lists the database")
        shot("databases")
        driver.get(base + "/dashboard/databases/todo.sqlite/keys")

        # Revoke the key: it no longer syncs.
        driver.find_element(By.LINK_TEXT, "API keys & tokens").click()
        driver.find_element(By.CSS_SELECTOR, "#keys button.revoke-key").click()
        wait.until(expected_conditions.text_to_be_present_in_element((By.ID, "keys"), "revoked"))
        check(not driver.find_elements(By.ID, "new-key-value"), "the key is not shown again")
        check(sync_status(base, "todo.sqlite", key) == 401, "the revoked key no longer syncs")
        shot("keys-revoked")

        driver.find_element(By.LINK_TEXT, "Devices").click()
        devices = [r.text for r in driver.find_elements(By.CSS_SELECTOR, "tbody tr")]
        check(len(devices) == 2, f"two devices are listed ({devices})")
        check(any(SITE in d and "(API key)" in d for d in devices), "the device that checked with the key is listed")
        check(any(" alice " in d for d in devices), "alice's device is listed with her user id")
        shot("devices")

        driver.find_element(By.ID, "sign-out").click()
        wait.until(expected_conditions.text_to_be_present_in_element((By.TAG_NAME, "h1"), "Sign in"))
        driver.get(base + "/dashboard")
        check("Sign in" in driver.find_element(By.TAG_NAME, "h1").text and "todo.sqlite" not in text(), "signed out: only the sign-in page again")
        shot("signed-out")
        print(f"dashboard browser test: {check.passed} passed, 0 failed")
        return 0
    except BaseException:
        # The server's log explains most failures; it goes with the data directory otherwise.
        if os.path.exists(os.path.join(data, "server.log")):
            with open(os.path.join(data, "server.log")) as log:
                sys.stderr.write("--- server log (last 40 lines)\n" + "".join(log.readlines()[-40:]))
        raise
    finally:
        if driver is not None:
            driver.quit()
        if process is not None:
            process.terminate()
            try:
                process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                process.kill()
        shutil.rmtree(data, ignore_errors=True)


if __name__ == "__main__":
    try:
        sys.exit(main())
    except AssertionError as failure:
        print(f"not ok - {failure}", file=sys.stderr)
        sys.exit(1)
