"""Error reports that carry no supporter's data.

Django's reports (the technical 500 page with DEBUG, the mail to ADMINS, any
handler using its ExceptionReporter) show the request: POST values, cookies,
the query string, the URL, headers such as the Referer and the client's
address, and every local variable of every frame. On this site those are
names, e-mail addresses, personal sentences and link tokens. So the report
keeps the shape of the request (method, redacted path, which fields and
cookies were sent) and the traceback (files, lines, variable names), and
hides every value. It does so whatever DEBUG says.
"""

from django.http import HttpRequest
from django.views.debug import ExceptionReporter, SafeExceptionReporterFilter

from courrier.lib.redact import redact_path, redact_text

HIDDEN = SafeExceptionReporterFilter.cleansed_substitute

# request.META entries shown as they are: what the server and the client's software said, nothing the person typed.
_SHOWN_META = frozenset(
    {
        "REQUEST_METHOD",
        "SERVER_NAME",
        "SERVER_PORT",
        "SERVER_PROTOCOL",
        "SCRIPT_NAME",
        "CONTENT_TYPE",
        "CONTENT_LENGTH",
        "HTTP_HOST",
        "HTTP_ACCEPT",
        "HTTP_ACCEPT_LANGUAGE",
        "HTTP_ACCEPT_ENCODING",
        "wsgi.url_scheme",
    }
)
_REDACTED_META = frozenset({"PATH_INFO", "REQUEST_URI", "RAW_URI"})


class PrivateExceptionReporterFilter(SafeExceptionReporterFilter):
    """Every POST value, cookie, query value and local variable hidden; paths without their tokens."""

    def is_active(self, request: HttpRequest | None) -> bool:
        return True  # with DEBUG too: a developer's screen is no place for a supporter's address either

    def get_post_parameters(self, request: HttpRequest | None) -> dict:
        if request is None:
            return {}
        return {name: HIDDEN for name in request.POST}

    def get_cleansed_multivaluedict(self, request: HttpRequest | None, multivaluedict) -> dict:
        return {name: HIDDEN for name in multivaluedict}

    def get_safe_cookies(self, request: HttpRequest | None) -> dict:
        return {name: HIDDEN for name in getattr(request, "COOKIES", {})}

    def get_safe_request_meta(self, request: HttpRequest | None) -> dict:
        meta = getattr(request, "META", {})
        safe = {}
        for key, value in meta.items():
            if key in _SHOWN_META:
                safe[key] = value
            elif key in _REDACTED_META:
                safe[key] = redact_path(str(value))
            else:
                safe[key] = HIDDEN
        return safe

    def get_traceback_frame_variables(self, request: HttpRequest | None, tb_frame) -> list:
        # Names tell where things went wrong; values (a form, a signature, the request) are the data itself.
        return [(name, HIDDEN) for name in tb_frame.f_locals]


class _RequestOutline:
    """What the report's templates read of the request (method, path, whether GET/FILES/COOKIES had any), redacted."""

    def __init__(self, request: HttpRequest):
        self.path_info = redact_path(request.path_info)
        self.path = redact_path(request.path)
        self.method = request.method
        self.META = {"REQUEST_METHOD": request.META.get("REQUEST_METHOD", "")}
        self.GET = {name: HIDDEN for name in request.GET}
        self.POST = {name: HIDDEN for name in request.POST}
        self.FILES = {name: HIDDEN for name in request.FILES}
        self.COOKIES = {name: HIDDEN for name in request.COOKIES}

    def __str__(self) -> str:
        return f"<{self.method} {self.path}>"


class PrivateExceptionReporter(ExceptionReporter):
    """Django's report, with the request outlined and the URL, the query and the exception's text redacted."""

    def get_traceback_data(self) -> dict:
        data = super().get_traceback_data()
        if self.request is not None:
            outline = _RequestOutline(self.request)
            data["request"] = outline
            data["request_GET_items"] = outline.GET.items()
            data["request_FILES_items"] = outline.FILES.items()
            data["request_insecure_uri"] = redact_path(self._get_raw_insecure_uri())
        for frame in data.get("frames", []):
            if frame.get("exc_cause") is not None:  # an earlier exception's text, shown as "the direct cause"
                frame["exc_cause"] = redact_text(str(frame["exc_cause"]))
        if "exception_value" in data:
            data["exception_value"] = redact_text(data["exception_value"])
        if "exception_notes" in data:
            data["exception_notes"] = redact_text(data["exception_notes"])
        return data
