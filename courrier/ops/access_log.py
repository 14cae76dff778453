"""gunicorn's logger, without what would let a log reader find or act for a supporter.

The access log keeps the time, method, path, status, size and duration of a
request. It drops the client's IP address, the query string, the Referer,
the User-Agent and every header, and replaces the token of a confirmation,
unsubscribe or my-data link with a placeholder (courrier/lib/redact.py).
gunicorn's error log goes through the same redaction, since it names the URL
of a request that failed.

gunicorn.conf.py (at the root of the project, which gunicorn reads from its
working directory) installs it. It imports no Django: gunicorn's master loads
it before the site.
"""

from gunicorn.glogging import Logger

from courrier.lib.redact import redact_path, redact_text

# Apache's common format, minus the client: time, request line, status, bytes, duration in milliseconds.
ACCESS_LOG_FORMAT = '%(t)s "%(r)s" %(s)s %(b)s %(M)sms'


class PrivateLogger(Logger):
    def atoms(self, resp, req, environ, request_time) -> dict:
        full = super().atoms(resp, req, environ, request_time)
        path = redact_path(environ.get("PATH_INFO", ""))
        # Only these atoms exist: any other one in a custom format (an IP, a header, the query) prints "-".
        return {
            "t": full["t"],
            "r": f"{full['m']} {path} {full['H']}",
            "m": full["m"],
            "U": path,
            "H": full["H"],
            "s": full["s"],
            "b": full["b"],
            "B": full["B"],
            "T": full["T"],
            "D": full["D"],
            "M": full["M"],
            "L": full["L"],
            "p": full["p"],
        }

    def log(self, lvl, msg, *args, **kwargs) -> None:
        super().log(lvl, _redacted(msg, args), **kwargs)

    def critical(self, msg, *args, **kwargs) -> None:
        super().critical(_redacted(msg, args), **kwargs)

    def error(self, msg, *args, **kwargs) -> None:
        super().error(_redacted(msg, args), **kwargs)

    def warning(self, msg, *args, **kwargs) -> None:
        super().warning(_redacted(msg, args), **kwargs)

    def info(self, msg, *args, **kwargs) -> None:
        super().info(_redacted(msg, args), **kwargs)

    def debug(self, msg, *args, **kwargs) -> None:
        super().debug(_redacted(msg, args), **kwargs)

    def exception(self, msg, *args, **kwargs) -> None:
        super().exception(_redacted(msg, args), **kwargs)


def _redacted(msg, args: tuple) -> str:
    """The message with its arguments in, redacted (passed on without arguments, so never formatted again)."""
    try:
        text = str(msg) % args if args else str(msg)
    except (TypeError, ValueError):
        text = " ".join([str(msg), *map(str, args)])
    return redact_text(text)
