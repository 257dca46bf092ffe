"""The login form: Django's, with a message that says what is and is not case-sensitive."""

from django.contrib.auth.forms import AuthenticationForm


class LoginForm(AuthenticationForm):
    # Login looks the email up whatever its case (users.managers.normalise_email); Django's
    # default message says both fields "may be case-sensitive", which sends people hunting.
    error_messages = {
        **AuthenticationForm.error_messages,
        "invalid_login": (
            "This email and password do not match an account. Check the password: it is "
            "case-sensitive (the email is not)."
        ),
    }
