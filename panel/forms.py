from __future__ import annotations

from django import forms
from django.contrib.auth.forms import AuthenticationForm, UsernameField
from django.utils.functional import lazy
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

from hosting.services import MIN_MAILBOX_PASSWORD_LENGTH


def _password_help() -> str:
    # Formatted when shown, in the reader's language: formatting the lazy string when the
    # module loads fixed it in English for everyone.
    return gettext("At least %(n)d characters; do not reuse the old one.") % {
        "n": MIN_MAILBOX_PASSWORD_LENGTH
    }


class MailboxPasswordForm(forms.Form):
    password1 = forms.CharField(
        label=_("New password"),
        widget=forms.PasswordInput(attrs={"autocomplete": "new-password"}),
        min_length=MIN_MAILBOX_PASSWORD_LENGTH,
        help_text=lazy(_password_help, str)(),
    )
    password2 = forms.CharField(
        label=_("New password again"),
        widget=forms.PasswordInput(attrs={"autocomplete": "new-password"}),
    )

    def clean(self):
        data = super().clean()
        if data.get("password1") and data.get("password1") != data.get("password2"):
            raise forms.ValidationError(_("The two passwords differ."))
        return data


class LoginForm(AuthenticationForm):
    """Django's login form, with the username's length checked before anyone stores it:
    the stock form only sets the input's maxlength, and a failed login is recorded (axes)
    in a 255-character column."""

    username = UsernameField(
        max_length=150,
        widget=forms.TextInput(attrs={"autofocus": True, "autocomplete": "username"}),
    )
