from django import forms
from django.conf import settings
from django.template.defaultfilters import filesizeformat


class PreviewForm(forms.Form):
    """A spreadsheet or pasted CSV to preview. Validates only; the view stores it."""

    file = forms.FileField(required=False, label="Spreadsheet (.xlsx or .csv)")
    text = forms.CharField(
        required=False,
        label="Or paste CSV",
        strip=False,
        widget=forms.Textarea(
            attrs={
                "rows": 6,
                "spellcheck": "false",
                "placeholder": "email,first_name,last_name,manager_email\n"
                "ana@example.com,Ana,Silva,\nben@example.com,Ben,Okafor,ana@example.com",
            }
        ),
    )

    def clean(self):
        cleaned = super().clean()
        upload, text = cleaned.get("file"), cleaned.get("text") or ""
        limit = settings.IMPORT_MAX_UPLOAD_BYTES
        if upload and text.strip():
            raise forms.ValidationError("Choose a file or paste CSV, not both.")
        if upload:
            if upload.size > limit:
                raise forms.ValidationError(
                    f"The file is {filesizeformat(upload.size)}; the limit is "
                    f"{filesizeformat(limit)}. Split it or remove unused columns."
                )
            if upload.size == 0:
                raise forms.ValidationError("The file is empty.")
        elif text.strip():
            if len(text.encode()) > limit:
                raise forms.ValidationError(
                    f"The pasted text is larger than {filesizeformat(limit)}. Upload a file instead."
                )
        else:
            raise forms.ValidationError("Drop a spreadsheet, choose one, or paste CSV.")
        return cleaned

    def input(self) -> tuple[bytes, str, str]:
        """Return (data, display name, source) of the validated input."""
        upload = self.cleaned_data.get("file")
        if upload:
            return b"".join(upload.chunks()), _display_name(upload.name), "upload"
        return self.cleaned_data["text"].encode(), "Pasted CSV", "paste"


def _display_name(name: str) -> str:
    # The browser's file name is shown, never used as a path.
    return "".join(ch for ch in name.replace("\\", "/").rsplit("/", 1)[-1] if ch.isprintable())[:200]
