"""The consent page (/oauth/consent) in a real headless browser: Debian's chromium, driven by its
chromedriver through Selenium.

Supabase Auth does not run here, so its two consent endpoints are played by a tiny server of
this test's, which answers them as Supabase Auth's OAuth server documents them (the user's
bearer token required and checked, the Origin checked against the site, `redirect_url`
answered) and forwards everything else to the stack's gateway: the grant the page records goes
through the real gateway, PostgREST and RLS, with the user's own token. What this does not
exercise, for want of Supabase Auth: its /oauth/authorize redirect (PKCE, the client's
registered redirect URIs), its binding of an authorization to the first user who reads it, its
auto-approval of a client already consented to (the page's handling of that answer is tested,
not Supabase's decision), the code exchange and the token it then issues (the stack mints that
token's shape instead), and the page's own sign-in (password grant) and token refresh.
"""

import json
import socket
import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import httpx
import jwt
import psycopg
import pytest
import uvicorn
from selenium import webdriver
from selenium.common.exceptions import TimeoutException
from selenium.webdriver import Chrome
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import WebDriverWait
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, Response
from starlette.routing import Route

from api.main import create_app
from local_stack.stack import LocalStack, User
from tests.api.conftest import edge_settings
from tests.support import make_user, rest_client

CHROMIUM = "/usr/bin/chromium"
CHROMEDRIVER = "/usr/bin/chromedriver"
WAIT_SECONDS = 30


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class Authorization:
    """One pending authorization request, as Supabase Auth holds it."""

    client_id: str
    client_name: str
    redirect_uri: str
    scope: str = "openid email"
    already_consented: bool = False


@dataclass
class FakeAuth:
    """Supabase Auth's consent endpoints, and a pass-through to the stack for the rest."""

    stack: LocalStack
    url: str = ""  # where this server listens: the project's URL, as the page knows it
    site_origin: str = ""
    authorizations: dict[str, Authorization] = field(default_factory=dict)
    decisions: list[dict[str, Any]] = field(default_factory=list)

    def app(self) -> Starlette:
        return Starlette(
            routes=[
                Route(
                    "/auth/v1/oauth/authorizations/{authorization_id}",
                    self.details,
                    methods=["GET", "OPTIONS"],
                ),
                Route(
                    "/auth/v1/oauth/authorizations/{authorization_id}/consent",
                    self.consent,
                    methods=["POST", "OPTIONS"],
                ),
                Route("/callback", self.callback, methods=["GET"]),
                Route(
                    "/{path:path}",
                    self.forward,
                    methods=["GET", "HEAD", "POST", "PATCH", "PUT", "DELETE", "OPTIONS"],
                ),
            ]
        )

    @staticmethod
    def _cors(request: Request) -> dict[str, str]:
        return {
            "Access-Control-Allow-Origin": "*",
            "Access-Control-Allow-Methods": "GET, POST, OPTIONS",
            "Access-Control-Allow-Headers": request.headers.get(
                "access-control-request-headers", "*"
            ),
        }

    def _user(self, request: Request) -> dict[str, Any] | None:
        """requireAuthentication: a valid access token of the project's users."""
        header = request.headers.get("authorization", "")
        if not header.startswith("Bearer "):
            return None
        try:
            claims: dict[str, Any] = jwt.decode(
                header.removeprefix("Bearer "),
                self.stack.secrets.jwt_secret,
                algorithms=["HS256"],
                audience="authenticated",
            )
        except jwt.PyJWTError:
            return None
        return claims

    def _checked(self, request: Request) -> Response | tuple[dict[str, Any], Authorization]:
        """What Supabase Auth checks before either endpoint answers: the user's token, the
        request's Origin (the site's, or none), the authorization. A preflight passes."""
        if request.method == "OPTIONS":
            return Response(status_code=204, headers=self._cors(request))
        claims = self._user(request)
        if claims is None:
            return JSONResponse({"msg": "invalid JWT"}, 401, headers=self._cors(request))
        origin = request.headers.get("origin")
        if origin not in (None, self.site_origin):
            return JSONResponse(
                {"msg": "unauthorized request origin"}, 403, headers=self._cors(request)
            )
        pending = self.authorizations.get(request.path_params["authorization_id"])
        if pending is None:
            return JSONResponse(
                {"msg": "authorization not found"}, 404, headers=self._cors(request)
            )
        return claims, pending

    async def details(self, request: Request) -> Response:
        checked = self._checked(request)
        if isinstance(checked, Response):
            return checked
        claims, pending = checked
        if pending.already_consented:
            return JSONResponse(
                {"redirect_url": f"{pending.redirect_uri}?code=auto-approved"},
                headers=self._cors(request),
            )
        return JSONResponse(
            {
                "authorization_id": request.path_params["authorization_id"],
                "redirect_uri": pending.redirect_uri,
                "client": {
                    "id": pending.client_id,
                    "name": pending.client_name,
                    "uri": "https://agent.example.com",
                    "logo_uri": "",
                },
                "user": {"id": claims["sub"], "email": claims.get("email")},
                "scope": pending.scope,
            },
            headers=self._cors(request),
        )

    async def consent(self, request: Request) -> Response:
        checked = self._checked(request)
        if isinstance(checked, Response):
            return checked
        claims, pending = checked
        action = (await request.json()).get("action")
        self.decisions.append(
            {"action": action, "user": claims["sub"], "origin": request.headers.get("origin")}
        )
        if action == "approve":
            target = f"{pending.redirect_uri}?code={uuid.uuid4().hex}&state=s"
        elif action == "deny":
            target = (
                f"{pending.redirect_uri}?error=access_denied"
                "&error_description=User+denied+the+request&state=s"
            )
        else:
            return JSONResponse({"msg": "invalid action"}, 400, headers=self._cors(request))
        return JSONResponse({"redirect_url": target}, headers=self._cors(request))

    async def callback(self, request: Request) -> Response:
        return HTMLResponse("<!doctype html><title>agent</title><p id='back'>back at the agent")

    async def forward(self, request: Request) -> Response:
        """The real Supabase for everything else: the stack's gateway (CORS headers included)."""
        async with httpx.AsyncClient(base_url=self.stack.settings.api_url, timeout=30) as client:
            upstream = await client.request(
                request.method,
                "/" + request.path_params["path"],
                params=list(request.query_params.multi_items()),
                headers={
                    k: v for k, v in request.headers.items() if k.lower() not in ("host", "origin")
                },
                content=await request.body(),
            )
        headers = {
            k: v
            for k, v in upstream.headers.items()
            if k.lower() not in ("content-length", "content-encoding", "transfer-encoding")
        }
        return Response(upstream.content, upstream.status_code, headers=headers)


