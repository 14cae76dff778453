"""Django's own messages that its Kazakh catalogue does not translate.

Listing them here puts them in the project's catalogues, which take
precedence over Django's (LOCALE_PATHS), so a Kazakh supporter gets every form
error in Kazakh. French and Russian repeat Django's own wording.
"""

from django.utils.translation import gettext_noop, ngettext_lazy

MESSAGES = [
    gettext_noop("Enter a valid email address."),
    gettext_noop("Null characters are not allowed."),
    gettext_noop("Select a valid choice. %(value)s is not one of the available choices."),
    gettext_noop("Enter a valid value."),
]

LENGTH_MESSAGE = ngettext_lazy(
    "Ensure this value has at most %(limit_value)d character (it has %(show_value)d).",
    "Ensure this value has at most %(limit_value)d characters (it has %(show_value)d).",
    "limit_value",
)
