from django.conf import settings
from django.http import HttpRequest
from django.urls import translate_url
from django.utils.translation import get_language


def site(request: HttpRequest) -> dict:
    """Site name and the same page in each language, for the switcher and hreflang links."""
    current = get_language()
    languages = [
        {
            "code": code,
            "name": name,
            "url": translate_url(request.get_full_path(), code),
            "absolute_url": settings.SITE_ROOT + translate_url(request.path, code),
            "current": code == current,
        }
        for code, name in settings.LANGUAGES
    ]
    return {"site_name": settings.SITE_NAME, "languages": languages}
