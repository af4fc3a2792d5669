"""html/pdf and doc/pdf: WeasyPrint with a URL fetcher that reads nothing
but data: URLs and the job's own files (/in, the input; /work, its scratch).

WeasyPrint's command line fetches any file: URL a page names, so a page
could embed /proc/self/mountinfo (host paths, the sandbox's command line)
as a PDF attachment or an image. Everything else is refused with a warning
on stderr; the page still renders without it.
"""
import logging
import os
import sys
from urllib.parse import unquote, urlparse

from weasyprint import HTML, default_url_fetcher

ALLOWED_DIRS = ('/in/', '/work/')


def fetch_only_inputs(url, *args, **kwargs):
    if url.startswith('data:'):
        return default_url_fetcher(url, *args, **kwargs)
    if url.startswith('file:'):
        path = os.path.realpath(unquote(urlparse(url).path))
        if path.startswith(ALLOWED_DIRS):
            return default_url_fetcher(url, *args, **kwargs)
    raise ValueError(f"not fetched: {url[:200]} (only data: URLs and the job's own files)")


# What was refused shows in the job's log, one line each.
handler = logging.StreamHandler(sys.stderr)
handler.setFormatter(logging.Formatter('%(message)s'))
logging.getLogger('weasyprint').addHandler(handler)
logging.getLogger('weasyprint').setLevel(logging.WARNING)

HTML(filename=sys.argv[1], url_fetcher=fetch_only_inputs).write_pdf(sys.stdout.buffer)