@dataclass
class Served:
    url: str
    server: uvicorn.Server
    thread: threading.Thread


def serve(app: Any) -> Served:
    port = free_port()
    server = uvicorn.Server(
        uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", lifespan="on")
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 60
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            raise RuntimeError("the test server did not start")
        time.sleep(0.05)
    return Served(f"http://127.0.0.1:{port}", server, thread)


def stop(served: Served) -> None:
    served.server.should_exit = True
    served.thread.join(timeout=30)


@pytest.fixture(scope="module")
def fake_auth(stack: LocalStack) -> Iterator[tuple[FakeAuth, str]]:
    auth = FakeAuth(stack)
    served = serve(auth.app())
    auth.url = served.url
    yield auth, served.url
    stop(served)


@pytest.fixture(scope="module")
def site(stack: LocalStack, fake_auth: tuple[FakeAuth, str]) -> Iterator[str]:
    """The API, serving the page, with the project's URL pointing at the fake Supabase Auth (and
    through it, the stack)."""
    auth, supabase_url = fake_auth
    served = serve(create_app(edge_settings(stack, supabase_url=supabase_url)))
    auth.site_origin = served.url
    yield served.url
    stop(served)


@pytest.fixture(scope="module")
def browser() -> Iterator[Chrome]:
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for argument in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu"):
        options.add_argument(argument)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    driver = webdriver.Chrome(options=options, service=Service(executable_path=CHROMEDRIVER))
    yield driver
    driver.quit()


@pytest.fixture
def person(stack: LocalStack) -> Iterator[User]:
    user = make_user(stack, "consent")
    yield user
    stack.delete_user(user)


def signed_in(browser: Chrome, site: str, supabase_url: str, stack: LocalStack, user: User) -> None:
    """The user signed in to the app on this site: supabase-js's session in localStorage."""
    browser.get(f"{site}/oauth/consent")
    key = f"sb-{httpx.URL(supabase_url).host.split('.')[0]}-auth-token"
    session = {
        "access_token": stack.access_token(user),
        "token_type": "bearer",
        "expires_in": 3600,
        "expires_at": int(time.time()) + 3600,
        "refresh_token": "",
        "user": {"id": user.id, "email": user.email},
    }
    browser.execute_script(
        "window.localStorage.setItem(arguments[0], arguments[1])", key, json.dumps(session)
    )


def wait_for(browser: Chrome, condition: Any) -> Any:
    """Until `condition` holds; if it never does, what the page said and logged."""
    try:
        return WebDriverWait(browser, WAIT_SECONDS).until(condition)
    except TimeoutException:
        status = browser.find_elements(By.ID, "status")
        said = status[0].text if status else "(no status element)"
        console = browser.get_log("browser")  # type: ignore[no-untyped-call]  # selenium's own
        logged = [entry["message"] for entry in console]
        raise AssertionError(
            f"at {browser.current_url}: the page says {said!r}; its console: {logged}"
        ) from None


def pending(auth: FakeAuth, name: str, **extra: Any) -> tuple[str, str]:
    """A new authorization request of a new client; its id and the client's id."""
    authorization_id, client_id = uuid.uuid4().hex, str(uuid.uuid4())
    callback = f"{auth.url}/callback"
    auth.authorizations[authorization_id] = Authorization(client_id, name, callback, **extra)
    return authorization_id, client_id


def grant_of(db: psycopg.Connection, user: User, client_id: str) -> tuple[Any, ...] | None:
    return db.execute(
        "select access, client_name from public.agent_grants where user_id = %s and client_id = %s",
        (user.id, client_id),
    ).fetchone()


@dataclass
class ConsentPage:
    """The page in the browser, its user signed in to the app on the site."""

    browser: Chrome
    site: str
    auth: FakeAuth

    def ask(self, name: str, **extra: Any) -> str:
        """A new agent asks for access; the browser lands on the page. The agent's client id."""
        authorization_id, client_id = pending(self.auth, name, **extra)
        self.browser.get(f"{self.site}/oauth/consent?authorization_id={authorization_id}")
        return client_id

    def shown(self) -> None:
        wait_for(self.browser, lambda b: b.find_element(By.ID, "consent").is_displayed())

    def answer(self, decision: str, *, access: str | None = None) -> None:
        """Choose `access` (or keep the default), press Allow or Deny, wait for the redirect."""
        self.shown()
        if access is not None:
            self.browser.find_element(
                By.CSS_SELECTOR, f"input[name=access][value={access}]"
            ).click()
        self.browser.find_element(By.CSS_SELECTOR, f"button[value={decision}]").click()
        back = "/callback?code=" if decision == "approve" else "error=access_denied"
        wait_for(self.browser, lambda b: back in b.current_url)


@pytest.fixture
def page(
    browser: Chrome, site: str, fake_auth: tuple[FakeAuth, str], stack: LocalStack, person: User
) -> ConsentPage:
    auth, supabase_url = fake_auth
    signed_in(browser, site, supabase_url, stack, person)
    return ConsentPage(browser, site, auth)


def test_the_user_lets_an_agent_write_and_the_agent_then_can(
    page: ConsentPage, stack: LocalStack, person: User, db: psycopg.Connection
) -> None:
    client_id = page.ask("Claude (test)")
    page.shown()
    assert page.browser.find_element(By.ID, "client-name").text == "Claude (test)"
    assert page.browser.find_element(By.ID, "user-email").text == person.email
    assert page.browser.find_element(By.ID, "scopes").text == "openid email"
    assert grant_of(db, person, client_id) is None

    page.answer("approve", access="write")
    assert grant_of(db, person, client_id) == ("write", "Claude (test)")
    assert page.auth.decisions[-1] == {"action": "approve", "user": person.id, "origin": page.site}
    # The agent's token, as Supabase Auth would now issue it, acts on that grant.
    agent = stack.access_token(person, client_id=client_id)
    with rest_client(stack, agent) as http:
        added = http.post(
            "/documents",
            json={"title": "by the agent", "content": "let in through the consent page"},
        )
    assert added.status_code == 201, added.text


def test_read_is_the_default_and_deny_records_nothing(
    page: ConsentPage, person: User, db: psycopg.Connection
) -> None:
    reader = page.ask("Reader")
    page.answer("approve")
    assert grant_of(db, person, reader) == ("read", "Reader")
    denied = page.ask("Unwanted")
    page.answer("deny")
    assert grant_of(db, person, denied) is None
    assert page.auth.decisions[-1]["action"] == "deny"


def test_an_approval_that_stands_goes_straight_back(
    page: ConsentPage, person: User, db: psycopg.Connection
) -> None:
    """Supabase Auth answers the details request with redirect_url when the user consented to
    this client before: the page follows it and asks nothing."""
    client_id = page.ask("Known", already_consented=True)
    wait_for(page.browser, lambda b: "/callback?code=auto-approved" in b.current_url)
    assert grant_of(db, person, client_id) is None


def test_without_a_session_the_page_asks_to_sign_in_and_without_a_request_says_so(
    browser: Chrome, site: str, fake_auth: tuple[FakeAuth, str]
) -> None:
    auth, _ = fake_auth
    authorization_id, _ = pending(auth, "Anyone")
    browser.get(f"{site}/oauth/consent")
    browser.execute_script("window.localStorage.clear()")
    browser.get(f"{site}/oauth/consent?authorization_id={authorization_id}")
    wait_for(browser, lambda b: b.find_element(By.ID, "sign-in").is_displayed())
    assert not browser.find_element(By.ID, "consent").is_displayed()
    browser.get(f"{site}/oauth/consent")
    wait_for(browser, lambda b: "authorization_id" in b.find_element(By.ID, "status").text)


def test_the_page_may_not_be_framed_or_cached_and_talks_only_to_supabase(
    site: str, fake_auth: tuple[FakeAuth, str]
) -> None:
    _, supabase_url = fake_auth
    response = httpx.get(f"{site}/oauth/consent", params={"authorization_id": "x"})
    assert response.status_code == 200
    assert response.headers["x-frame-options"] == "DENY"
    assert response.headers["cache-control"] == "no-store"
    policy = response.headers["content-security-policy"]
    assert "frame-ancestors 'none'" in policy and f"connect-src {supabase_url}" in policy
    assert f'<meta name="supabase-url" content="{supabase_url}">' in response.text
