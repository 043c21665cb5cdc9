"""Bank account numbers at rest: Fernet encryption, a keyed hash for look-up, masking."""

import base64
import hashlib
import hmac
import re
from functools import cache

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.db import models


@cache
def _fernet() -> MultiFernet:
    keys = list(settings.FIELD_ENCRYPTION_KEYS)
    if not keys:
        if settings.PRODUCTION:
            raise ImproperlyConfigured("FIELD_ENCRYPTION_KEYS is not set")
        # Development and test: a key derived from the (non-production) secret key.
        keys = [base64.urlsafe_b64encode(hashlib.sha256(settings.SECRET_KEY.encode()).digest())]
    return MultiFernet([Fernet(k) for k in keys])


def _lookup_key() -> bytes:
    key = settings.LOOKUP_HASH_KEY or f"lookup:{settings.SECRET_KEY}"
    return key.encode()


def normalize_account(value: str) -> str:
    """Account numbers compare without spaces, dashes or case: 'gb29 nwbk-6016' == 'GB29NWBK6016'."""
    return re.sub(r"[\s\-./]", "", value or "").upper()


def account_lookup_hash(value: str) -> str:
    """HMAC-SHA256 of the normalized account: equal accounts share it, the number stays secret."""
    normalized = normalize_account(value)
    if not normalized:
        return ""
    return hmac.new(_lookup_key(), normalized.encode(), hashlib.sha256).hexdigest()


def masked(last4: str) -> str:
    """How an account number is shown: its last four digits only."""
    return f"•••• {last4}" if last4 else ""


def encrypt(value: str) -> str:
    return _fernet().encrypt(value.encode()).decode()


def decrypt(token: str) -> str:
    try:
        return _fernet().decrypt(token.encode()).decode()
    except InvalidToken:
        raise ImproperlyConfigured(
            "An encrypted value cannot be read with FIELD_ENCRYPTION_KEYS: a key is missing"
        ) from None


class EncryptedTextField(models.TextField):
    """A text column stored as a Fernet token; reads give the plain text back."""

    def from_db_value(self, value, expression, connection):
        if value in (None, ""):
            return value
        return decrypt(value)

    def get_prep_value(self, value):
        value = super().get_prep_value(value)
        if value in (None, ""):
            return value
        return encrypt(value)
