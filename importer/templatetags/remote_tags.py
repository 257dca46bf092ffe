from urllib.parse import urlsplit

from django import template

register = template.Library()


@register.filter
def url_host(url: str) -> str:
    """Return the host name of a URL: enough to recognise a server, without its path or query."""
    try:
        return urlsplit(url).hostname or ""
    except ValueError:
        return ""
