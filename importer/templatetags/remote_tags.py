from django import template

from importer.remote.http import host_of

register = template.Library()


@register.filter
def url_host(url: str) -> str:
    """Return the host name of a URL: enough to recognise a server, without its path or query."""
    return host_of(url, default="")
