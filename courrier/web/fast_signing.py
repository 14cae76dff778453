"""The signing POST that succeeds, answered without Django's URL resolver and middleware chain.

During a spike nearly every POST is a good signature, and a fifth of its CPU went to the machinery around
the view: the twelve middleware (most of which do nothing on a public page), the URL resolver, the
handler's own steps. `SigningFastPath` wraps the WSGI application and takes `POST /<language>/c/<slug>/sign/`
itself:

- before anything is counted or written, the same gates Django would apply: a urlencoded body within
  Django's size limit, an allowed Host, no HTTPS redirect due, the public forms' Origin check, a campaign
  that exists; whatever fails one goes to Django, body and all, which answers as it always does;
- then the same signing flow as the view (courrier/signatures/signing.py), the language activated from
  the path as LocaleMiddleware does;
- a signature taken (or a bot's, answered alike) gets the view's redirect, finished by the same response
  code of the same middleware (security headers, CSP, no-store, Content-Language, X-Frame-Options);
- any other outcome (a refused form, a closed campaign, too many signatures) was decided here with its side
  effects (the rate limit counted, say): it is handed to Django's view (OUTCOME_KEY, courrier/web/signing.py),
  which shows it without counting or writing again;
- an exception hands the request to Django from the start, which takes it again and answers as it would
  have (a database that failed here may work there; an error that happens again is reported there).

Its plain twin is Django itself (settings.PLAIN_PATHS naming "handler"); tests/test_fast_signing.py sends
the same requests to both and compares the answers and the rows, and `python -m bench --only shortcuts`
measures what it buys. It steps aside when MIDDLEWARE is not the list it was written against, so a site
that adds one gets Django's chain whole.
"""

import io
import logging
import re
from collections.abc import Callable, Iterable

from django.conf import settings
from django.core import signals
from django.core.exceptions import DisallowedHost, PermissionDenied
from django.core.handlers.wsgi import WSGIRequest, get_script_name
from django.http import HttpRequest, HttpResponse
from django.middleware.clickjacking import XFrameOptionsMiddleware
from django.middleware.common import CommonMiddleware
from django.middleware.locale import LocaleMiddleware
from django.middleware.security import SecurityMiddleware
from django.urls import set_script_prefix
from django.utils import translation

from courrier.campaigns.open_campaigns import signable_campaign
from courrier.http.csp import Nonce, SecurityHeadersMiddleware
from courrier.http.public_forms import is_from_this_site
from courrier.signatures import signing as signing_flow
from courrier.signatures.signing import Result
from courrier.web.signing import OUTCOME_KEY, to_check_inbox

SIGN_PATH = re.compile(r"^/(?P<language>[a-z]{2}(?:-[a-z0-9]+)?)/c/(?P<slug>[-a-zA-Z0-9_]+)/sign/$")
URLENCODED = "application/x-www-form-urlencoded"
log = logging.getLogger(__name__)

# The chain this was written against (courrier/settings.py). On the signing path the back office's four do
# nothing, WhiteNoise serves no file and the CSRF middleware has nothing to do for a view exempt from it
# that never asks for a token; the others are applied below.
WRITTEN_FOR = [
    "courrier.http.csp.SecurityHeadersMiddleware",
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "courrier.backoffice.middleware.OrganiserChangesMiddleware",
    "courrier.backoffice.middleware.BackOfficeSessionMiddleware",
    "django.middleware.locale.LocaleMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "courrier.backoffice.middleware.BackOfficeAuthenticationMiddleware",
    "courrier.backoffice.middleware.BackOfficeMessageMiddleware",
    "courrier.backoffice.middleware.SecondFactorMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
]

WSGIApplication = Callable[[dict, Callable], Iterable[bytes]]


def is_in_use() -> bool:
    return "handler" not in settings.PLAIN_PATHS and list(settings.MIDDLEWARE) == WRITTEN_FOR


def _never_called(request: HttpRequest) -> HttpResponse:
    raise AssertionError("the fast path calls the middleware's own steps, never the rest of the chain")


class SigningFastPath:
    def __init__(self, application: WSGIApplication):
        self.application = application
        self.languages = {code for code, _name in settings.LANGUAGES}
        self.security = SecurityMiddleware(_never_called)
        self.locale = LocaleMiddleware(_never_called)
        self.common = CommonMiddleware(_never_called)
        self.x_frame = XFrameOptionsMiddleware(_never_called)
        self.headers = SecurityHeadersMiddleware(_never_called)

    def __call__(self, environ: dict, start_response: Callable) -> Iterable[bytes]:
        match = SIGN_PATH.match(environ.get("PATH_INFO", ""))
        if match is None or environ.get("REQUEST_METHOD") != "POST" or match["language"] not in self.languages:
            return self.application(environ, start_response)
        body = self.read_body(environ)
        if body is None:
            return self.application(environ, start_response)
        signals.request_started.send(sender=self.__class__, environ=environ)
        response = None
        try:
            response = self.answer(environ, body, match["language"], match["slug"])
        except Exception as error:
            # Django takes the request again from the start (see the module's text).
            log.warning("signing fast path: %s, handed to Django", type(error).__name__)
            environ.pop(OUTCOME_KEY, None)
        finally:
            if response is None:
                signals.request_finished.send(sender=self.__class__)  # Django's answer sends its own
            translation.deactivate()
        if response is None:
            environ["wsgi.input"] = io.BytesIO(body)
            return self.application(environ, start_response)
        status = f"{response.status_code} {response.reason_phrase}"
        start_response(status, list(response.items()))
        return response  # closing it sends request_finished, as Django's handler does

    @staticmethod
    def read_body(environ: dict) -> bytes | None:
        """The body of a urlencoded POST of a known length within Django's limit; None leaves it unread."""
        if environ.get("CONTENT_TYPE", "").split(";", 1)[0].strip().lower() != URLENCODED:
            return None
        try:
            length = int(environ.get("CONTENT_LENGTH") or "")
        except ValueError:
            return None
        limit = settings.DATA_UPLOAD_MAX_MEMORY_SIZE
        if length < 0 or (limit is not None and length > limit):
            return None
        body = environ["wsgi.input"].read(length)
        return body if len(body) == length else None

    def answer(self, environ: dict, body: bytes, language: str, slug: str) -> HttpResponse | None:
        """The response to a signature taken here, or None for Django to answer (with the outcome, if any)."""
        set_script_prefix(get_script_name(environ))
        environ["wsgi.input"] = io.BytesIO(body)
        request = WSGIRequest(environ)
        try:
            # Django's checks before the view, in its order: an HTTPS redirect, then the Host and user agent.
            if self.security.process_request(request) is not None or self.common.process_request(request):
                return None
        except (DisallowedHost, PermissionDenied):
            return None
        if not is_from_this_site(request):
            return None
        campaign = signable_campaign(slug)
        if campaign is None:
            return None
        self.locale.process_request(request)
        if translation.get_language() != language:
            return None
        request.csp_nonce = Nonce()
        outcome = signing_flow.sign(request, campaign)
        if outcome.result is not Result.SIGNED:
            environ[OUTCOME_KEY] = outcome
            return None
        response = to_check_inbox(slug)
        # The response steps of the chain, from its end to its start.
        response = self.x_frame.process_response(request, response)
        response = self.common.process_response(request, response)
        response = self.locale.process_response(request, response)
        response = self.security.process_response(request, response)
        return self.headers.finish(request, response)


def with_fast_signing(application: WSGIApplication) -> WSGIApplication:
    """The site's WSGI application, with the fast path in front when it applies (see is_in_use)."""
    return SigningFastPath(application) if is_in_use() else application
