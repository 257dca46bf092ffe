"""Refuse a request that is too large while it arrives, before it is read whole or stored.

PreviewForm checks the size of a file it is given, but Django would first read the whole body
and write it to a temporary file: a 5 GB upload would take minutes and fill the disk before the
form said no. SizeLimitUploadHandler, first in settings.FILE_UPLOAD_HANDLERS, stops reading
instead, and the Import tab shows why (PreviewForm reads `refusal(request)`).

Pasted text is not a file: Django refuses a body whose fields exceed
DATA_UPLOAD_MAX_MEMORY_SIZE on its own, with a 400 that `bad_request` turns into a page that
names the limit.
"""

from django.conf import settings
from django.core.exceptions import RequestDataTooBig
from django.core.files.uploadhandler import FileUploadHandler, StopUpload
from django.shortcuts import render
from django.template.defaultfilters import filesizeformat
from django.views.decorators.csrf import requires_csrf_token

# Room in a multipart body for the form's other fields, the boundaries and the part headers.
# A body larger than the limit plus this cannot hold a file within the limit.
MULTIPART_OVERHEAD = 64 * 1024
_REFUSAL_ATTRIBUTE = "upload_refusal"


def refusal(request) -> str:
    """Return why SizeLimitUploadHandler stopped reading the request's upload, or ""."""
    return getattr(request, _REFUSAL_ATTRIBUTE, "")


class SizeLimitUploadHandler(FileUploadHandler):
    """Stop a multipart upload once it is known to carry more than IMPORT_MAX_UPLOAD_BYTES.

    Known from the request's Content-Length as soon as the file part starts (its fields before
    it, such as the CSRF token, are read by then), or else from the bytes of files received so
    far. The rest of the body is never read, nothing of the file is kept, and
    `refusal(request)` says what the limit is. Requests without a file pass untouched.
    """

    def __init__(self, request=None):
        super().__init__(request)
        self.body_length = 0
        self.received = 0

    def handle_raw_input(self, input_data, META, content_length, boundary, encoding=None):
        # Only noted: the parser goes on as usual, so that the fields before the file (the
        # CSRF token) are read, and the file part is refused as soon as it starts.
        self.body_length = content_length

    def new_file(self, *args, **kwargs):
        super().new_file(*args, **kwargs)
        limit = settings.IMPORT_MAX_UPLOAD_BYTES
        if self.body_length > limit + MULTIPART_OVERHEAD:
            self._refuse(
                f"The file is {filesizeformat(self.body_length)}; the limit is "
                f"{filesizeformat(limit)}. Split it or remove unused columns."
            )

    def receive_data_chunk(self, raw_data, start):
        self.received += len(raw_data)
        limit = settings.IMPORT_MAX_UPLOAD_BYTES
        if self.received > limit:
            self._refuse(
                f"The file is too large; the limit is {filesizeformat(limit)}. Split it or "
                "remove unused columns."
            )
        return raw_data  # The next handler (memory or temporary file) keeps it.

    def file_complete(self, file_size):
        return None  # Not this handler's to store.

    def _refuse(self, message: str):
        if self.request is not None:
            setattr(self.request, _REFUSAL_ATTRIBUTE, message)
        # connection_reset: Django does not read the rest of the body just to discard it.
        raise StopUpload(connection_reset=True)


@requires_csrf_token
def bad_request(request, exception):
    """Show a 400 page; for a body over Django's size limit, say what the limit is.

    Set as handler400 in config/urls.py. Other causes are not described, so that nothing
    about the request is echoed back.
    """
    message = "The request could not be understood. Go back and try again."
    if isinstance(exception, RequestDataTooBig):
        message = (
            f"What you sent is too large: the limit is "
            f"{filesizeformat(settings.IMPORT_MAX_UPLOAD_BYTES)}. Pasted text over the limit can "
            "be saved as an .xlsx file, which is smaller, and uploaded instead."
        )
    return render(request, "400.html", {"message": message}, status=400)
